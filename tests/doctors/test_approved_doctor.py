"""`ApprovedDoctor`, the dependency of the clinical routes: a doctor (a person, not an
API key), approved, of a hospital or clinic. No public route uses it yet, so each test
adds a probe route to its own app and calls it with accounts made through the API."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from medhub.doctors.auth import ApprovedDoctor
from medhub.kit.envelope import JSONResponse, ok
from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import API, data, register_doctor, set_approval
from tests.factories import Account, Factory

PROBE = f"{API}/test/clinical"


@pytest.fixture(autouse=True)
def _probe(app: FastAPI) -> Iterator[None]:
    """The probe route, on this test's app only (apps are reused by later tests)."""

    async def clinical(principal: ApprovedDoctor) -> JSONResponse:
        return ok(
            {
                "user_id": str(principal.user_id),
                "organization_id": str(principal.organization_id),
            }
        )

    app.add_api_route(PROBE, clinical, methods=["GET"], include_in_schema=False)
    route = app.router.routes[-1]
    yield
    app.router.routes.remove(route)


async def probe(client: httpx.AsyncClient, account: Account) -> httpx.Response:
    return await client.get(PROBE, headers=account.headers)


def assert_waiting(response: httpx.Response) -> str:
    message = assert_error(response, 403, "AUTHORIZATION_ERROR")["message"]
    assert "your doctor account is awaiting approval" in message.lower()
    return str(message)


async def test_a_self_registered_doctor_acts_once_approved_with_the_token_they_hold(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    super_admin = await factory.user("super_admin")
    doctor = await register_doctor(client)
    assert_waiting(await probe(client, doctor))

    clinic_id = data(await set_approval(client, doctor.id, super_admin))["organization_id"]
    allowed = data(await probe(client, doctor))
    assert allowed == {"user_id": str(doctor.id), "organization_id": clinic_id}

    # Withdrawn: refused again on the next request, same token.
    data(await set_approval(client, doctor.id, super_admin, approved=False))
    assert_waiting(await probe(client, doctor))


async def test_a_hospital_doctor_acts_once_their_admin_approves_them(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, approved=False)
    assert_waiting(await probe(client, doctor))
    data(await set_approval(client, doctor.id, hospital.admin))
    assert data(await probe(client, doctor))["organization_id"] == str(hospital.id)


async def test_an_approved_doctor_without_an_organization_still_waits(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    # As a doctor approved before approvals made clinics would be.
    doctor = await factory.user("doctor", approved=True)
    message = assert_waiting(await probe(client, doctor))
    assert "no hospital or clinic" in message


async def test_anonymous_callers_are_asked_to_authenticate(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(PROBE), 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("role", ["patient", "admin", "pharmacist", "super_admin"])
async def test_other_roles_are_refused(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, role: str
) -> None:
    organization_id = hospital.id if role in {"admin", "pharmacist"} else None
    account = await factory.user(role, organization_id=organization_id)
    message = assert_error(await probe(client, account), 403, "AUTHORIZATION_ERROR")["message"]
    assert message == f"Only doctors may do this (your role: {role})"


async def test_an_api_key_acting_as_a_doctor_is_refused(
    client: httpx.AsyncClient, hospital: Tenant
) -> None:
    created = await client.post(
        f"{API}/api-keys",
        json={"name": "clinic system", "role": "doctor"},
        headers=hospital.admin.headers,
    )
    key = data(created, 201)["key"]
    refused = await client.get(PROBE, headers={"X-API-Key": key})
    message = assert_error(refused, 403, "AUTHORIZATION_ERROR")["message"]
    assert "user account" in message
