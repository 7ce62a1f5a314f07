"""Who may reach consultations at all (issue 12's access matrix): the approved doctors
of the organization, and patients for their own. Org admins, platform operators and
every other role are refused (403), as are doctors awaiting approval; anonymous
callers are asked to authenticate (401)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.consultations.helpers import CONSULTATIONS, MEDICAL_VISITS, Clinic, ad_hoc
from tests.doctors.helpers import register_doctor
from tests.factories import Account, Factory

Call = Callable[[httpx.AsyncClient, dict[str, str], Clinic, str], Awaitable[httpx.Response]]


async def _list(client: httpx.AsyncClient, headers: dict[str, str], *_: Any) -> httpx.Response:
    return await client.get(CONSULTATIONS, headers=headers)


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], clinic: Clinic, _: str
) -> httpx.Response:
    body = {"patient_id": str(clinic.chart.id), "type": "in_person"}
    return await client.post(CONSULTATIONS, json=body, headers=headers)


async def _read(
    client: httpx.AsyncClient, headers: dict[str, str], _: Clinic, consultation_id: str
) -> httpx.Response:
    return await client.get(f"{CONSULTATIONS}/{consultation_id}", headers=headers)


async def _update(
    client: httpx.AsyncClient, headers: dict[str, str], _: Clinic, consultation_id: str
) -> httpx.Response:
    url = f"{CONSULTATIONS}/{consultation_id}"
    return await client.put(url, json={"notes": "x"}, headers=headers)


async def _visits(client: httpx.AsyncClient, headers: dict[str, str], *_: Any) -> httpx.Response:
    return await client.get(MEDICAL_VISITS, headers=headers)


ENDPOINTS: dict[str, Call] = {
    "list": _list,
    "create": _create,
    "read": _read,
    "update": _update,
    "medical-visits": _visits,
}
# What a patient may do: read their own.
PATIENT_MAY = {"list", "read"}


async def _account(
    factory: Factory, client: httpx.AsyncClient, clinic: Clinic, who: str
) -> Account:
    if who == "admin":
        return clinic.admin
    if who == "super_admin":
        return await factory.user("super_admin")
    if who == "pharmacist":
        pharmacy = await factory.organization("pharmacy")
        return await factory.user("pharmacist", organization_id=pharmacy.id)
    if who == "staff_pharmacist":
        # Even one placed in the hospital itself (row-level security would let them by).
        return await factory.user("pharmacist", organization_id=clinic.id)
    if who == "unapproved_doctor":
        return await factory.user("doctor", organization_id=clinic.id, approved=False)
    if who == "registered_doctor":
        return await register_doctor(client)
    raise AssertionError(who)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "who",
    [
        "admin",
        "super_admin",
        "pharmacist",
        "staff_pharmacist",
        "unapproved_doctor",
        "registered_doctor",
    ],
)
async def test_the_wrong_callers_are_refused(
    client: httpx.AsyncClient, factory: Factory, clinic: Clinic, endpoint: str, who: str
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    account = await _account(factory, client, clinic, who)
    response = await ENDPOINTS[endpoint](client, account.headers, clinic, made["id"])
    message = assert_error(response, 403, "AUTHORIZATION_ERROR")["message"]
    if who.endswith("_doctor"):
        assert "awaiting approval" in message
    else:
        assert f"your role: {account.role}" in message


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_anonymous_callers_are_asked_to_authenticate(
    client: httpx.AsyncClient, clinic: Clinic, endpoint: str
) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    response = await ENDPOINTS[endpoint](client, {}, clinic, made["id"])
    assert_error(response, 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("endpoint", sorted(set(ENDPOINTS) - PATIENT_MAY))
async def test_patients_only_read(client: httpx.AsyncClient, clinic: Clinic, endpoint: str) -> None:
    made = await ad_hoc(client, clinic.doctor, clinic.chart)
    response = await ENDPOINTS[endpoint](client, clinic.patient.headers, clinic, made["id"])
    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_an_api_key_with_the_doctor_role_is_no_doctor(
    client: httpx.AsyncClient, clinic: Clinic
) -> None:
    created = await client.post(
        "/api/v1/api-keys", json={"name": "his", "role": "doctor"}, headers=clinic.admin.headers
    )
    assert created.status_code == 201, created.text
    key = created.json()["data"]["key"]
    response = await client.get(CONSULTATIONS, headers={"X-API-Key": key})
    assert_error(response, 403, "AUTHORIZATION_ERROR")
