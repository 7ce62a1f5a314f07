"""Row-level security on the doctors' tables, and the public views as the only window
across organizations."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from medhub.kit.db import Database
from medhub.kit.tenancy import set_tenant_context
from medhub.models.doctors import AvailabilityException, AvailabilityRule, DoctorProfile
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import ISSUE_AVAILABILITY, doctor_with_profile
from tests.factories import Factory


async def test_rls_shows_an_organization_only_its_own_doctors_rows(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
) -> None:
    ours = await doctor_with_profile(client, factory, hospital.id, availability=ISSUE_AVAILABILITY)
    theirs = await doctor_with_profile(
        client, factory, other_hospital.id, availability=ISSUE_AVAILABILITY
    )

    async with database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=hospital.admin.id, organization_id=hospital.id, role="admin"
        )
        profiles = set((await session.execute(select(DoctorProfile.user_id))).scalars())
        rules = set((await session.execute(select(AvailabilityRule.doctor_id))).scalars())
        days = set((await session.execute(select(AvailabilityException.doctor_id))).scalars())
    assert profiles == rules == days == {ours.id}

    async with database.unit_of_work() as session:
        await set_tenant_context(
            session, user_id=theirs.id, organization_id=other_hospital.id, role="doctor"
        )
        assert set((await session.execute(select(DoctorProfile.user_id))).scalars()) == {theirs.id}

    # No context, no rows.
    async with database.unit_of_work() as session:
        assert (await session.execute(select(DoctorProfile.user_id))).scalars().all() == []
        assert (await session.execute(select(AvailabilityRule.id))).scalars().all() == []


async def test_rls_refuses_a_profile_written_into_another_organization(
    database: Database, factory: Factory, hospital: Tenant, other_hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)

    async def write_into_the_other_organization() -> None:
        async with database.unit_of_work() as session:
            await set_tenant_context(
                session, user_id=doctor.id, organization_id=hospital.id, role="doctor"
            )
            session.add(
                DoctorProfile(
                    user_id=doctor.id,
                    organization_id=other_hospital.id,
                    specialty="Cardiology",
                    license_number="X",
                    consultation_fee=10,
                    currency="EUR",
                    timezone="UTC",
                )
            )
            await session.flush()

    with pytest.raises(DBAPIError, match="row-level security"):
        await write_into_the_other_organization()


async def test_the_public_views_need_no_context_and_cannot_be_written(
    client: httpx.AsyncClient, database: Database, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=ISSUE_AVAILABILITY
    )
    async with database.unit_of_work() as session:
        names = (await session.execute(text("SELECT full_name FROM public_doctors"))).all()
        rules = (
            await session.execute(text("SELECT count(*) FROM public_doctor_availability_rules"))
        ).scalar_one()
    assert names == [("Dr. Ada Meyer",)]
    assert rules == 1

    for statement in (
        "UPDATE public_doctors SET full_name = 'Mallory'",
        "DELETE FROM public_doctor_availability_rules",
        "DELETE FROM public_doctor_availability_exceptions",
        f"INSERT INTO public_doctors (id, full_name) VALUES ('{doctor.id}', 'x')",
    ):
        with pytest.raises(DBAPIError, match=r"cannot|permission denied"):
            await _run(database, statement)


async def _run(database: Database, statement: str) -> None:
    async with database.unit_of_work() as session:
        await session.execute(text(statement))
