"""GET/PUT /api/v1/doctors/me/availability (the doctor) and /doctors/{id}/availability
(the admins of the doctor's organization): weekly rules and dated exceptions, replaced
as a whole."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import (
    DOCTORS,
    ISSUE_AVAILABILITY,
    MY_AVAILABILITY,
    MY_PROFILE,
    UNKNOWN,
    AdminSql,
    availability_body,
    data,
    doctor_with_profile,
    profile_body,
)
from tests.factories import Factory

AuditRows = Callable[[uuid.UUID], list[tuple[Any, ...]]]


def availability_of(doctor_id: uuid.UUID) -> str:
    return f"{DOCTORS}/{doctor_id}/availability"


async def test_a_doctor_sets_the_issues_availability_and_reads_it_back(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_rows: AuditRows
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id, timezone="UTC")

    saved = data(await client.put(MY_AVAILABILITY, json=ISSUE_AVAILABILITY, headers=doctor.headers))

    expected = {
        "doctor_id": str(doctor.id),
        "timezone": "Europe/Berlin",
        "rules": [{"weekday": 1, "start": "09:00", "end": "17:00", "slot_minutes": 30}],
        "exceptions": [
            {
                "date": "2026-12-24",
                "available": False,
                "start": None,
                "end": None,
                "slot_minutes": None,
            },
            # Extra hours without a slot length take the rules' (30 here: Monday's).
            {
                "date": "2026-12-27",
                "available": True,
                "start": "10:00",
                "end": "12:00",
                "slot_minutes": 30,
            },
        ],
    }
    assert saved == expected
    assert data(await client.get(MY_AVAILABILITY, headers=doctor.headers)) == expected
    # The zone is the profile's.
    assert data(await client.get(MY_PROFILE, headers=doctor.headers))["timezone"] == (
        "Europe/Berlin"
    )
    (row,) = [r for r in audit_rows(doctor.id) if r[0] == "doctor_availability_updated"]
    assert row[1] == hospital.id
    assert row[3]["by"] == "doctor"
    assert row[3]["rules"] == 1
    assert row[3]["exceptions"] == 2
    assert row[3]["previous_timezone"] == "UTC"


async def test_a_put_replaces_the_whole_set(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=ISSUE_AVAILABILITY
    )
    body = availability_body(
        (2, "08:00", "12:00", 20),
        (2, "12:00", "13:00", 60),
        (5, "14:00", "24:00", 15),
        exceptions=[
            {
                "date": "2027-01-05",
                "available": True,
                "start": "07:00",
                "end": "09:00",
                "slot_minutes": 40,
            }
        ],
    )

    saved = data(await client.put(MY_AVAILABILITY, json=body, headers=doctor.headers))

    assert saved["rules"] == [
        {"weekday": 2, "start": "08:00", "end": "12:00", "slot_minutes": 20},
        {"weekday": 2, "start": "12:00", "end": "13:00", "slot_minutes": 60},
        {"weekday": 5, "start": "14:00", "end": "24:00", "slot_minutes": 15},
    ]
    assert [e["date"] for e in saved["exceptions"]] == ["2027-01-05"]
    assert saved["exceptions"][0]["slot_minutes"] == 40
    counts = admin_sql(
        "SELECT (SELECT count(*) FROM doctor_availability_rules WHERE doctor_id = %(d)s),"
        " (SELECT count(*) FROM doctor_availability_exceptions WHERE doctor_id = %(d)s)",
        {"d": doctor.id},
    )
    assert counts == [(3, 1)]

    emptied = data(
        await client.put(
            MY_AVAILABILITY, json={"timezone": "Europe/Berlin", "rules": []}, headers=doctor.headers
        )
    )
    assert emptied["rules"] == []
    assert emptied["exceptions"] == []


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """The issue's body with one value replaced (or removed, for `...`)."""
    body = copy.deepcopy(ISSUE_AVAILABILITY)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_with(("rules", 0, "weekday"), 0), "rules.0.weekday"),
        (_with(("rules", 0, "weekday"), 8), "rules.0.weekday"),
        (_with(("rules", 0, "end"), "09:00"), "rules.0.end"),
        (_with(("rules", 0, "end"), "08:00"), "rules.0.end"),
        (_with(("rules", 0, "start"), "9:00"), "rules.0.start"),
        (_with(("rules", 0, "start"), "24:00"), "rules.0.start"),
        (_with(("rules", 0, "end"), "25:00"), "rules.0.end"),
        (_with(("rules", 0, "slot_minutes"), 4), "rules.0.slot_minutes"),
        (_with(("rules", 0, "slot_minutes"), 241), "rules.0.slot_minutes"),
        (_with(("rules", 0, "end"), "09:20"), "rules.0.slot_minutes"),
        (_with(("rules", 0, "slot_minutes"), ...), "rules.0.slot_minutes"),
        (_with(("rules",), ...), "rules"),
        (_with(("timezone",), "Berlin"), "timezone"),
        (_with(("timezone",), ...), "timezone"),
        (_with(("exceptions", 1, "start"), ...), "exceptions.1.start"),
        (_with(("exceptions", 1, "end"), ...), "exceptions.1.end"),
        (_with(("exceptions", 1, "end"), "10:00"), "exceptions.1.end"),
        (_with(("exceptions", 0, "start"), "10:00"), "exceptions.0.start"),
        (_with(("exceptions", 0, "slot_minutes"), 30), "exceptions.0.slot_minutes"),
        (_with(("exceptions", 1, "slot_minutes"), 180), "exceptions.1.slot_minutes"),
        (_with(("exceptions", 1, "date"), "2026-02-30"), "exceptions.1.date"),
        (_with(("exceptions", 1, "date"), "27.12.2026"), "exceptions.1.date"),
        (_with(("exceptions", 1, "available"), ...), "exceptions.1.available"),
        (_with(("rules", 0, "note"), "x"), "rules.0.note"),
        (_with(("extra",), True), "extra"),
    ],
)
async def test_bad_input_is_refused_with_the_field_named(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    body: dict[str, Any],
    field: str,
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    response = await client.put(MY_AVAILABILITY, json=body, headers=doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert data(await client.get(MY_AVAILABILITY, headers=doctor.headers))["rules"] == []


async def test_overlapping_rules_of_one_weekday_are_refused(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    overlapping = availability_body(
        (1, "09:00", "12:00", 30), (3, "08:00", "09:00", 30), (1, "11:30", "14:00", 30)
    )
    response = await client.put(MY_AVAILABILITY, json=overlapping, headers=doctor.headers)
    error = assert_error(response, 400, "VALIDATION_ERROR", fields={"rules"})
    assert "rules 0 and 2 overlap on weekday 1" in error["details"][0]["message"]
    # Touching windows, and the same hours on other days, are fine.
    touching = availability_body(
        (1, "09:00", "12:00", 30), (1, "12:00", "14:00", 30), (2, "09:00", "12:00", 30)
    )
    data(await client.put(MY_AVAILABILITY, json=touching, headers=doctor.headers))


async def test_an_exception_date_appears_once(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    body = availability_body(
        (1, "09:00", "12:00", 30),
        exceptions=[
            {"date": "2026-12-24", "available": False},
            {"date": "2026-12-24", "available": True, "start": "10:00", "end": "11:00"},
        ],
    )
    response = await client.put(MY_AVAILABILITY, json=body, headers=doctor.headers)
    error = assert_error(response, 400, "VALIDATION_ERROR", fields={"exceptions"})
    assert "2026-12-24" in error["details"][0]["message"]


async def test_extra_hours_too_short_for_the_inherited_slot_leave_the_old_set_intact(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=ISSUE_AVAILABILITY
    )
    body = availability_body(
        (7, "09:00", "12:00", 60),
        exceptions=[{"date": "2027-01-03", "available": True, "start": "10:00", "end": "10:30"}],
    )
    response = await client.put(MY_AVAILABILITY, json=body, headers=doctor.headers)
    error = assert_error(response, 400, "VALIDATION_ERROR", fields={"exceptions.0.end"})
    assert "60 minutes" in error["details"][0]["message"]
    kept = data(await client.get(MY_AVAILABILITY, headers=doctor.headers))
    assert kept["rules"] == ISSUE_AVAILABILITY["rules"]
    assert len(kept["exceptions"]) == 2


async def test_availability_needs_a_profile_first(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    assert_error(await client.get(MY_AVAILABILITY, headers=doctor.headers), 404, "NOT_FOUND")
    response = await client.put(MY_AVAILABILITY, json=ISSUE_AVAILABILITY, headers=doctor.headers)
    assert_error(response, 409, "CONFLICT")


async def test_an_unapproved_doctor_sets_their_availability(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id, approved=False)
    saved = data(await client.put(MY_AVAILABILITY, json=ISSUE_AVAILABILITY, headers=doctor.headers))
    assert len(saved["rules"]) == 1


async def test_anonymous_callers_must_log_in(client: httpx.AsyncClient, hospital: Tenant) -> None:
    assert_error(await client.get(MY_AVAILABILITY), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.put(MY_AVAILABILITY, json=ISSUE_AVAILABILITY), 401)
    assert_error(await client.get(availability_of(UNKNOWN)), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.put(availability_of(UNKNOWN), json=ISSUE_AVAILABILITY), 401)


@pytest.mark.parametrize("role", ["patient", "admin", "super_admin"])
async def test_only_doctors_have_their_own_availability(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, role: str
) -> None:
    account = await factory.user(role, organization_id=hospital.id if role == "admin" else None)
    assert_error(await client.get(MY_AVAILABILITY, headers=account.headers), 403)
    response = await client.put(MY_AVAILABILITY, json=ISSUE_AVAILABILITY, headers=account.headers)
    assert_error(response, 403, "AUTHORIZATION_ERROR")


# The organization's admins


async def test_an_admin_sets_and_reads_a_doctors_availability(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_rows: AuditRows
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    admin = hospital.admin

    saved = data(
        await client.put(availability_of(doctor.id), json=ISSUE_AVAILABILITY, headers=admin.headers)
    )
    assert saved["doctor_id"] == str(doctor.id)
    assert data(await client.get(availability_of(doctor.id), headers=admin.headers)) == saved
    # The doctor sees what the admin set.
    assert data(await client.get(MY_AVAILABILITY, headers=doctor.headers)) == saved

    (row,) = [r for r in audit_rows(doctor.id) if r[0] == "doctor_availability_updated"]
    assert row[1] == hospital.id
    assert row[2] == admin.id
    assert row[3]["by"] == "organization_admin"


async def test_another_organizations_doctor_is_not_found_for_an_admin(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, other_hospital: Tenant
) -> None:
    foreign = await doctor_with_profile(
        client, factory, other_hospital.id, availability=ISSUE_AVAILABILITY
    )
    pharmacist = await factory.user("pharmacist", organization_id=hospital.id, login=False)
    for target in (foreign.id, UNKNOWN, hospital.admin.id, pharmacist.id):
        assert_error(await client.get(availability_of(target), headers=hospital.admin.headers), 404)
        response = await client.put(
            availability_of(target), json=availability_body(), headers=hospital.admin.headers
        )
        assert_error(response, 404, "NOT_FOUND")
    # Nothing changed for the other organization's doctor.
    kept = data(await client.get(MY_AVAILABILITY, headers=foreign.headers))
    assert kept["rules"] == ISSUE_AVAILABILITY["rules"]


async def test_an_admin_cannot_set_availability_before_the_doctor_has_a_profile(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, login=False)
    response = await client.put(
        availability_of(doctor.id), json=ISSUE_AVAILABILITY, headers=hospital.admin.headers
    )
    assert_error(response, 409, "CONFLICT")
    assert_error(await client.get(availability_of(doctor.id), headers=hospital.admin.headers), 404)


@pytest.mark.parametrize("role", ["doctor", "super_admin", "patient", "pharmacist"])
async def test_only_organization_admins_manage_other_doctors_availability(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, role: str
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    in_hospital = role in {"doctor", "pharmacist"}
    account = await factory.user(role, organization_id=hospital.id if in_hospital else None)
    assert_error(await client.get(availability_of(doctor.id), headers=account.headers), 403)
    response = await client.put(
        availability_of(doctor.id), json=ISSUE_AVAILABILITY, headers=account.headers
    )
    assert_error(response, 403, "AUTHORIZATION_ERROR")
    # Not even their own through this path: doctors use /doctors/me/availability.
    response = await client.put(
        availability_of(doctor.id), json=ISSUE_AVAILABILITY, headers=doctor.headers
    )
    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_a_profile_put_keeps_the_availability(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(
        client, factory, hospital.id, availability=ISSUE_AVAILABILITY
    )
    data(
        await client.put(
            MY_PROFILE, json=profile_body(timezone="Europe/Lisbon"), headers=doctor.headers
        )
    )
    kept = data(await client.get(MY_AVAILABILITY, headers=doctor.headers))
    assert kept["timezone"] == "Europe/Lisbon"
    assert kept["rules"] == ISSUE_AVAILABILITY["rules"]
