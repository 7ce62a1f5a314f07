"""Text PostgreSQL cannot store (NUL, lone surrogates) is a 400 naming the field, on
every route, before the route runs.

The generic tests walk the OpenAPI document, so a route added later is covered
without a line here. They run anonymously: the guard answers before authentication.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from medhub.kit.input_guard import NUL_MESSAGE, SURROGATE_MESSAGE
from tests import commerce
from tests.assertions import assert_error
from tests.auth.helpers import STRONG_PASSWORD
from tests.documents import samples
from tests.factories import Factory

AdminSql = Callable[..., list[tuple[Any, ...]]]

NUL = "a\x00b"
# Deep enough for every request body; a recursive schema stops here.
MAX_SCHEMA_DEPTH = 6
SCALAR_SAMPLES: dict[str, Any] = {"integer": 1, "number": 1, "boolean": True}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def child(path: str, name: str | int) -> str:
    """The dotted path of a member or item, as the guard names it (`items.0.name`)."""
    return f"{path}.{name}" if path else str(name)


class Schemas:
    """Reads the OpenAPI document's schemas, following `$ref`s."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components: dict[str, Any] = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def branch(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema itself, or for `anyOf`/`oneOf` its first branch that is not null."""
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self.resolve(option) for option in schema[key]]
                return next(option for option in options if option.get("type") != "null")
        return schema

    def accepts_text(self, schema: dict[str, Any]) -> bool:
        schema = self.resolve(schema)
        options = schema.get("anyOf") or schema.get("oneOf") or [schema]
        for option in map(self.resolve, options):
            if option.get("type") == "string":
                return True
            if option.get("type") == "array" and self.accepts_text(option.get("items", {})):
                return True
        return False

    def sample_with_nul(
        self, schema: dict[str, Any], path: str, leaves: list[str], depth: int = 0
    ) -> Any:
        """A value for `schema` with NUL in every string it holds; their dotted paths
        are appended to `leaves`."""
        schema = self.branch(schema)
        kind = schema.get("type")
        if depth > MAX_SCHEMA_DEPTH:
            return None
        if kind == "string" or "enum" in schema:
            leaves.append(path)
            return NUL
        if kind == "array":
            return [
                self.sample_with_nul(schema.get("items", {}), child(path, 0), leaves, depth + 1)
            ]
        if kind == "object" or "properties" in schema:
            return self._object_with_nul(schema, path, leaves, depth)
        return SCALAR_SAMPLES.get(kind)

    def _object_with_nul(
        self, schema: dict[str, Any], path: str, leaves: list[str], depth: int
    ) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not properties and extra:
            # A free-form map (`true`, or the schema of its values).
            properties = {"key": extra if isinstance(extra, dict) else {"type": "string"}}
        return {
            name: self.sample_with_nul(sub, child(path, name), leaves, depth + 1)
            for name, sub in properties.items()
        }

    def clean_text(self, schema: dict[str, Any]) -> str:
        schema = self.branch(schema)
        if "enum" in schema:
            return str(schema["enum"][0])
        return str(uuid.uuid4()) if schema.get("format") == "uuid" else "x"


def operations(app: FastAPI) -> Iterator[Operation]:
    for path, item in app.openapi()["paths"].items():
        for method, spec in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield Operation(method, path, spec)


def parameters(operation: Operation, location: str) -> list[dict[str, Any]]:
    return [p for p in operation.spec.get("parameters", []) if p["in"] == location]


def concrete_path(operation: Operation, schemas: Schemas, **values: str) -> str:
    path = operation.path
    for parameter in parameters(operation, "path"):
        name = parameter["name"]
        value = values.get(name) or schemas.clean_text(parameter["schema"])
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


def refusal_problem(response: httpx.Response, fields: set[str | None]) -> str | None:
    """Why `response` is not the guard's 400 naming exactly `fields`, or None."""
    if response.status_code != 400:
        return f"answered {response.status_code}: {response.text[:300]}"
    error = response.json()["error"]
    if error["code"] != "VALIDATION_ERROR":
        return f"code {error['code']}"
    named = {detail["field"] for detail in error["details"]}
    if named != fields:
        return f"details name {sorted(map(str, named))}, expected {sorted(map(str, fields))}"
    return None


