"""Who-knows-what pages through the Flask client: search, profiles, endorsing, the graph, history."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from commonroom.domain.peer import Peer

from integration.directory_given import a_peer, a_talk_held, an_organizer


@pytest.fixture
def org(app, clock):
    """A small organisation: Ann (Eng) spoke on Kubernetes to Bob (Ops); Cat and Bob want Rust."""
    services = app.extensions["commonroom"]
    organizer = an_organizer(services)
    ann = a_peer(services, "Ann Archer", "Engineering", offers=["Kubernetes"])
    bob = a_peer(services, "Bob Baker", "Operations", offers=["k8s"], wants=["Rust"])
    cat = a_peer(services, "Cat <script>x</script>", "Operations", wants=["Rust"])
    talk = a_talk_held(services, clock, ann, ["Kubernetes"], attendees=[bob], ratings=[5], days_ago=20)
    services.settle()
    return dict(services=services, organizer=organizer, ann=ann, bob=bob, cat=cat, talk=talk)


def login_as(auth, app, peer_id):
    """Give an existing peer a password through the service, then sign in."""
    services = app.extensions["commonroom"]
    services.settle(services.people.change_password(peer_id, "correct horse", by=peer_id))
    auth.login(services.people.get(peer_id, Peer).email, "correct horse")


def test_search_ranks_the_speaker_first_and_explains_why(client, org):
    page = client.get("/directory?q=kube").get_data(as_text=True)
    assert page.index("Ann Archer") < page.index("Bob Baker")
    assert "gave \u201cAll about Kubernetes\u201d (1 attended, mean rating 5.0)" in page
    assert "offered on profile" in page


def test_search_finds_a_misspelt_skill_and_shows_who_wants_it(client, org):
    # when someone searches for "Rsut" among people who want to learn
    page = client.get("/directory?q=Rsut&mode=wants").get_data(as_text=True)
    # then the fuzzy match finds Rust, its learners, and the demand shows as a talk idea
    assert "<h2>Rust</h2>" in page
    assert "Bob Baker" in page and "Cat &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page
    ideas = page[page.index('id="talk-ideas"'):]
    assert "Rust" in ideas[:400]


def test_department_filter_keeps_only_that_department(client, org):
    page = client.get("/directory?q=kubernetes&department=Operations").get_data(as_text=True)
    ranking = page[page.index('class="ranking"'):page.index("Wants to learn")]
    assert "Bob Baker" in ranking and "Ann Archer" not in ranking


def test_a_bad_as_of_date_is_a_422_naming_the_field(client, org):
    response = client.get("/directory?as_of=yesterday")
    assert response.status_code == 422
    assert "as_of must be a date" in response.get_data(as_text=True)


def test_profile_shows_offers_wants_talks_and_evidence(client, org):
    page = client.get(f"/people/{org['bob']}").get_data(as_text=True)
    assert "k8s" in page and "Rust" in page
    assert "All about Kubernetes" in page[page.index('id="talks-attended"'):]


def test_unknown_person_is_a_404(client, org):
    assert client.get("/people/not-a-uuid").status_code == 404
    assert client.get(f"/people/{org['organizer'].hex[:8]}-0000-0000-0000-000000000000").status_code == 404


def test_an_attendee_endorses_the_speaker_and_it_counts(client, auth, app, org):
    # given Bob, who attended Ann's talk, is signed in
    login_as(auth, app, org["bob"])
    page = client.get(f"/people/{org['ann']}").get_data(as_text=True)
    assert 'id="endorse"' in page
    # when he endorses her for Kubernetes
    response = auth.post(f"/people/{org['ann']}/endorse", {"skill": "Kubernetes", "sentence": "Made it click"})
    assert response.status_code == 303
    # then her profile shows it and the directory counts it as evidence
    page = client.get(f"/people/{org['ann']}").get_data(as_text=True)
    assert "Made it click" in page[page.index('id="endorsements-received"'):]
    assert "endorsement" in client.get("/directory?q=kubernetes").get_data(as_text=True)


def test_someone_who_never_learned_from_them_cannot_endorse(client, auth, app, org):
    login_as(auth, app, org["cat"])
    assert 'id="endorse"' not in client.get(f"/people/{org['ann']}").get_data(as_text=True)
    response = auth.post(f"/people/{org['ann']}/endorse", {"skill": "Kubernetes"})
    assert response.status_code == 403


def test_an_empty_endorsement_skill_is_refused_naming_the_field(client, auth, app, org):
    login_as(auth, app, org["bob"])
    response = auth.post(f"/people/{org['ann']}/endorse", {"skill": "  "})
    assert response.status_code == 422
    assert 'id="e-skill"' in response.get_data(as_text=True)


def test_organizer_merges_an_alias_from_the_directory(client, auth, app, org):
    # given k8s and Kubernetes start out as separate skills... except Bob's k8s offer is apart
    login_as(auth, app, org["organizer"])
    before = client.get("/directory?q=kubernetes").get_data(as_text=True)
    assert "k8s" not in before[before.index('id="results"'):before.index('id="talk-ideas"')]
    # when the organizer merges k8s into Kubernetes
    response = auth.post("/directory/aliases", {"alias": "k8s", "into": "Kubernetes"})
    assert response.status_code == 303
    # then Bob's offer counts under Kubernetes
    after = client.get("/directory?q=kubernetes").get_data(as_text=True)
    ranking = after[after.index('class="ranking"'):]
    assert "Bob Baker" in ranking and "offered on profile" in ranking


def test_a_non_organizer_cannot_merge_aliases(client, auth, app, org):
    login_as(auth, app, org["bob"])
    assert auth.post("/directory/aliases", {"alias": "k8s", "into": "Kubernetes"}).status_code == 403


def test_graph_page_lists_the_learning_without_javascript(client, org):
    page = client.get("/graph").get_data(as_text=True)
    edges = page[page.index('id="edges"'):]
    assert "Ann Archer</a> taught" in edges and "Bob Baker" in edges and "Kubernetes" in edges
    assert 'id="babel"' in page and "100%" in page
    assert "Olive Organizer" in page[page.index('id="isolated"'):]


def test_graph_page_shows_the_strongest_links_and_the_first_people_with_counts_of_the_rest(
        client, org, clock, monkeypatch):
    # given Ann also taught Cat, and Dan (Audit) has learned nothing yet, beside Olive (Operations)
    from commonroom.platform.web import directory as pages

    services = org["services"]
    a_talk_held(services, clock, org["ann"], ["Rust"], attendees=[org["cat"]], ratings=[4], days_ago=5)
    a_peer(services, "Dan Dole", "Audit")
    services.settle()
    # and a page that shows one link, two members of a community and one person not yet connected
    monkeypatch.setattr(pages, "GRAPH_LINKS_SHOWN", 1)
    monkeypatch.setattr(pages, "GRAPH_MEMBERS_SHOWN", 2)
    monkeypatch.setattr(pages, "GRAPH_ISOLATED_SHOWN", 1)
    # when the graph page is opened
    page = client.get("/graph").get_data(as_text=True)
    # then it lists one link and says how many there are, with the way to all of them
    edges = page[page.index('id="edges"'):page.index('id="edges-more"')]
    assert edges.count("<li>") == 1 and "Ann Archer</a> taught" in edges
    more = page[page.index('id="edges-more"'):]
    assert "The 1 strongest\n    of 2 links" in more and 'href="/graph.json' in more
    # the community of three, two of them named and the third counted
    communities = page[page.index('id="communities"'):page.index('<h3>Brokers')]
    assert communities.count('href="/people/') == 2 and "and 1 more" in communities
    # and the first of the two not yet connected, the other counted, both by department
    isolated = page[page.index('id="isolated"'):page.index('id="isolated-by-department"')]
    assert "Dan Dole" in isolated and "Olive Organizer" not in isolated and "and 1 more" in isolated
    by_department = page[page.index('id="isolated-by-department"'):]
    assert "Audit 1, Operations 1" in by_department[:by_department.index("</p>")]


def test_graph_json_exports_nodes_and_edges(client, org):
    data = client.get("/graph.json").get_json()
    assert {n["name"] for n in data["nodes"]} >= {"Ann Archer", "Bob Baker"}
    assert data["edges"] == [{"source": str(org["ann"]), "target": str(org["bob"]), "weight": 1.0,
                              "topics": ["Kubernetes"]}]


def test_graph_json_can_give_only_the_strongest_links_and_the_people_on_them(client, org, clock):
    # given Ann taught Bob twice (two talks) and Cat once
    services = org["services"]
    a_talk_held(services, clock, org["ann"], ["Rust"], attendees=[org["bob"], org["cat"]], ratings=[4, 4], days_ago=5)
    services.settle()
    everything = client.get("/graph.json").get_json()
    assert (everything["people"], everything["links"]) == (len(everything["nodes"]), 2)
    # when only the strongest link is asked for
    data = client.get("/graph.json?strongest=1").get_json()
    # then it is Ann -> Bob, with only the two of them, and the whole graph's counts beside it
    assert [(e["source"], e["target"]) for e in data["edges"]] == [(str(org["ann"]), str(org["bob"]))]
    assert {n["name"] for n in data["nodes"]} == {"Ann Archer", "Bob Baker"}
    assert (data["people"], data["links"]) == (everything["people"], 2)
    assert client.get("/graph.json?strongest=0").get_json()["nodes"] == []


@pytest.mark.parametrize("value", ["many", "-1", "1.5"])
def test_graph_json_with_a_bad_strongest_is_a_422_naming_the_field(client, org, value):
    response = client.get(f"/graph.json?strongest={value}")
    assert response.status_code == 422
    assert response.get_json() == {"error": "strongest must be a whole number of links (0 or more)",
                                    "field": "strongest"}


def test_the_graph_pages_drawing_asks_for_only_what_it_draws_of_a_large_graph(client, org, monkeypatch):
    from commonroom.platform.web import directory as pages

    def drawing_src() -> str:
        page = client.get("/graph").get_data(as_text=True)
        return page.split('id="graph-canvas"', 1)[1].split('data-src="', 1)[1].split('"', 1)[0]

    # a graph of no more people than the drawing holds: all of it
    assert "strongest" not in drawing_src()
    # more people than that: the heaviest links the drawing holds, and the people on them
    monkeypatch.setattr(pages, "GRAPH_DRAWN_NODES", 2)
    monkeypatch.setattr(pages, "GRAPH_DRAWN_LINKS", 7)
    assert drawing_src() == "/graph.json?strongest=7"
    # or more links than it holds
    monkeypatch.setattr(pages, "GRAPH_DRAWN_NODES", 300)
    monkeypatch.setattr(pages, "GRAPH_DRAWN_LINKS", 0)
    assert drawing_src() == "/graph.json?strongest=0"


def test_graph_as_of_before_the_talk_has_no_edges(client, org):
    before = (date.today() - timedelta(days=60)).isoformat()
    assert client.get(f"/graph.json?as_of={before}").get_json()["edges"] == []
    page = client.get(f"/graph?as_of={before}").get_data(as_text=True)
    assert "No learning recorded by then" in page


def test_the_timeline_slider_works_as_a_plain_form(client, org):
    page = client.get("/graph?step=0").get_data(as_text=True)
    assert 'id="as-of-note"' in page


def test_history_pages_list_every_event_with_who_and_when(client, auth, app, org):
    login_as(auth, app, org["ann"])
    talk_page = client.get(f"/talks/{org['talk']}/history").get_data(as_text=True)
    assert talk_page.count('class="event"') == 5  # proposed, scheduled, signed up, attended, feedback
    assert "Proposed" in talk_page and "Ann Archer" in talk_page and "Bob Baker" in talk_page
    login_as(auth, app, org["bob"])  # a person's own audit trail
    peer_page = client.get(f"/people/{org['bob']}/history").get_data(as_text=True)
    assert "SkillOffered" in peer_page and "password_hash" not in peer_page


def test_history_of_something_else_is_a_404(client, auth, app, org):
    login_as(auth, app, org["ann"])
    assert client.get(f"/people/{org['talk']}/history").status_code == 404
    assert client.get(f"/talks/{org['ann']}/history").status_code == 404
    assert client.get("/talks/nonsense/history").status_code == 404


def test_history_needs_a_signed_in_peer(client, org):
    assert client.get(f"/talks/{org['talk']}/history").status_code == 302


def test_a_popular_skill_shows_its_knowers_a_page_at_a_time_and_its_wanters_with_a_count(app, client):
    # given 30 peers who offer SQL (Peer 00 .. Peer 29, equal scores: by name) and 45 who want it
    services = app.extensions["commonroom"]
    for i in range(30):
        a_peer(services, f"Peer {i:02d}", "Audit", offers=["SQL"])
    for i in range(45):
        a_peer(services, f"Learner {i:02d}", "Tax", wants=["SQL"])
    services.settle()
    # when the first page is asked for
    first = client.get("/directory?q=sql").get_data(as_text=True)
    # then it shows the best 25, says how many there are, and links to the rest
    assert "Peer 24" in first and "Peer 25" not in first and "1&ndash;25 of 30" in first
    assert 'rel="next"' in first and "page=2" in first
    assert "Learner 39" in first and "Learner 40" not in first and "and 5 more" in first
    # and the next page continues the numbering with the other five
    second = client.get("/directory?q=sql&page=2").get_data(as_text=True)
    assert "Peer 25" in second and "Peer 29" in second and "Peer 24" not in second
    assert '<ol class="ranking" start="26">' in second and 'rel="prev"' in second and 'rel="next"' not in second
    # and a page number that is not one shows the first page
    assert "Peer 00" in client.get("/directory?q=sql&page=abc").get_data(as_text=True)


def test_a_search_page_reads_the_views_positions_once(app, client, org):
    # given the page's parts (overview, matching skills, ranking, wanters, departments) each cached
    # by the views' positions
    engine = org["services"].engine
    statements = []
    listener = lambda _c, _cur, statement, *_: statements.append(statement)  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        # when someone searches (signed out: no session to settle)
        response = client.get("/directory?q=kubernetes")
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    # then the page is there, and the positions were read once for all of its parts
    assert "Ann Archer" in response.get_data(as_text=True)
    assert sum("projection_tracking" in s for s in statements) == 1
