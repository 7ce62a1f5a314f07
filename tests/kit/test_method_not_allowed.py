"""405 answers name every method the route table serves on the path, and a literal route's
path is not taken over by a parametrised route of another method."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Route

from medhub.kit.routing import RouteMethods
from tests.assertions import assert_error
from tests.factories import Account, Factory

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def served_methods(app: FastAPI) -> dict[str, set[str]]:
    """Path template → every method some route serves on it, straight from the route table."""
    served: dict[str, set[str]] = defaultdict(set)
    for context in iter_route_contexts(app.router.routes):
        if context.methods and context.path_format:  # mounts and websockets have no methods
            served[context.path_format].update(context.methods)
    return dict(served)


def concrete(template: str) -> str:
    # A UUID fits every parameter of this API (ids, slugs) and no literal segment.
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)


def allowed(response: httpx.Response) -> set[str]:
    return {method.strip() for method in response.headers["allow"].split(",")}


def assert_405(response: httpx.Response, allow: set[str]) -> None:
    assert response.status_code == 405, (response.request.method, response.request.url)
    if response.request.method != "HEAD":  # a HEAD answer has no body to read
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert allowed(response) == allow, (response.request.method, response.request.url)


async def test_every_path_answers_405_with_all_its_methods(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    served = served_methods(app)
    multi = [template for template, methods in served.items() if len(methods - {"HEAD"}) > 1]
    assert len(multi) >= 20, "the table must see routes of every included router"
    checked = 0
    for template, methods in served.items():
        path = concrete(template)
        for method in METHODS:
            if method in methods:
                continue
            assert_405(await client.request(method, path), methods)
            checked += 1
    assert checked > 200


async def test_options_on_a_collection_lists_get_and_post(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/admin/tenants")
    assert_405(response, {"GET", "POST"})
    assert response.headers["allow"] == "GET, POST"


async def test_a_literal_path_is_not_taken_by_a_parametrised_route(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    # Anonymous: GET /documents/{document_id} takes optional credentials, so the
    # UUID check is what fails; it must read as "wrong method", not "bad id".
    assert_405(await client.get("/api/v1/documents/upload"), {"POST"})
    customer: Account = await factory.user("customer")
    for method, path in [
        ("GET", "/api/v1/documents/upload"),
        ("DELETE", "/api/v1/documents/upload"),
        ("GET", "/api/v1/orders/bulk"),
    ]:
        response = await client.request(method, path, headers=customer.headers)
        assert_405(response, {"POST"})


async def test_a_malformed_id_is_still_bad_input(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    customer = await factory.user("customer")
    for path in ("/api/v1/documents/not-a-uuid", "/api/v1/orders/not-a-uuid"):
        response = await client.get(path, headers=customer.headers)
        assert response.status_code == 400, response.text
        fields = {d["field"] for d in response.json()["error"]["details"]}
        assert fields in ({"document_id"}, {"order_id"})


async def test_the_openapi_paths_keep_their_parameters(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/v1/documents/{document_id}"]) == {"get", "delete"}
    assert set(paths["/api/v1/documents/upload"]) == {"post"}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/documents/upload", "/api/v1/documents/upload"),
        ("/api/v1/documents/0190a7a0-0000-7000-8000-000000000000", "/api/v1/documents/{id}"),
        ("/api/v1/documents/x/download", "/api/v1/documents/{id}/download"),
        ("/api/v1/nowhere", None),
    ],
)
def test_the_most_specific_template_wins(path: str, expected: str | None) -> None:
    async def endpoint() -> None:
        raise AssertionError("never called")

    # The parametrised route first, as in the documents router: order must not matter.
    table = RouteMethods.from_routes(
        [
            Route("/api/v1/documents/{id}", endpoint, methods=["GET"]),
            Route("/api/v1/documents/{id}", endpoint, methods=["DELETE"]),
            Route("/api/v1/documents/upload", endpoint, methods=["POST"]),
            Route("/api/v1/documents/{id}/download", endpoint, methods=["GET"]),
        ]
    )
    entry = table.for_path(path)
    assert (entry.template if entry else None) == expected
    if expected == "/api/v1/documents/{id}":
        assert entry is not None
        assert entry.allow == "GET, HEAD, DELETE"
    # Only the literal path is one another route would take requests of.
    taken_over = table.taken_over(path)
    assert (taken_over.template if taken_over else None) == (
        "/api/v1/documents/upload" if path.endswith("/upload") else None
    )