def multipart_body(
    fields: dict[str, str], files: dict[str, tuple[bytes, bytes]]
) -> tuple[bytes, dict[str, str]]:
    """A multipart body written byte for byte (httpx percent-escapes NUL in names)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode()
        + b"\r\n"
        for name, value in fields.items()
    ]
    parts.extend(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="'.encode()
        + file_name
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + b"\r\n"
        for name, (file_name, content) in files.items()
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def assert_refused(response: httpx.Response, field: str | None, message: str = NUL_MESSAGE) -> None:
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert {"field": field, "message": message} in error["details"], error
    assert response.headers["x-content-type-options"] == "nosniff"


# The generic tests: every operation of the API.


async def test_every_text_parameter_with_nul_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    schemas = Schemas(app.openapi())
    failures: list[str] = []
    checked = 0
    for operation in operations(app):
        for parameter in parameters(operation, "path"):
            if not schemas.accepts_text(parameter["schema"]):
                continue
            name = parameter["name"]
            url = concrete_path(operation, schemas, **{name: NUL})
            response = await client.request(operation.method, url)
            checked += 1
            if problem := refusal_problem(response, {name}):
                failures.append(f"{operation} with path parameter {name}: {problem}")
        for parameter in parameters(operation, "query"):
            if not schemas.accepts_text(parameter["schema"]):
                continue
            name = parameter["name"]
            url = concrete_path(operation, schemas)
            response = await client.request(operation.method, url, params={name: NUL})
            checked += 1
            if problem := refusal_problem(response, {name}):
                failures.append(f"{operation} with query parameter {name}: {problem}")

    assert checked > 50, "the route table should have many text parameters"
    assert not failures, "\n".join(failures)


async def test_every_json_body_with_nul_in_its_strings_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    schemas = Schemas(app.openapi())
    failures: list[str] = []
    checked = 0
    for operation in operations(app):
        content = operation.spec.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        leaves: list[str] = []
        body = schemas.sample_with_nul(content["application/json"]["schema"], "", leaves)
        if not leaves:
            # No text in the contract: a member it does not know must be refused all the same.
            body, leaves = {**(body or {}), "unexpected": NUL}, ["unexpected"]
        response = await client.request(
            operation.method, concrete_path(operation, schemas), json=body
        )
        checked += 1
        expected: set[str | None] = {leaf or None for leaf in leaves}
        if problem := refusal_problem(response, expected):
            failures.append(f"{operation}: {problem}")

    assert checked > 30, "the route table should have many JSON bodies"
    assert not failures, "\n".join(failures)


async def test_every_multipart_text_field_and_file_name_with_nul_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    schemas = Schemas(app.openapi())
    failures: list[str] = []
    checked = 0
    for operation in operations(app):
        content = operation.spec.get("requestBody", {}).get("content", {})
        if "multipart/form-data" not in content:
            continue
        properties = schemas.resolve(content["multipart/form-data"]["schema"])["properties"]
        file_fields = {
            name for name, sub in properties.items() if "contentMediaType" in schemas.branch(sub)
        }
        clean_fields = {
            name: schemas.clean_text(sub)
            for name, sub in properties.items()
            if name not in file_fields
        }
        clean_files = {name: (b"clean.pdf", samples.pdf()) for name in file_fields}
        cases = [(name, {**clean_fields, name: NUL}, clean_files) for name in clean_fields] + [
            (name, clean_fields, {**clean_files, name: (b"evil\x00.pdf", samples.pdf())})
            for name in file_fields
        ]
        for name, fields, files in cases:
            body, headers = multipart_body(fields, files)
            url = concrete_path(operation, schemas)
            response = await client.request(operation.method, url, content=body, headers=headers)
            checked += 1
            if problem := refusal_problem(response, {name}):
                failures.append(f"{operation} with NUL in {name}: {problem}")

    assert checked >= 5, "the orders and documents uploads have text fields and files"
    assert not failures, "\n".join(failures)


# Explicit cases.


async def test_the_anonymous_catalog_filters_are_refused(client: httpx.AsyncClient) -> None:
    search = await client.get("/api/v1/products?search=a%00b")
    category = await client.get("/api/v1/products", params={"category": NUL})
    both = await client.get("/api/v1/products", params={"search": NUL, "category": NUL})

    assert_refused(search, "search")
    assert_refused(category, "category")
    assert {d["field"] for d in both.json()["error"]["details"]} == {"search", "category"}


async def test_a_refused_registration_writes_nothing(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    [(users_before,)] = admin_sql("SELECT count(*) FROM users")
    [(logs_before,)] = admin_sql("SELECT count(*) FROM activity_logs")

    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "nul@example.org", "password": STRONG_PASSWORD, "full_name": NUL},
    )

    assert_refused(response, "full_name")
    assert admin_sql("SELECT count(*) FROM users") == [(users_before,)]
    assert admin_sql("SELECT count(*) FROM activity_logs") == [(logs_before,)]


async def test_an_anonymous_inquiry_with_nul_is_refused(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await client.post(
        "/api/v1/inquiries",
        json={"name": "Ann", "email": "ann@example.org", "subject": "Price", "message": NUL},
    )

    assert_refused(response, "message")
    assert admin_sql("SELECT count(*) FROM inquiries") == [(0,)]


async def test_lone_surrogates_are_refused_in_every_spelling(client: httpx.AsyncClient) -> None:
    for spelling in (b"\\ud800", b"\\uDFFF", b"x\\uDbFfy", b"\xed\xa0\x80"):
        body = b'{"email": "s@example.org", "password": "p", "full_name": "' + spelling + b'"}'
        response = await client.post(
            "/api/v1/auth/register",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert_refused(response, "full_name", SURROGATE_MESSAGE)


async def test_an_escaped_surrogate_pair_is_ordinary_text(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    body = {"email": "emoji@example.org", "password": STRONG_PASSWORD, "full_name": "Ann 😀"}
    escaped = json.dumps(body, ensure_ascii=True).encode()
    assert b"\\ud83d\\ude00" in escaped

    response = await client.post(
        "/api/v1/auth/register", content=escaped, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 201, response.text
    assert admin_sql("SELECT full_name FROM users WHERE email = 'emoji@example.org'") == [
        ("Ann 😀",)
    ]


async def test_nested_json_fields_and_names_are_named_by_their_dotted_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/v1/orders",
        json={
            "items": [{"product_id": str(uuid.uuid4()), "quantity": 1, "x": NUL}],
            "shipping_address_id": str(uuid.uuid4()),
            "notes": {"ke\x00y": "fine"},
        },
    )

    assert_refused(response, "items.0.x")
    assert_refused(response, "notes.ke\\u0000y", f"name {NUL_MESSAGE}")


async def test_path_query_names_and_forms_are_checked_too(client: httpx.AsyncClient) -> None:
    unknown_path = await client.get("/api/v1/nowhere%00")
    query_name = await client.get("/api/v1/products?se%00arch=x")
    form = await client.post(
        "/api/v1/auth/login",
        content=b"email=a%00b&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    raw_form = await client.post(
        "/api/v1/auth/login",
        content=b"email=a\x00b",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )

    assert_refused(unknown_path, "path")
    assert_refused(query_name, "se\\u0000arch", f"name {NUL_MESSAGE}")
    assert_refused(form, "email")
    assert_refused(raw_form, "email")


async def test_a_multipart_file_name_or_part_header_with_nul_is_refused(
    client: httpx.AsyncClient,
) -> None:
    fields = {"entity_type": "product", "entity_id": str(uuid.uuid4()), "document_type": "other"}
    body, headers = multipart_body(fields, {"file": (b"evil\x00.pdf", samples.pdf())})
    file_name = await client.post("/api/v1/documents/upload", content=body, headers=headers)
    body, headers = multipart_body(fields, {"file": (b"fine.pdf", samples.pdf())})
    part_header = await client.post(
        "/api/v1/documents/upload",
        content=body.replace(b"application/octet-stream", b"application/pdf\x00"),
        headers=headers,
    )

    assert_refused(file_name, "file", f"file name {NUL_MESSAGE}")
    assert len(file_name.json()["error"]["details"]) == 1
    assert_refused(part_header, "file", f"part headers {NUL_MESSAGE}")


async def test_file_contents_with_nul_bytes_reach_the_route_unchanged(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    content = samples.pdf()
    assert b"\x00" in content

    response = await client.post(
        "/api/v1/documents/upload",
        data={"entity_type": "product", "entity_id": product["id"], "document_type": "datasheet"},
        files={"file": ("datasheet.pdf", content, "application/pdf")},
        headers=supplier.admin.headers,
    )

    assert response.status_code == 201, response.text
    download = await client.get(
        response.json()["data"]["download_url"], headers=supplier.admin.headers
    )
    assert download.content == content
