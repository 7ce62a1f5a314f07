"""Linking charts to patient accounts: at once for a verified patient account with the
chart's email (the patient is told in the app and by email), else by an invitation
link the address claims (`POST /patients/claim`), or when the person registers and
verifies that address later."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from tests.assertions import assert_error
from tests.auth.helpers import link_token, register
from tests.factories import Factory, mail_to, text_body
from tests.patients.conftest import Tenant
from tests.patients.helpers import CLAIM, PATIENTS, PROFILE, AdminSql, create_chart, data


async def claim_token(app: FastAPI, address: str) -> str:
    return await link_token(app, address, "patient_invitation", "claim")


def invitations(admin_sql: AdminSql, patient_id: str) -> list[tuple[object, ...]]:
    return admin_sql(
        "SELECT email, token_hash, expires_at - created_at, claimed_at, claimed_by"
        " FROM patient_invitations WHERE patient_id = %s ORDER BY created_at",
        [uuid.UUID(patient_id)],
    )


async def test_a_verified_patient_account_is_linked_at_once_and_told(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    patient = await factory.user("patient", full_name="Ann Lee")

    chart = await create_chart(client, hospital.admin.headers, email=patient.email.upper())

    assert chart["linked"] is True
    assert chart["user_id"] == str(patient.id)
    assert invitations(admin_sql, chart["id"]) == []
    [(category, title, link)] = admin_sql(
        "SELECT category, title, data->>'link' FROM notifications WHERE user_id = %s",
        [patient.id],
    )
    assert category == "security"
    assert hospital.organization.name in title
    assert link == "/patients/profile"
    [message] = await mail_to(app, patient.email, "patient_chart_linked")
    assert hospital.organization.name in text_body(message)
    assert "Hello Ann Lee" in text_body(message)
    actions = admin_sql(
        "SELECT action, metadata->>'via' FROM activity_logs WHERE entity_id = %s"
        " ORDER BY created_at, id",
        [uuid.UUID(chart["id"])],
    )
    assert actions == [("patient.created", None), ("patient.linked", "verified_email")]
    # The patient sees it among their charts.
    charts = data(await client.get(PROFILE, headers=patient.headers))["charts"]
    assert charts == [
        {
            "patient_id": chart["id"],
            "organization_id": str(hospital.id),
            "organization_name": hospital.organization.name,
            "mrn": chart["mrn"],
        }
    ]


async def test_a_second_chart_for_a_linked_account_is_a_conflict(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient", login=False)
    first = await create_chart(client, hospital.admin.headers, email=patient.email)

    response = await client.post(
        PATIENTS,
        json={
            "first_name": "A",
            "last_name": "B",
            "date_of_birth": "1990-01-01",
            "email": patient.email,
        },
        headers=hospital.doctor.headers,
    )

    error = assert_error(response, 409, "CONFLICT")
    assert first["mrn"] in error["message"]
    assert admin_sql("SELECT count(*) FROM patients") == [(1,)]


async def test_without_a_verified_patient_account_the_address_is_invited(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    unverified = await factory.user("patient", verified=False, login=False)
    doctor_elsewhere = await factory.user("doctor", login=False)
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    for address in (unverified.email, doctor_elsewhere.email, nobody):
        chart = await create_chart(
            client, hospital.admin.headers, email=address, first_name="Ann", last_name="Lee"
        )
        assert chart["linked"] is False
        [(email, token_hash, ttl, claimed_at, claimed_by)] = invitations(admin_sql, chart["id"])
        assert isinstance(ttl, timedelta)
        assert email == address
        assert abs(ttl - timedelta(days=14)) < timedelta(minutes=1)
        assert (claimed_at, claimed_by) == (None, None)
        token = await claim_token(app, address)
        # High-entropy, and only its digest is stored.
        assert len(token) >= 40
        assert token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert admin_sql(
            "SELECT count(*) FROM patient_invitations WHERE token_hash = %s", [token]
        ) == [(0,)]
        [message] = await mail_to(app, address, "patient_invitation")
        assert hospital.organization.name in text_body(message)
        assert "Hello Ann Lee" in text_body(message)
    assert admin_sql("SELECT count(*) FROM notifications") == [(0,)]


async def test_the_invited_patient_claims_the_chart_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    address = f"claimer-{uuid.uuid4().hex[:8]}@example.org"
    chart = await create_chart(client, hospital.doctor.headers, email=address)
    token = await claim_token(app, address)
    patient = await factory.user("patient", email=address)

    claimed = data(await client.post(CLAIM, json={"token": token}, headers=patient.headers))

    assert claimed == {
        "patient_id": chart["id"],
        "organization_id": str(hospital.id),
        "organization_name": hospital.organization.name,
        "mrn": chart["mrn"],
    }
    [(_, _, _, claimed_at, claimed_by)] = invitations(admin_sql, chart["id"])
    assert claimed_at is not None
    assert claimed_by == patient.id
    linked = data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.doctor.headers))
    assert linked["user_id"] == str(patient.id)
    assert data(await client.get(PROFILE, headers=patient.headers))["charts"] == [claimed]
    assert admin_sql(
        "SELECT user_id, metadata->>'via' FROM activity_logs WHERE action = 'patient.linked'"
    ) == [(patient.id, "invitation")]

    # Used: like any unknown link.
    again = await client.post(CLAIM, json={"token": token}, headers=patient.headers)
    assert_error(again, 404, "NOT_FOUND")


async def test_claims_that_must_fail(
    app: FastAPI,
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    address = f"invited-{uuid.uuid4().hex[:8]}@example.org"
    chart = await create_chart(client, hospital.admin.headers, email=address)
    token = await claim_token(app, address)
    someone_else = await factory.user("patient")
    unverified_owner = await factory.user("patient", email=address, verified=False)

    unknown = await client.post(CLAIM, json={"token": "x" * 43}, headers=someone_else.headers)
    assert_error(unknown, 404, "NOT_FOUND")
    other_email = await client.post(CLAIM, json={"token": token}, headers=someone_else.headers)
    assert_error(other_email, 403, "AUTHORIZATION_ERROR")
    unverified = await client.post(CLAIM, json={"token": token}, headers=unverified_owner.headers)
    assert_error(unverified, 403, "AUTHORIZATION_ERROR")
    assert "verify" in unverified.json()["error"]["message"].lower()
    for role in ("doctor", "admin", "pharmacist", "customer", "super_admin"):
        organization_id = hospital.id if role in {"doctor", "admin", "pharmacist"} else None
        caller = await factory.user(role, organization_id=organization_id)
        response = await client.post(CLAIM, json={"token": token}, headers=caller.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
    assert_error(await client.post(CLAIM, json={"token": token}), 401, "AUTHENTICATION_ERROR")
    for body in ({}, {"token": "short"}, {"token": token, "extra": 1}):
        response = await client.post(CLAIM, json=body, headers=someone_else.headers)
        assert_error(response, 400, "VALIDATION_ERROR")

    # Expired: like an unknown link, even for its addressee.
    admin_sql(
        "UPDATE patient_invitations SET expires_at = %s WHERE patient_id = %s",
        [datetime.now(UTC) - timedelta(seconds=1), uuid.UUID(chart["id"])],
    )
    admin_sql("UPDATE users SET is_verified = true WHERE id = %s", [unverified_owner.id])
    expired = await client.post(CLAIM, json={"token": token}, headers=unverified_owner.headers)
    assert_error(expired, 404, "NOT_FOUND")
    assert admin_sql("SELECT user_id FROM patients") == [(None,)]


async def test_a_deleted_chart_cannot_be_claimed(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    address = f"gone-{uuid.uuid4().hex[:8]}@example.org"
    chart = await create_chart(client, hospital.admin.headers, email=address)
    token = await claim_token(app, address)
    data(await client.delete(f"{PATIENTS}/{chart['id']}", headers=hospital.admin.headers))
    patient = await factory.user("patient", email=address)

    response = await client.post(CLAIM, json={"token": token}, headers=patient.headers)
    assert_error(response, 404, "NOT_FOUND")


async def test_a_new_email_invites_the_new_address_and_retires_the_old_link(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    old = f"old-{uuid.uuid4().hex[:8]}@example.org"
    new = f"new-{uuid.uuid4().hex[:8]}@example.org"
    chart = await create_chart(client, hospital.admin.headers, email=old)
    old_token = await claim_token(app, old)

    data(
        await client.put(
            f"{PATIENTS}/{chart['id']}", json={"email": new}, headers=hospital.admin.headers
        )
    )
    new_token = await claim_token(app, new)

    old_owner = await factory.user("patient", email=old)
    response = await client.post(CLAIM, json={"token": old_token}, headers=old_owner.headers)
    assert_error(response, 404, "NOT_FOUND")
    new_owner = await factory.user("patient", email=new)
    data(await client.post(CLAIM, json={"token": new_token}, headers=new_owner.headers))


async def test_registering_and_verifying_later_links_the_charts_of_every_organization(
    app: FastAPI,
    client: httpx.AsyncClient,
    hospital: Tenant,
    other_hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    address = f"later-{uuid.uuid4().hex[:8]}@example.org"
    ours = await create_chart(client, hospital.admin.headers, email=address)
    # Addresses match whatever their case.
    theirs = await create_chart(client, other_hospital.doctor.headers, email=address.upper())
    duplicate = await create_chart(client, other_hospital.admin.headers, email=address)
    deleted = await create_chart(client, hospital.admin.headers, email=address)
    data(await client.delete(f"{PATIENTS}/{deleted['id']}", headers=hospital.admin.headers))

    registered = await register(client, email=address, role="patient")
    user_id = uuid.UUID(registered.json()["data"]["user_id"])
    # Not linked before the address is verified.
    assert admin_sql("SELECT count(*) FROM patients WHERE user_id = %s", [user_id]) == [(0,)]
    token = await link_token(app, address, "verify_email", "verify-email")
    data(await client.post("/api/v1/auth/verify-email", json={"token": token}))

    linked: dict[uuid.UUID, uuid.UUID | None] = dict(
        admin_sql("SELECT id, user_id FROM patients WHERE lower(email::text) = %s", [address])
    )
    # One chart per organization: the oldest of the other hospital's two.
    assert linked == {
        uuid.UUID(ours["id"]): user_id,
        uuid.UUID(theirs["id"]): user_id,
        uuid.UUID(duplicate["id"]): None,
        uuid.UUID(deleted["id"]): None,
    }
    titles = admin_sql("SELECT title FROM notifications WHERE user_id = %s ORDER BY seq", [user_id])
    assert len(titles) == 2
    assert len(await mail_to(app, address, "patient_chart_linked")) == 2
    assert admin_sql(
        "SELECT count(*) FROM activity_logs WHERE action = 'patient.linked' AND user_id = %s",
        [user_id],
    ) == [(2,)]


async def test_verifying_skips_an_organization_where_the_account_has_a_chart(
    app: FastAPI, client: httpx.AsyncClient, hospital: Tenant, admin_sql: AdminSql
) -> None:
    address = f"twice-{uuid.uuid4().hex[:8]}@example.org"
    registered = await register(client, email=address, role="patient")
    user_id = uuid.UUID(registered.json()["data"]["user_id"])
    unlinked = await create_chart(client, hospital.admin.headers, email=address)
    # Meanwhile the account got a chart here another way (e.g. a booking).
    admin_sql(
        "INSERT INTO patients (id, organization_id, mrn, user_id, first_name, last_name,"
        " date_of_birth, sex) VALUES (%s, %s, 'MRN-900000', %s, 'A', 'B', '1990-01-01',"
        " 'unknown')",
        [uuid.uuid4(), hospital.id, user_id],
    )
    token = await link_token(app, address, "verify_email", "verify-email")

    data(await client.post("/api/v1/auth/verify-email", json={"token": token}))

    assert admin_sql("SELECT user_id FROM patients WHERE id = %s", [uuid.UUID(unlinked["id"])]) == [
        (None,)
    ]


async def test_verifying_a_non_patient_account_links_nothing(
    app: FastAPI, client: httpx.AsyncClient, hospital: Tenant, admin_sql: AdminSql
) -> None:
    address = f"customer-{uuid.uuid4().hex[:8]}@example.org"
    await create_chart(client, hospital.admin.headers, email=address)
    await register(client, email=address, role="customer")
    token = await link_token(app, address, "verify_email", "verify-email")

    data(await client.post("/api/v1/auth/verify-email", json={"token": token}))

    assert admin_sql("SELECT count(*) FROM patients WHERE user_id IS NOT NULL") == [(0,)]
