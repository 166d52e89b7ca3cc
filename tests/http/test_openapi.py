"""``GET /openapi.yaml`` describes every route the app registers, and only those."""

from __future__ import annotations

import re
from importlib import resources

import falcon.inspect
import yaml

from conserje.chat_ids import CHAT_ID_PATTERN, CHAT_OR_NUMBER_PATTERN
from conserje.http.app import create_app

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def registered(app) -> set[tuple[str, str]]:
    """Every (path, method) the app answers with a responder of ours.

    Falcon's field converters (``{filename:path}``) are not part of an OpenAPI path.
    """
    return {
        (re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path), method.method.lower())
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }


def documented(spec: dict) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_the_description_is_served_as_shipped(client):
    answer = client.simulate_get("/openapi.yaml")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/yaml"
    assert answer.content == (resources.files("conserje.http") / "openapi.yaml").read_bytes()
    spec = yaml.safe_load(answer.text)
    assert spec["openapi"] == "3.1.0"


def test_every_registered_route_is_documented_and_nothing_else(runtime, client):
    spec = yaml.safe_load(client.simulate_get("/openapi.yaml").text)

    routes = registered(create_app(runtime))

    assert ("/hook", "post") in routes
    assert routes - documented(spec) == set(), "routes missing from conserje/http/openapi.yaml"
    assert documented(spec) - routes == set(), "documented routes the app does not have"


def test_every_operation_names_its_responses_and_has_a_unique_id(client):
    spec = yaml.safe_load(client.simulate_get("/openapi.yaml").text)
    operations = [
        item[method] for item in spec["paths"].values() for method in item if method in HTTP_METHODS
    ]

    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all(op["responses"] for op in operations)


def test_the_chat_patterns_are_the_ones_the_server_checks(client):
    parameters = yaml.safe_load(client.simulate_get("/openapi.yaml").text)["components"][
        "parameters"
    ]

    assert parameters["Chat"]["schema"]["pattern"] == CHAT_ID_PATTERN
    assert parameters["ChatOrNumber"]["schema"]["pattern"] == CHAT_OR_NUMBER_PATTERN
