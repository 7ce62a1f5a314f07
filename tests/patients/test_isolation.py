"""Tenant isolation in PostgreSQL itself (row-level security under the application's
role), and encryption at rest: the sensitive columns hold no plaintext."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.models.patients import Patient
from tests.factories import Factory
from tests.patients.conftest import Tenant
from tests.patients.helpers import PATIENTS, PROFILE, AdminSql, create_chart, data, full_chart_body


async def test_rls_shows_an_organization_only_its_own_charts(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
) -> None:
    patient = await factory.user("patient", login=False)
    ours = await create_chart(client, hospital.admin.headers, email=patient.email)
    theirs = await create_chart(client, other_hospital.admin.headers)

    async with database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=hospital.doctor.id, organization_id=hospital.id, role="doctor"
        )
        # No WHERE at all: the policy alone decides.
        visible = set((await session.execute(select(Patient.id))).scalars())
        # Nor by guessing the id.
        guessed = await session.execute(
            select(Patient.id).where(Patient.id == uuid.UUID(theirs["id"]))
        )
        assert guessed.first() is None
    assert visible == {uuid.UUID(ours["id"])}

    # The linked patient, in no organization, sees their own chart and nothing else.
    async with database.unit_of_work() as session:
        await set_tenant_context(session, user_id=patient.id, organization_id=None, role="patient")
        assert set((await session.execute(select(Patient.id))).scalars()) == {uuid.UUID(ours["id"])}

    # No context, no rows.
    async with database.unit_of_work() as session:
        assert (await session.execute(select(Patient.id))).scalars().all() == []
        assert (
            await session.execute(text("SELECT count(*) FROM patient_invitations"))
        ).scalar() == 0


async def test_rls_refuses_a_chart_written_into_another_organization(
    database: Database, hospital: Tenant, other_hospital: Tenant
) -> None:
    async def write_into_the_other_organization() -> None:
        async with database.unit_of_work() as session:
            await set_tenant_context(
                session, user_id=hospital.admin.id, organization_id=hospital.id, role="admin"
            )
            session.add(
                Patient(
                    organization_id=other_hospital.id,
                    mrn="MRN-999999",
                    first_name="A",
                    last_name="B",
                    date_of_birth=date(1990, 1, 1),
                )
            )
            await session.flush()

    with pytest.raises(DBAPIError, match="row-level security"):
        await write_into_the_other_organization()


async def test_sensitive_fields_are_ciphertext_at_rest(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    body = full_chart_body()
    chart = data(await client.post(PATIENTS, json=body, headers=hospital.doctor.headers), 201)
    patient = await factory.user("patient")
    data(
        await client.put(
            PROFILE,
            json={
                "phone": "+44 20 7946 0958",
                "allergies": ["Sulfonamidexyz"],
                "emergency_contact": {"name": "Zed Contactxyz"},
            },
            headers=patient.headers,
        )
    )

    [raw] = admin_sql(
        "SELECT phone, national_id, insurance_number, address, emergency_contact, allergies,"
        " chronic_conditions, phone_index, national_id_index FROM patients WHERE id = %s",
        [uuid.UUID(chart["id"])],
    )
    stored = b"".join(bytes(column) for column in raw)
    for plaintext in (
        "5550-1234",
        "55501234",
        "NID-778899-XQ",
        "778899",
        "INS-4455-ZZ",
        "Harbor Street",
        "Bob Lee",
        "Penicillinallergyxyz",
        "Asthmaconditionxyz",
    ):
        assert plaintext.encode() not in stored, plaintext
    # Each value is sealed with the current key version (first byte) and a random nonce.
    assert all(bytes(column)[0] == 1 for column in raw[:7])
    assert len(bytes(raw[7])) == len(bytes(raw[8])) == 32

    [profile] = admin_sql(
        "SELECT phone, allergies, emergency_contact FROM patient_profiles WHERE user_id = %s",
        [patient.id],
    )
    stored = b"".join(bytes(column) for column in profile)
    for plaintext in ("7946", "Sulfonamidexyz", "Zed Contactxyz"):
        assert plaintext.encode() not in stored, plaintext

    # Decrypted for the organization's doctor.
    read = data(await client.get(f"{PATIENTS}/{chart['id']}", headers=hospital.doctor.headers))
    assert read["national_id"] == body["national_id"]
    assert read["allergies"] == body["allergies"]
