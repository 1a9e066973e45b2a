"""Hostile input: schemathesis generates requests from /api/v1/openapi.json and none gets a 5xx.

The schema is read from the Flask app in process (no server). One module-scoped app holds a small
world - an organizer, a running programme with a room, a scheduled talk, two more peers and a
trade - and about half the generated requests name those real rows in their path, so they get
past the 404 into the handlers. Cases are schema-valid and schema-violating (negative) alike.
Every operation is fuzzed with a bearer token (the organizer's or a plain peer's) and
anonymously. The checks: never a server error, only documented status codes and content types,
bodies matching the documented schemas. Bounded (``max_examples``) and derandomised so a CI run
is repeatable.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)
from support import next_weekday, start_programme

from commonroom.platform.app import create_app
from commonroom.platform.openapi import openapi_document
from commonroom.platform.web import security
from commonroom.platform.services import SYSTEM_ACTOR

FUZZ = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much, HealthCheck.data_too_large])
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
OPERATIONS = [pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
              for path, item in openapi_document()["paths"].items() for method in item]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The app seeded through its services, Authorization headers (organizer, plain peer), real path ids."""
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{folder}/commonroom.sqlite3",
                      "SECRET_KEY": "fuzz-secret", "FOLLOW": False})
    services = app.extensions["commonroom"]
    organizer = services.people.register("Olga Organizer", "olga@example.org", "Audit",
                                         "correct horse", "Europe/London").peer_id
    services.settle(services.people.grant_organizer(organizer, by=SYSTEM_ACTOR))
    ada = services.people.register("Ada Lovelace", "ada@example.org", "Audit", "correct horse",
                                   "Europe/London").peer_id
    services.people.register("Grace Hopper", "grace@example.org", "Audit", "correct horse", "UTC")
    start_programme(services, organizer)
    talk_id, _ = services.talks.propose(organizer, "Bayesian coffee", "Why priors matter.", ["statistics"])
    services.talks.schedule(talk_id, next_weekday(), "blue-room", by=organizer)
    trade_id, position = services.trades.propose(organizer, ada, "statistics", "Rust", "Swap?")
    services.settle(position)
    with app.test_request_context():
        tokens = [{"Authorization": f"Bearer {security.issue_token(peer)}"} for peer in (organizer, ada)]
    known = {"talk_id": str(talk_id), "peer_id": str(ada), "trade_id": str(trade_id)}
    yield app, tokens, known
    services.close()


@pytest.fixture(scope="module")
def api_schema(world):
    app, _, _ = world
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def fuzz(operation, callers: list[dict], known: dict) -> None:
    """Send up to FUZZ.max_examples generated requests to one operation and check every answer."""

    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases, real_ids=st.booleans(), headers=st.sampled_from(callers))
    @FUZZ
    def run(case, real_ids: bool, headers: dict) -> None:
        if real_ids:
            case.path_parameters.update({name: value for name, value in known.items()
                                         if name in case.path_parameters})
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_generated_request_with_a_bearer_token_gets_a_server_error(api_schema, world, method, path):
    _, tokens, known = world
    fuzz(api_schema[path][method], tokens, known)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_generated_anonymous_request_gets_a_server_error(api_schema, world, method, path):
    _, _, known = world
    fuzz(api_schema[path][method], [{}], known)


# --- what the fuzzing found, pinned ---------------------------------------------------------------
def test_a_wrong_password_for_a_token_is_a_documented_401(client):
    # Given no account; When someone asks for a token
    answer = client.post("/api/v1/tokens", json={"email": "nobody@example.org", "password": "guess"})
    # Then a 401, which the document lists for that operation
    assert answer.status_code == 401
    operation = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/tokens"]["post"]
    assert "401" in operation["responses"]


def test_every_operation_documents_the_401_a_bad_token_gets(client):
    # Given a token that is not one of ours; When it is sent to each operation that needs none
    document = client.get("/api/v1/openapi.json").json
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.post("/api/v1/peers", json={}, headers=bad).status_code == 401
    # Then every operation, open ones included, lists that 401
    undocumented = [(method, path) for path, item in document["paths"].items()
                    for method, operation in item.items() if "401" not in operation["responses"]]
    assert undocumented == []


def test_the_document_and_the_server_agree_that_blank_text_is_no_text(client):
    # Given the document's rule for a peer's name and department
    import re

    registration = client.get("/api/v1/openapi.json").json["components"]["schemas"]["Registration"]
    for field in ("name", "department"):
        pattern = registration["properties"][field]["pattern"]
        # Then it refuses text made of whitespace (which meets minLength) and accepts a real value
        assert re.search(pattern, " \t ") is None and re.search(pattern, "Ada Lovelace")
        # and so does the server, naming the field
        body = {"name": "Ada Lovelace", "email": f"{field}@example.org", "department": "Audit",
                "password": "long enough", field: " \t "}
        answer = client.post("/api/v1/peers", json=body)
        assert answer.status_code == 422 and answer.json["field"] == field
