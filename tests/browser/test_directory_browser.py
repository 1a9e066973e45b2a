"""Who knows what in real Chromium: search, open a profile, click a node, move the timeline."""

from __future__ import annotations

import re

import pytest

from integration.directory_given import a_peer, a_talk_held, an_organizer

pytestmark = pytest.mark.browser


@pytest.fixture
def org(live_server, clock):
    services = live_server.app.extensions["commonroom"]
    an_organizer(services)
    ann = a_peer(services, "Ann Archer", "Engineering", offers=["Kubernetes"])
    bob = a_peer(services, "Bob Baker", "Operations", offers=["k8s"], wants=["Rust"])
    a_peer(services, "Cat Cole", "Operations", wants=["Rust"])
    a_talk_held(services, clock, ann, ["Kubernetes"], attendees=[bob], ratings=[5], days_ago=10)
    return dict(ann=ann, bob=bob)


def test_search_then_open_a_profile_from_the_ranking(live_server, page, org):
    # given the directory
    page.goto(f"{live_server}/directory")
    # when someone searches for "kube"
    page.fill("#q", "kube")
    page.get_by_role("button", name="Search").click()
    # then Ann ranks first, and the reasons can be unfolded
    first = page.locator("li.ranked-person").first
    assert first.locator("a.person").inner_text() == "Ann Archer"
    first.locator("summary", has_text="Why").click()
    assert "1 attended, mean rating 5.0" in first.locator("ul.evidence").inner_text()
    # and following her name opens her profile
    first.locator("a.person").click()
    page.wait_for_url(re.compile(rf"/people/{org['ann']}"))
    assert page.locator("h1").inner_text() == "Ann Archer"
    assert "All about Kubernetes" in page.locator("#talks-given").inner_text()


def test_clicking_a_node_in_the_drawing_opens_that_profile(live_server, page, org):
    page.set_viewport_size({"width": 1280, "height": 1400})  # the drawing in view without scrolling
    page.goto(f"{live_server}/graph")
    page.wait_for_selector("#graph-canvas[data-ready]")
    assert page.get_attribute("#graph-canvas", "data-ready") == "4"
    x, y = page.evaluate("""() => {
        const canvas = document.getElementById('graph-canvas');
        const node = canvas.cytoscape.nodes().filter(n => n.data('label') === 'Bob Baker')[0];
        const box = canvas.getBoundingClientRect(), at = node.renderedPosition();
        return [box.left + at.x, box.top + at.y];
    }""")
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(rf"/people/{org['bob']}"))
    assert page.locator("h1").inner_text() == "Bob Baker"


def test_moving_the_timeline_back_shows_the_community_before_it_existed(live_server, page, org):
    # given the graph today, with Ann teaching Bob
    page.goto(f"{live_server}/graph")
    assert "Ann Archer taught Bob Baker" in page.locator("#edges").inner_text()
    # when the timeline slider is moved to its first month
    page.focus("#step")
    page.keyboard.press("Home")
    # then the page shows that month: nobody had learned anything yet
    page.wait_for_url(re.compile(r"step=0"))
    assert "As of the end of" in page.locator("#as-of-note").inner_text()
    assert "No learning recorded by then" in page.locator("#summary").inner_text()
    page.wait_for_selector("#graph-canvas[data-ready]")
    assert page.get_attribute("#graph-canvas", "data-ready") == "0"
    # and moving it to the end comes back to this month
    page.focus("#step")
    page.keyboard.press("End")
    page.wait_for_function("() => !location.search.includes('step=0')")
    assert "Ann Archer taught Bob Baker" in page.locator("#edges").inner_text()


def test_a_graph_of_more_people_than_the_drawing_holds_draws_those_with_links_and_says_so(
        live_server, page, org, monkeypatch):
    # given a drawing that holds two people, and four on record of whom two have a link
    from commonroom.platform.web import directory as pages

    monkeypatch.setattr(pages, "GRAPH_DRAWN_NODES", 2)
    # when the graph page is drawn
    page.goto(f"{live_server}/graph")
    page.wait_for_selector("#graph-canvas[data-ready]")
    # then Ann and Bob are drawn, and the page says what was left out (the lists keep everyone)
    assert page.get_attribute("#graph-canvas", "data-ready") == "2"
    drawn = page.evaluate("() => document.getElementById('graph-canvas').cytoscape.nodes().map(n => n.data('label'))")
    assert sorted(drawn) == ["Ann Archer", "Bob Baker"]
    assert page.locator("#graph-drawn").inner_text() == (
        "Drawn: the 1 strongest of 1 links and the 2 people on them, of 4.")
    assert "Cat Cole" in page.locator("#isolated").inner_text()
