"""Error messages name enum values as a client sends them, never as Python reprs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from medhub.app import create_app
from medhub.config import Settings
from medhub.kit.envelope import JSONResponse, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed, shown, without_enum_reprs
from medhub.models.identity import OrganizationKind, Role
from tests.conftest import running


class Assignment(BaseModel):
    role: Role
    # pydantic renders the choices of a Literal of enum members with their reprs.
    kind: Literal[OrganizationKind.hospital, OrganizationKind.clinic]


probe = APIRouter(prefix="/api/v1/_messages")


@probe.post("/assignments")
async def assign(assignment: Assignment) -> JSONResponse:
    return ok(assignment)


@probe.get("/careless")
async def careless() -> JSONResponse:
    # A message written the way the role finding was: `!r` on an enum member.
    raise ValidationFailed(
        f"The role {Role.super_admin!r} is not available",
        details=[ErrorDetail(field="role", message=f"not {Role.admin!r}")],
    )


@pytest.fixture
async def messages_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, configure_logs=False)
    app.include_router(probe)
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_enum_validation_errors_list_plain_values(
    messages_client: httpx.AsyncClient,
) -> None:
    response = await messages_client.post(
        "/api/v1/_messages/assignments", json={"role": "owner", "kind": "pharmacy"}
    )
    assert response.status_code == 400, response.text
    details = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert "'super_admin'" in details["role"]
    assert "'patient'" in details["role"]
    assert details["kind"] == "Input should be 'hospital' or 'clinic'"
    assert "<" not in response.text


async def test_domain_messages_never_show_enum_reprs(messages_client: httpx.AsyncClient) -> None:
    response = await messages_client.get("/api/v1/_messages/careless")
    error = response.json()["error"]
    assert error["message"] == "The role 'super_admin' is not available"
    assert error["details"] == [{"field": "role", "message": "not 'admin'"}]


def test_shown_quotes_enum_members_by_value() -> None:
    assert shown(Role.super_admin) == "'super_admin'"
    assert shown("it's") == '"it\'s"'
    assert shown(3) == "3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (repr(Role.admin), "'admin'"),
        (f"{Role.admin!r} or {OrganizationKind.clinic!r}", "'admin' or 'clinic'"),
        ("<not an enum> <a.b>", "<not an enum> <a.b>"),
    ],
)
def test_without_enum_reprs(text: str, expected: str) -> None:
    assert without_enum_reprs(text) == expected
