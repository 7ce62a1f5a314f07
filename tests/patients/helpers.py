"""Paths, bodies and readers shared by the patients tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

API = "/api/v1"
PATIENTS = f"{API}/patients"
DOCTOR_PATIENTS = f"{API}/doctors/patients"
PROFILE = f"{PATIENTS}/profile"
CLAIM = f"{PATIENTS}/claim"
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")
AdminSql = Callable[..., list[tuple[Any, ...]]]


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def chart_body(**overrides: Any) -> dict[str, Any]:
    return {
        "first_name": "Ann",
        "last_name": "Lee",
        "date_of_birth": "1980-04-02",
        "sex": "female",
        **overrides,
    }


def full_chart_body(**overrides: Any) -> dict[str, Any]:
    """Every field, with values a test can look for in raw column bytes."""
    return chart_body(
        email=f"ann-{uuid.uuid4().hex[:8]}@example.org",
        phone="+49 30 5550-1234",
        national_id="NID-778899-XQ",
        insurance_number="INS-4455-ZZ",
        address={
            "line1": "12 Harbor Street",
            "line2": None,
            "city": "Boston",
            "postal_code": "02110",
            "country": "United States",
        },
        emergency_contact={
            "name": "Bob Lee",
            "relationship": "brother",
            "phone": "+1 617 555 0100",
        },
        blood_type="AB-",
        allergies=["Penicillinallergyxyz"],
        chronic_conditions=["Asthmaconditionxyz"],
        **overrides,
    )


async def create_chart(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = PATIENTS, **body: Any
) -> dict[str, Any]:
    created: dict[str, Any] = data(
        await client.post(path, json=chart_body(**body), headers=headers), 201
    )
    return created
