"""Every list is documented as a page of its item schema (DESIGN.md, "Lists"), so a client
generated from /openapi.json knows what `data.<plural>` holds."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from medhub.kit.pagination import page_model

Schema = dict[str, Any]
REF_PREFIX = "#/components/schemas/"


def _resolve(spec: Schema, schema: Schema) -> Schema:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].removeprefix(REF_PREFIX)]
    return schema


def _data_schema(spec: Schema, operation: Schema) -> Schema:
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    data: Schema = _resolve(spec, body)["properties"]["data"]
    return data


def _is_page(spec: Schema, operation: Schema) -> bool:
    """Takes `?page=` (the `Paging` dependency), or documents a `pagination`."""
    query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    if "page" in query:
        return True
    try:
        data = _resolve(spec, _data_schema(spec, operation))
    except KeyError:
        return False
    return "pagination" in data.get("properties", {})


def _page_problems(spec: Schema, data: Schema) -> list[str]:
    problems = []
    if "$ref" not in data:
        problems.append(f"data is not a named component schema: {data}")
    page = _resolve(spec, data)
    if "additionalProperties" in page:
        problems.append("data allows untyped properties")
    properties: dict[str, Schema] = page.get("properties", {})
    if properties.get("pagination") != {"$ref": f"{REF_PREFIX}Pagination"}:
        problems.append("no `pagination` of the Pagination schema")
    item_lists = {name: p for name, p in properties.items() if p.get("type") == "array"}
    if len(item_lists) != 1:
        problems.append(f"expected one array of items, found {sorted(item_lists)}")
    for name, items in item_lists.items():
        ref = items.get("items", {}).get("$ref", "")
        if (
            not ref.startswith(REF_PREFIX)
            or ref.removeprefix(REF_PREFIX) not in (spec["components"]["schemas"])
        ):
            problems.append(f"`{name}` is not an array of a component schema: {items}")
    for name, prop in properties.items():
        if "$ref" not in prop and "type" not in prop:
            problems.append(f"`{name}` has no type: {prop}")
        if prop.get("type") == "object":
            problems.append(f"`{name}` is an untyped object: {prop}")
    return problems


async def test_every_list_documents_a_page_of_its_item_schema(app: FastAPI) -> None:
    spec = app.openapi()
    lists = {
        path: operation["get"]
        for path, operation in spec["paths"].items()
        if "get" in operation and _is_page(spec, operation["get"])
    }
    # The lists MedHub has today, so that this test cannot pass by finding none.
    assert {"/api/v1/products", "/api/v1/orders", "/api/v1/notifications"} <= set(lists)
    problems = {
        path: found
        for path, operation in lists.items()
        if (found := _page_problems(spec, _data_schema(spec, operation)))
    }
    assert problems == {}


class _Widget(BaseModel):
    name: str


class _Gadget(BaseModel):
    name: str


def test_a_page_model_is_made_once_per_name() -> None:
    page = page_model("test_widgets", _Widget)
    assert page.__name__ == "TestWidgetsPage"
    assert list(page.model_fields) == ["test_widgets", "pagination"]
    assert page_model("test_widgets", _Widget) is page
    # One component name must always mean one shape in /openapi.json.
    with pytest.raises(ValueError, match="TestWidgetsPage"):
        page_model("test_widgets", _Gadget)
