"""GET/PUT /api/v1/doctors/me/profile: a doctor's own profile, created by the first PUT."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import MY_PROFILE, AdminSql, data, profile_body
from tests.factories import Factory

AuditRows = Callable[[uuid.UUID], list[tuple[Any, ...]]]


async def test_the_first_put_creates_the_profile_and_the_next_replaces_it(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, audit_rows: AuditRows
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)

    created = data(await client.put(MY_PROFILE, json=profile_body(), headers=doctor.headers), 201)

    assert created["id"] == str(doctor.id)
    assert created["organization_id"] == str(hospital.id)
    assert created["specialty"] == "Cardiology"
    assert created["license_number"] == "LIC-12345"
    assert created["qualifications"] == ["MD", "FESC"]
    assert created["years_of_experience"] == 12
    assert created["languages"] == ["en", "de"]
    assert created["consultation_fee"] == 80.0
    assert created["currency"] == "EUR"
    assert created["offers_video"] is True
    assert created["is_listed"] is True
    assert created["timezone"] == "Europe/Berlin"
    assert created["rating_average"] is None
    assert created["rating_count"] == 0
    assert created["is_approved"] is True
    assert created["in_directory"] is True
    assert data(await client.get(MY_PROFILE, headers=doctor.headers)) == created

    changed = profile_body(
        specialty="Dermatology", consultation_fee="95.50", is_listed=False, bio=None
    )
    updated = data(await client.put(MY_PROFILE, json=changed, headers=doctor.headers))
    assert updated["specialty"] == "Dermatology"
    assert updated["consultation_fee"] == 95.5
    assert updated["bio"] is None
    assert updated["is_listed"] is False
    assert updated["in_directory"] is False
    assert updated["created_at"] == created["created_at"]
    assert data(await client.get(MY_PROFILE, headers=doctor.headers)) == updated

    rows = audit_rows(doctor.id)
    assert [row[0] for row in rows] == ["doctor_profile_created", "doctor_profile_updated"]
    assert all(row[1] == hospital.id and row[2] == doctor.id for row in rows)
    assert rows[1][3]["fields"] == ["bio", "consultation_fee", "is_listed", "specialty"]


async def test_codes_are_normalised_and_optional_fields_default(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    body = {
        "specialty": "General practice",
        "license_number": "GP-1",
        "consultation_fee": "0",
        "currency": "usd",
        "languages": ["EN", "en", " fr "],
        "timezone": "America/New_York",
    }
    profile = data(await client.put(MY_PROFILE, json=body, headers=doctor.headers), 201)
    assert profile["currency"] == "USD"
    assert profile["languages"] == ["en", "fr"]
    assert profile["consultation_fee"] == 0.0
    assert profile["qualifications"] == []
    assert profile["years_of_experience"] == 0
    assert profile["bio"] is None
    assert profile["offers_video"] is False
    assert profile["is_listed"] is True


async def test_no_profile_yet_is_not_found(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    assert_error(await client.get(MY_PROFILE, headers=doctor.headers), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"currency": "E1R"}, "currency"),
        ({"consultation_fee": "-1"}, "consultation_fee"),
        ({"consultation_fee": "10.123"}, "consultation_fee"),
        ({"languages": ["english"]}, "languages"),
        ({"languages": ["xx"]}, "languages"),
        # Found by the API fuzzing: a non-string item was a TypeError (500).
        ({"languages": [{"code": "en"}]}, "languages"),
        ({"languages": [["en"]]}, "languages"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "europe/berlin"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"years_of_experience": 81}, "years_of_experience"),
        ({"specialty": ""}, "specialty"),
        ({"license_number": ""}, "license_number"),
        ({"rating_average": 5}, "rating_average"),
        ({"rating_count": 100}, "rating_count"),
    ],
)
async def test_bad_input_is_refused_with_the_field_named(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    overrides: dict[str, Any],
    field: str,
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    response = await client.put(MY_PROFILE, json=profile_body(**overrides), headers=doctor.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert_error(await client.get(MY_PROFILE, headers=doctor.headers), 404)


async def test_required_fields_are_named(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id)
    response = await client.put(MY_PROFILE, json={}, headers=doctor.headers)
    assert_error(
        response,
        400,
        "VALIDATION_ERROR",
        fields={"specialty", "license_number", "consultation_fee", "currency", "timezone"},
    )


async def test_anonymous_callers_must_log_in(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(MY_PROFILE), 401, "AUTHENTICATION_ERROR")
    assert_error(await client.put(MY_PROFILE, json=profile_body()), 401, "AUTHENTICATION_ERROR")


@pytest.mark.parametrize("role", ["patient", "admin", "super_admin", "pharmacist", "customer"])
async def test_other_roles_have_no_doctor_profile(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, role: str
) -> None:
    organization_id = hospital.id if role in {"admin", "pharmacist"} else None
    account = await factory.user(role, organization_id=organization_id)
    assert_error(await client.get(MY_PROFILE, headers=account.headers), 403, "AUTHORIZATION_ERROR")
    response = await client.put(MY_PROFILE, json=profile_body(), headers=account.headers)
    assert_error(response, 403, "AUTHORIZATION_ERROR")


async def test_an_unapproved_doctor_edits_their_profile_but_is_not_in_the_directory(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await factory.user("doctor", organization_id=hospital.id, approved=False)
    profile = data(await client.put(MY_PROFILE, json=profile_body(), headers=doctor.headers), 201)
    assert profile["is_approved"] is False
    assert profile["in_directory"] is False


async def test_a_self_registered_doctor_without_an_organization_keeps_a_profile(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    doctor = await factory.user("doctor", approved=False)
    profile = data(await client.put(MY_PROFILE, json=profile_body(), headers=doctor.headers), 201)
    assert profile["organization_id"] is None
    assert profile["in_directory"] is False
    assert data(await client.get(MY_PROFILE, headers=doctor.headers))["id"] == str(doctor.id)


async def test_each_doctor_writes_only_their_own_profile(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    """Each doctor's PUT writes their own row: two doctors, two rows, each intact."""
    first = await factory.user("doctor", organization_id=hospital.id)
    second = await factory.user("doctor", organization_id=other_hospital.id)
    await client.put(MY_PROFILE, json=profile_body(specialty="Neurology"), headers=first.headers)
    await client.put(MY_PROFILE, json=profile_body(specialty="Oncology"), headers=second.headers)
    rows = admin_sql(
        "SELECT user_id, organization_id, specialty::text FROM doctor_profiles ORDER BY specialty"
    )
    assert rows == [
        (first.id, hospital.id, "Neurology"),
        (second.id, other_hospital.id, "Oncology"),
    ]
