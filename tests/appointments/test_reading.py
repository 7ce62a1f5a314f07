"""GET /api/v1/appointments and /appointments/{id}: a patient sees their own (at every
organization), a doctor their own, an organization's admin the organization's; anyone
else's appointment is not found."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.appointments.helpers import (
    APPOINTMENTS,
    UNKNOWN,
    Clinic,
    berlin,
    booked,
    cancel,
    data,
    in_days,
    staff_chart,
)
from tests.assertions import assert_error
from tests.factories import Account, Factory


async def ids(client: httpx.AsyncClient, who: Account, **params: Any) -> list[str]:
    page = data(await client.get(APPOINTMENTS, params=params, headers=who.headers))
    return [item["id"] for item in page["appointments"]]


@pytest.fixture
async def agenda(
    client: httpx.AsyncClient, clinic: Clinic, other_clinic: Clinic, patient: Account, bob: Account
) -> dict[str, dict[str, Any]]:
    """Ann (`patient`) at two organizations, Bob at one, a chart without an account."""
    chart = await staff_chart(client, clinic.admin)
    return {
        "ann_doctor": await booked(client, patient, berlin(in_days(10), "09:00"), clinic.doctor),
        "ann_colleague": await booked(
            client, patient, berlin(in_days(11), "09:00"), clinic.colleague, type="video"
        ),
        "ann_elsewhere": await booked(
            client, patient, berlin(in_days(12), "09:00"), other_clinic.doctor
        ),
        "bob_doctor": await booked(client, bob, berlin(in_days(13), "09:00"), clinic.doctor),
        "chart_colleague": await booked(
            client,
            clinic.admin,
            berlin(in_days(14), "09:00"),
            clinic.colleague,
            patient_id=chart["id"],
        ),
    }


async def test_each_role_lists_its_own_share(
    client: httpx.AsyncClient,
    clinic: Clinic,
    other_clinic: Clinic,
    patient: Account,
    agenda: dict[str, dict[str, Any]],
) -> None:
    def of(*names: str) -> list[str]:
        return [agenda[name]["id"] for name in names]

    assert await ids(client, patient) == of("ann_doctor", "ann_colleague", "ann_elsewhere")
    assert await ids(client, clinic.doctor) == of("ann_doctor", "bob_doctor")
    assert await ids(client, clinic.colleague) == of("ann_colleague", "chart_colleague")
    assert await ids(client, clinic.admin) == of(
        "ann_doctor", "ann_colleague", "bob_doctor", "chart_colleague"
    )
    assert await ids(client, other_clinic.admin) == of("ann_elsewhere")


async def test_the_list_filters_and_pages(
    client: httpx.AsyncClient, clinic: Clinic, patient: Account, agenda: dict[str, dict[str, Any]]
) -> None:
    admin = clinic.admin
    ann_chart = agenda["ann_doctor"]["patient_id"]
    await cancel(client, admin, agenda["bob_doctor"]["id"])

    assert await ids(client, admin, doctor_id=str(clinic.doctor.id)) == [
        agenda["ann_doctor"]["id"],
        agenda["bob_doctor"]["id"],
    ]
    assert await ids(client, admin, patient_id=ann_chart) == [
        agenda["ann_doctor"]["id"],
        agenda["ann_colleague"]["id"],
    ]
    assert await ids(client, admin, type="video") == [agenda["ann_colleague"]["id"]]
    assert await ids(client, admin, status="cancelled") == [agenda["bob_doctor"]["id"]]
    day = in_days(11).isoformat()
    assert await ids(client, admin, **{"from": day, "to": day}) == [agenda["ann_colleague"]["id"]]
    assert await ids(client, admin, **{"from": in_days(13).isoformat()}) == [
        agenda["bob_doctor"]["id"],
        agenda["chart_colleague"]["id"],
    ]
    newest_first = await ids(client, admin, order="desc")
    assert newest_first[0] == agenda["chart_colleague"]["id"]

    page = data(
        await client.get(APPOINTMENTS, params={"limit": 3, "page": 2}, headers=admin.headers)
    )
    assert [item["id"] for item in page["appointments"]] == [agenda["chart_colleague"]["id"]]
    assert page["pagination"] == {"page": 2, "limit": 3, "total": 4, "total_pages": 2}
    empty = data(
        await client.get(APPOINTMENTS, params={"status": "no_show"}, headers=admin.headers)
    )
    assert empty == {
        "appointments": [],
        "pagination": {"page": 1, "limit": 20, "total": 0, "total_pages": 0},
    }


async def test_bad_filters_are_400(client: httpx.AsyncClient, clinic: Clinic) -> None:
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"type": "phone"}, "type"),
        ({"doctor_id": "x"}, "doctor_id"),
        ({"from": "2027-02-30"}, "from"),
        ({"from": "2027-03-02", "to": "2027-03-01"}, "from"),
        ({"limit": 101}, "limit"),
        ({"sort": "fee"}, "sort"),
    ):
        response = await client.get(APPOINTMENTS, params=params, headers=clinic.admin.headers)
        assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_one_appointment_for_those_who_see_it(  # noqa: PLR0917
    client: httpx.AsyncClient,
    clinic: Clinic,
    other_clinic: Clinic,
    patient: Account,
    bob: Account,
    agenda: dict[str, dict[str, Any]],
) -> None:
    appointment = agenda["ann_doctor"]
    path = f"{APPOINTMENTS}/{appointment['id']}"

    # The booking's answer also said how to pay the fee (billing); reading does not.
    for who in (patient, clinic.doctor, clinic.admin):
        assert data(await client.get(path, headers=who.headers)) == {**appointment, "payment": None}
    # Another patient, a colleague, another organization: not found, whatever exists.
    for who in (bob, clinic.colleague, other_clinic.admin, other_clinic.doctor):
        assert_error(await client.get(path, headers=who.headers), 404, "NOT_FOUND")
    assert_error(await client.get(f"{APPOINTMENTS}/{UNKNOWN}", headers=clinic.admin.headers), 404)
    assert_error(await client.get(f"{APPOINTMENTS}/nope", headers=clinic.admin.headers), 400)


async def test_reading_needs_an_account_of_a_role_with_appointments(
    client: httpx.AsyncClient, factory: Factory, agenda: dict[str, dict[str, Any]]
) -> None:
    path = f"{APPOINTMENTS}/{agenda['ann_doctor']['id']}"
    assert_error(await client.get(APPOINTMENTS), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.get(path), 401, "AUTHENTICATION_ERROR")
    pharmacy = await factory.organization("pharmacy")
    for who in (
        await factory.user("pharmacist", organization_id=pharmacy.id),
        await factory.user("customer"),
        await factory.user("super_admin"),
    ):
        assert_error(await client.get(APPOINTMENTS, headers=who.headers), 403)
        assert_error(await client.get(path, headers=who.headers), 403)
