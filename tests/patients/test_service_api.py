"""What other domains call: `chart_for_account` (a booking patient's chart, created on
first booking) and `get_patient` (a chart as a principal may see it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from medhub.authz.principal import AuthMethod, Principal
from medhub.kit.db import Database
from medhub.kit.errors import PermissionDenied, ValidationFailed
from medhub.kit.tenancy import set_tenant_context
from medhub.models.patients import Patient
from medhub.patients import service
from medhub.patients.exceptions import PatientNotFound
from medhub.users import service as users
from tests.factories import Account, Factory
from tests.patients.conftest import Tenant, save_profile
from tests.patients.helpers import AdminSql


async def booked_chart(database: Database, patient: Account, organization_id: uuid.UUID) -> Patient:
    """`chart_for_account` as a booking patient's request runs it: in the patient's
    context (no organization), committed."""
    async with database.unit_of_work() as session:
        await set_tenant_context(session, user_id=patient.id, organization_id=None, role="patient")
        user = await users.get_user(session, patient.id)
        return await service.chart_for_account(session, organization_id=organization_id, user=user)


def principal_of(account: Account, *, approved: bool = True) -> Principal:
    return Principal(
        role=account.role,
        organization_id=account.organization_id,
        method=AuthMethod.bearer,
        user_id=account.id,
        is_approved=approved,
    )


async def read_as(database: Database, principal: Principal, patient_id: uuid.UUID) -> Patient:
    async with database.unit_of_work() as session:
        await set_tenant_context(
            session,
            user_id=principal.user_id,
            organization_id=principal.organization_id,
            role=principal.role,
        )
        return await service.get_patient(session, principal, patient_id)


async def test_the_first_booking_creates_a_linked_chart_from_the_account_and_profile(
    database: Database,
    factory: Factory,
    hospital: Tenant,
    admin_sql: AdminSql,
    audit_rows: Callable[[uuid.UUID], list[tuple[Any, ...]]],
) -> None:
    patient = await factory.user("patient", full_name="Mary Ann Lee", login=False)
    await save_profile(
        database, patient, date_of_birth=date(1990, 5, 17), sex="female", phone="+49 30 1234567"
    )

    chart = await booked_chart(database, patient, hospital.id)

    assert (chart.first_name, chart.last_name) == ("Mary Ann", "Lee")
    assert chart.date_of_birth == date(1990, 5, 17)
    assert chart.sex == "female"
    assert chart.phone == "+49 30 1234567"
    assert chart.email == patient.email
    assert chart.user_id == patient.id
    assert chart.organization_id == hospital.id
    assert chart.mrn == "MRN-000001"
    # The blind index is filled, so staff find the chart by phone.
    [(indexed,)] = admin_sql(
        "SELECT phone_index IS NOT NULL FROM patients WHERE id = %s", [chart.id]
    )
    assert indexed is True
    [(action, organization_id, user_id, metadata)] = audit_rows(chart.id)
    assert (action, organization_id, user_id) == ("patient.created", hospital.id, patient.id)
    assert metadata == {"source": "account"}

    again = await booked_chart(database, patient, hospital.id)
    assert again.id == chart.id
    assert len(audit_rows(chart.id)) == 1


async def test_each_organization_gets_its_own_chart_with_its_own_mrn(
    database: Database, factory: Factory, hospital: Tenant, other_hospital: Tenant
) -> None:
    patient = await factory.user("patient", login=False)
    await save_profile(database, patient, date_of_birth=date(1971, 1, 1))

    ours = await booked_chart(database, patient, hospital.id)
    theirs = await booked_chart(database, patient, other_hospital.id)

    assert ours.id != theirs.id
    assert ours.mrn == theirs.mrn == "MRN-000001"
    assert ours.sex == "unknown"
    assert ours.phone is None


async def test_without_a_date_of_birth_the_patient_is_asked_to_fill_in_the_profile(
    database: Database, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient", login=False)

    with pytest.raises(ValidationFailed) as no_profile:
        await booked_chart(database, patient, hospital.id)
    await save_profile(database, patient, date_of_birth=None)
    with pytest.raises(ValidationFailed) as no_date:
        await booked_chart(database, patient, hospital.id)

    for raised in (no_profile.value, no_date.value):
        assert raised.status_code == 400
        assert raised.code == "VALIDATION_ERROR"
        assert "/patients/profile" in raised.message
        assert [d.field for d in raised.details] == ["date_of_birth"]
    assert admin_sql("SELECT count(*) FROM patients") == [(0,)]


async def test_ten_simultaneous_first_bookings_make_one_chart(
    database: Database, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient", login=False)
    await save_profile(database, patient, date_of_birth=date(1985, 3, 3))

    charts = await asyncio.gather(
        *(booked_chart(database, patient, hospital.id) for _ in range(10))
    )

    assert len({chart.id for chart in charts}) == 1
    assert admin_sql(
        "SELECT count(*), min(mrn) FROM patients WHERE user_id = %s", [patient.id]
    ) == [(1, "MRN-000001")]
    # No MRN was drawn for nothing: the next chart gets the next number.
    assert admin_sql(
        "SELECT last_value FROM patient_mrn_counters WHERE organization_id = %s", [hospital.id]
    ) == [(1,)]
    assert admin_sql("SELECT count(*) FROM activity_logs WHERE action = 'patient.created'") == [
        (1,)
    ]


async def test_a_deleted_chart_does_not_count_and_a_new_one_is_made(
    database: Database, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    patient = await factory.user("patient", login=False)
    await save_profile(database, patient, date_of_birth=date(1985, 3, 3))
    first = await booked_chart(database, patient, hospital.id)
    admin_sql("UPDATE patients SET deleted_at = now() WHERE id = %s", [first.id])

    second = await booked_chart(database, patient, hospital.id)

    assert second.id != first.id
    assert second.mrn == "MRN-000002"


async def test_get_patient_answers_for_the_organization_and_the_linked_patient_only(
    database: Database,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    patient = await factory.user("patient", login=False)
    stranger = await factory.user("patient", login=False)
    pharmacist = await factory.user("pharmacist", organization_id=hospital.id, login=False)
    await save_profile(database, patient, date_of_birth=date(1960, 12, 31))
    chart = await booked_chart(database, patient, hospital.id)

    for allowed in (hospital.admin, hospital.doctor, patient):
        found = await read_as(database, principal_of(allowed), chart.id)
        assert found.id == chart.id
        assert found.phone is None  # decrypted (and NULL) rather than raw bytes

    refused = [
        principal_of(other_hospital.admin),
        principal_of(other_hospital.doctor),
        principal_of(stranger),
        principal_of(pharmacist),
        principal_of(hospital.doctor, approved=False),
    ]
    for principal in refused:
        with pytest.raises(PatientNotFound):
            await read_as(database, principal, chart.id)
    with pytest.raises(PatientNotFound):
        await read_as(database, principal_of(hospital.admin), uuid.uuid4())

    admin_sql("UPDATE patients SET deleted_at = now() WHERE id = %s", [chart.id])
    for account in (hospital.admin, patient):
        with pytest.raises(PatientNotFound):
            await read_as(database, principal_of(account), chart.id)


async def test_only_patient_accounts_get_a_chart_of_their_own(
    database: Database, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    customer = await factory.user("customer", login=False)
    await save_profile(database, customer, date_of_birth=date(1985, 3, 3))

    with pytest.raises(PermissionDenied):
        await booked_chart(database, customer, hospital.id)
    assert admin_sql("SELECT count(*) FROM patients") == [(0,)]
