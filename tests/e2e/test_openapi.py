"""The OpenAPI document describes the real API: every route, no invented ones, the real limits."""

from __future__ import annotations

import re

import pytest
from api_given import api  # noqa: F401  (the fixture)

NOWHERE = "00000000-0000-4000-8000-000000000000"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(client) -> dict:
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.json


def api_routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path, lower-case method) for every rule under /api/v1."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes |= {(path, method.lower()) for method in rule.methods - IGNORED_METHODS}
    return routes


def documented(document: dict) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_document_is_openapi_3_1_with_a_bearer_scheme(document):
    assert document["openapi"] == "3.1.0"
    bearer = document["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")


def test_every_api_route_and_method_is_documented(app, document):
    assert api_routes(app) - documented(document) == set()


def test_every_documented_path_and_method_is_a_real_route(app, document):
    assert documented(document) - api_routes(app) == set()


def test_path_parameters_match_the_routes_placeholders(document):
    for path, method, operation in operations(document):
        in_path = set(re.findall(r"{([^}]+)}", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert declared == in_path, (method, path)


def test_every_reference_resolves_and_every_operation_answers_something(document):
    schemas = document["components"]["schemas"]
    references = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(document).replace("'", '"'))
    assert references
    assert set(references) <= set(schemas)
    for path, method, operation in operations(document):
        assert any(code.startswith("2") for code in operation["responses"]), (method, path)


def test_operations_that_need_a_token_answer_401_without_one(client, document):
    bearer_only = [(path, method, operation) for path, method, operation in operations(document)
                   if operation.get("security") == [{"bearer": []}]]
    assert len(bearer_only) >= 10
    for path, method, operation in bearer_only:
        answer = client.open(re.sub(r"{[^}]+}", NOWHERE, path), method=method.upper(), json={})
        assert answer.status_code == 401, (method, path)
        assert "401" in operation["responses"], (method, path)


def test_open_operations_are_reachable_without_a_token(client, document):
    for path, method, operation in operations(document):
        if method == "get" and operation.get("security") in ([], [{}, {"bearer": []}]) and "{" not in path:
            assert client.get(path).status_code == 200, path


# --- the limits in the document are the domain's limits --------------------------------------------
def string_limits(document: dict, schema: str) -> list[tuple[str, int]]:
    properties = document["components"]["schemas"][schema]["properties"]
    return [(name, spec["maxLength"]) for name, spec in properties.items()
            if spec.get("type") == "string" and "maxLength" in spec]


def too_long(field: str, limit: int) -> str:
    if field == "email":
        return "a" * (limit + 1 - len("@example.org")) + "@example.org"
    return "x" * (limit + 1)


@pytest.fixture
def scheduled(api):
    """(talk id, the speaker's header) for a talk in a lunch slot."""
    organizer, speaker = api.peer(organizer=True)
    api.programme(organizer)
    return api.scheduled_talk(speaker), speaker


REQUESTS = {
    # schema: (method, path, a valid body, who sends it: "anonymous" | "speaker")
    "Registration": ("post", "/peers", {"name": "Grace", "email": "grace@example.org", "department": "Navy",
                                        "password": "cobol rules", "timezone": "UTC"}, "anonymous"),
    "Proposal": ("post", "/talks", {"title": "A talk", "abstract": "", "topics": ["x"]}, "speaker"),
    "Revision": ("patch", "/talks/{talk}", {}, "speaker"),
    "Slot": ("post", "/talks/{talk}/schedule", {"day": "2099-01-05", "room_id": "blue-room"}, "speaker"),
    "Cancellation": ("post", "/talks/{talk}/cancel", {}, "speaker"),
    "Feedback": ("post", "/talks/{talk}/feedback", {"rating": 5}, "speaker"),
}


@pytest.mark.parametrize("schema", sorted(REQUESTS))
def test_one_character_over_each_documented_max_length_is_422_naming_the_field(api, document, scheduled, schema):
    talk_id, speaker = scheduled
    method, path, valid, who = REQUESTS[schema]
    limits = string_limits(document, schema)
    assert limits, schema
    for field, limit in limits:
        before = api.head()
        body = {**valid, field: too_long(field, limit)}
        answer = getattr(api, method)(path.format(talk=talk_id), body, who=speaker if who == "speaker" else None)
        assert (answer.status_code, answer.json.get("field")) == (422, field), (schema, field, answer.json)
        assert api.head() == before


def test_the_documented_max_lengths_themselves_are_accepted(api, document):
    _, speaker = api.peer()
    proposal = {field: "x" * limit for field, limit in string_limits(document, "Proposal")}
    answer = api.post("/talks", {**proposal, "topics": ["y" * 40]}, speaker)
    assert answer.status_code == 201
    assert (len(answer.json["title"]), len(answer.json["abstract"])) == (120, 4000)
    registration = {field: "x" * limit for field, limit in string_limits(document, "Registration")
                    if field in ("name", "department", "password")}
    joined = api.post("/peers", {**registration, "email": "long@example.org"})
    assert joined.status_code == 201
