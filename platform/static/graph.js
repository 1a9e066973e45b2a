// The graph page's drawing (cytoscape) and a timeline slider that moves on its own.
// Everything here is an enhancement: without JavaScript the page lists the same data and the
// timeline and filters are plain forms and links.
(function () {
  "use strict";

  var timeline = document.getElementById("timeline");
  var slider = document.getElementById("step");
  if (timeline && slider) {
    var months = (slider.dataset.months || "").split(",").filter(Boolean);
    var label = document.getElementById("step-label");
    slider.addEventListener("input", function () {
      var month = months[Number(slider.value)];
      if (label && month) { label.textContent = month.slice(0, 7); }
    });
    slider.addEventListener("change", function () { timeline.requestSubmit(); });
  }
  var filters = document.getElementById("graph-filters");
  if (filters) {
    filters.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { filters.requestSubmit(); });
    });
  }

  var canvas = document.getElementById("graph-canvas");
  if (!canvas || typeof cytoscape === "undefined") { return; }
  var palette = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626", "#4b5563"];
  var colours = {};
  function colour(department) {
    if (!(department in colours)) { colours[department] = palette[Object.keys(colours).length % palette.length]; }
    return colours[department];
  }

  fetch(canvas.dataset.src, { headers: { "Accept": "application/json" } })
    .then(function (response) { return response.json(); })
    .then(function (data) {
      // Of a large graph the page asks for the heaviest links and the people on them only
      // (?strongest=N); "people" and "links" count the whole graph: say what was left out (the
      // lists below and the full JSON have everything).
      var people = data.people, links = data.links;
      if (data.nodes.length < people || data.edges.length < links) {
        var note = document.createElement("p");
        note.id = "graph-drawn";
        note.className = "muted";
        note.textContent = "Drawn: the " + data.edges.length + " strongest of " + links + " links and the " +
          data.nodes.length + " people on them, of " + people + ".";
        canvas.parentNode.insertBefore(note, canvas.nextSibling);
      }
      var elements = data.nodes.map(function (n) {
        return { data: { id: n.id, label: n.name, department: n.department, url: n.url, colour: colour(n.department) } };
      }).concat(data.edges.map(function (e, i) {
        return { data: { id: "e" + i, source: e.source, target: e.target, weight: e.weight, label: e.topics.join(", ") } };
      }));
      var cy = cytoscape({
        container: canvas,
        elements: elements,
        layout: { name: "preset" },
        style: [
          { selector: "node", style: { "label": "data(label)", "background-color": "data(colour)", "font-size": 10,
                                       "width": 18, "height": 18 } },
          { selector: "edge", style: { "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#94a3b8",
                                       "target-arrow-color": "#94a3b8", "width": "mapData(weight, 0, 5, 1, 6)",
                                       "label": "data(label)", "font-size": 7, "color": "#64748b" } }
        ]
      });
      cy.on("tap", "node", function (event) { window.location.href = event.target.data("url"); });
      canvas.cytoscape = cy;  // for the browser tests
      var ready = function () { canvas.dataset.ready = String(data.nodes.length); };
      if (!data.nodes.length) { ready(); return; }
      var layout = cy.layout({ name: "cose", animate: false, randomize: false });
      layout.one("layoutstop", function () { cy.fit(undefined, 30); ready(); });
      layout.run();
    });
})();
