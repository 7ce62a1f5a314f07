"""GET /api/v1/doctors and /doctors/{id}: the public directory, for anyone.

Only approved, active, listed doctors of active hospitals and clinics are there, with
their public columns only; every other doctor is simply not found.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.doctors.conftest import Tenant
from tests.doctors.helpers import (
    DOCTORS,
    MY_PROFILE,
    UNKNOWN,
    AdminSql,
    availability_body,
    data,
    directory,
    doctor_with_profile,
    listed_ids,
    profile_body,
)
from tests.factories import Factory

Clock = Callable[[datetime], None]

PUBLIC_FIELDS = {
    "id",
    "full_name",
    "organization_id",
    "organization_name",
    "specialty",
    "qualifications",
    "years_of_experience",
    "bio",
    "languages",
    "consultation_fee",
    "currency",
    "offers_video",
    "rating_average",
    "rating_count",
    "timezone",
}


async def test_anyone_finds_a_listed_doctor_with_public_fields_only(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id, full_name="Dr. Ada Meyer")

    page = await directory(client)

    assert page["pagination"] == {"page": 1, "limit": 20, "total": 1, "total_pages": 1}
    (listed,) = page["doctors"]
    assert set(listed) == PUBLIC_FIELDS
    assert listed["id"] == str(doctor.id)
    assert listed["full_name"] == "Dr. Ada Meyer"
    assert listed["organization_id"] == str(hospital.id)
    assert listed["organization_name"] == hospital.organization.name
    assert listed["specialty"] == "Cardiology"
    assert listed["consultation_fee"] == 80.0
    assert listed["languages"] == ["en", "de"]
    assert listed["timezone"] == "Europe/Berlin"
    assert data(await client.get(f"{DOCTORS}/{doctor.id}")) == listed
    # Signed-in callers see the same.
    patient = await factory.user("patient")
    assert data(await client.get(f"{DOCTORS}/{doctor.id}", headers=patient.headers)) == listed


async def test_only_approved_active_listed_doctors_of_active_care_organizations_are_public(
    client: httpx.AsyncClient,
    factory: Factory,
    hospital: Tenant,
    other_hospital: Tenant,
    admin_sql: AdminSql,
) -> None:
    listed = await doctor_with_profile(client, factory, hospital.id)
    unlisted = await doctor_with_profile(client, factory, hospital.id, is_listed=False)
    unapproved = await doctor_with_profile(client, factory, hospital.id, approved=False)
    deactivated = await doctor_with_profile(client, factory, hospital.id)
    suspended = await doctor_with_profile(client, factory, other_hospital.id)
    independent = await doctor_with_profile(client, factory, None, approved=True)
    without_profile = await factory.user("doctor", organization_id=hospital.id, login=False)
    admin_sql("UPDATE users SET is_active = false WHERE id = %s", [deactivated.id])
    admin_sql("UPDATE organizations SET status = 'suspended' WHERE id = %s", [other_hospital.id])

    assert await listed_ids(client) == [str(listed.id)]
    assert data(await client.get(f"{DOCTORS}/{listed.id}"))["id"] == str(listed.id)
    for hidden in (
        unlisted,
        unapproved,
        deactivated,
        suspended,
        independent,
        without_profile,
    ):
        assert_error(await client.get(f"{DOCTORS}/{hidden.id}"), 404, "NOT_FOUND")
    assert_error(await client.get(f"{DOCTORS}/{UNKNOWN}"), 404, "NOT_FOUND")
    # A user who is no doctor is no doctor, even with the right id.
    assert_error(await client.get(f"{DOCTORS}/{hospital.admin.id}"), 404)


async def test_email_phone_and_licence_never_appear_in_public_answers(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql, clock: Clock
) -> None:
    clock(datetime(2026, 1, 1, tzinfo=UTC))
    doctor = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        license_number="SECRET-LICENCE-77",
        availability=availability_body((1, "09:00", "10:00", 30)),
    )
    admin_sql("UPDATE users SET phone = '+49 30 5550199' WHERE id = %s", [doctor.id])

    answers = [
        await client.get(DOCTORS),
        await client.get(DOCTORS, params={"search": "meyer", "available_on": "2026-01-05"}),
        await client.get(f"{DOCTORS}/{doctor.id}"),
        await client.get(
            f"{DOCTORS}/{doctor.id}/slots", params={"from": "2026-01-05", "to": "2026-01-05"}
        ),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert str(doctor.id) in answer.text
        for secret in (doctor.email, "5550199", "SECRET-LICENCE-77", "email", "phone"):
            assert secret not in answer.text


async def test_filters(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, other_hospital: Tenant
) -> None:
    cardio = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="Dr. Clara Herz",
        specialty="Cardiology",
        languages=["de", "en"],
        offers_video=True,
        consultation_fee="120.00",
    )
    derma = await doctor_with_profile(
        client,
        factory,
        other_hospital.id,
        full_name="Dr. Hugo Haut",
        specialty="Dermatology",
        languages=["fr"],
        offers_video=False,
        consultation_fee="60.00",
    )
    gp = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="Dr. Paula 100%_Wahr",
        specialty="cardiology",
        languages=["en"],
        offers_video=False,
        consultation_fee="45.50",
    )

    assert set(await listed_ids(client, specialty="CARDIOLOGY")) == {str(cardio.id), str(gp.id)}
    assert await listed_ids(client, search="HAU") == [str(derma.id)]
    assert await listed_ids(client, search="100%_") == [str(gp.id)]
    assert await listed_ids(client, search="%") == [str(gp.id)]
    assert await listed_ids(client, search="nobody") == []
    assert set(await listed_ids(client, language="EN")) == {str(cardio.id), str(gp.id)}
    assert await listed_ids(client, language="fr") == [str(derma.id)]
    assert await listed_ids(client, video="true") == [str(cardio.id)]
    assert set(await listed_ids(client, video="false")) == {str(derma.id), str(gp.id)}
    assert set(await listed_ids(client, max_fee="60")) == {str(derma.id), str(gp.id)}
    assert await listed_ids(client, max_fee="45.50") == [str(gp.id)]
    assert await listed_ids(client, specialty="cardiology", language="de", video="true") == [
        str(cardio.id)
    ]


async def test_sorting_and_paging(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, admin_sql: AdminSql
) -> None:
    anna = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="Anna A",
        consultation_fee="50",
        years_of_experience=3,
    )
    bert = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="Bert B",
        consultation_fee="90",
        years_of_experience=20,
    )
    cara = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="Cara C",
        consultation_fee="70",
        years_of_experience=9,
    )
    admin_sql(
        "UPDATE doctor_profiles SET rating_average = 4.8, rating_count = 10 WHERE user_id = %s",
        [bert.id],
    )
    admin_sql(
        "UPDATE doctor_profiles SET rating_average = 3.9, rating_count = 4 WHERE user_id = %s",
        [anna.id],
    )
    a, b, c = str(anna.id), str(bert.id), str(cara.id)

    assert await listed_ids(client) == [a, b, c]
    assert await listed_ids(client, order="desc") == [c, b, a]
    assert await listed_ids(client, sort="fee") == [a, c, b]
    assert await listed_ids(client, sort="fee", order="desc") == [b, c, a]
    assert await listed_ids(client, sort="experience", order="desc") == [b, c, a]
    # Unrated doctors come last either way.
    assert await listed_ids(client, sort="rating", order="desc") == [b, a, c]
    assert await listed_ids(client, sort="rating") == [a, b, c]
    rated = (await directory(client, sort="rating", order="desc"))["doctors"][0]
    assert rated["rating_average"] == 4.8
    assert rated["rating_count"] == 10

    second = await directory(client, sort="fee", limit=2, page=2)
    assert [d["id"] for d in second["doctors"]] == [b]
    assert second["pagination"] == {"page": 2, "limit": 2, "total": 3, "total_pages": 2}
    first = await directory(client, sort="fee", limit=2, page=1)
    assert first["pagination"]["total"] == 3
    beyond = await directory(client, limit=2, page=5)
    assert beyond["doctors"] == []
    assert beyond["pagination"]["total"] == 3


async def test_available_on_keeps_doctors_with_a_free_slot_that_day(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant, clock: Clock
) -> None:
    # Monday 2027-01-04, 09:30 in Berlin (08:30 UTC).
    clock(datetime(2027, 1, 4, 8, 30, tzinfo=UTC))
    monday = "2027-01-04"
    mornings = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="A Mornings",
        availability=availability_body((1, "08:00", "10:00", 30)),
    )
    afternoons = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="B Afternoons",
        availability=availability_body((1, "14:00", "18:00", 30)),
    )
    on_leave = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="C Leave",
        availability=availability_body(
            (1, "14:00", "18:00", 30), exceptions=[{"date": monday, "available": False}]
        ),
    )
    extra = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="D Extra",
        availability=availability_body(
            (3, "09:00", "12:00", 30),
            exceptions=[{"date": monday, "available": True, "start": "15:00", "end": "16:00"}],
        ),
    )
    tokyo = await doctor_with_profile(
        client,
        factory,
        hospital.id,
        full_name="E Tokyo",
        timezone="Asia/Tokyo",
        availability=availability_body((1, "09:00", "12:00", 30), timezone="Asia/Tokyo"),
    )
    await doctor_with_profile(client, factory, hospital.id, full_name="F Nothing")

    # Mornings' last slot (09:30 local) starts before now + 60 minutes: nothing left today.
    # Tokyo's Monday is over (17:30 there). Leave is off; Extra works extra hours.
    assert await listed_ids(client, available_on=monday) == [str(afternoons.id), str(extra.id)]
    page = await directory(client, available_on=monday, limit=1, page=2)
    assert [d["id"] for d in page["doctors"]] == [str(extra.id)]
    assert page["pagination"]["total"] == 2
    # The next Monday, everyone with Monday hours has room, in their own zone.
    assert await listed_ids(client, available_on="2027-01-11") == [
        str(mornings.id),
        str(afternoons.id),
        str(on_leave.id),
        str(tokyo.id),
    ]
    assert await listed_ids(client, available_on="2027-01-11", search="tokyo") == [str(tokyo.id)]
    assert await listed_ids(client, available_on="2027-01-06") == [str(extra.id)]
    assert await listed_ids(client, available_on="2026-12-28") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"language": "xx"}, "language"),
        ({"language": "eng"}, "language"),
        ({"max_fee": "-1"}, "max_fee"),
        ({"max_fee": "cheap"}, "max_fee"),
        ({"sort": "price"}, "sort"),
        ({"order": "up"}, "order"),
        ({"video": "maybe"}, "video"),
        ({"available_on": "2027-13-01"}, "available_on"),
        ({"available_on": "tomorrow"}, "available_on"),
        ({"page": "0"}, "page"),
        ({"limit": "101"}, "limit"),
        ({"search": ""}, "search"),
    ],
)
async def test_bad_query_parameters_are_refused_with_the_field_named(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    assert_error(await client.get(DOCTORS, params=params), 400, "VALIDATION_ERROR", field)


async def test_a_malformed_id_is_a_validation_error(client: httpx.AsyncClient) -> None:
    assert_error(await client.get(f"{DOCTORS}/not-a-uuid"), 400, "VALIDATION_ERROR", "doctor_id")


async def test_a_change_of_profile_shows_at_once(
    client: httpx.AsyncClient, factory: Factory, hospital: Tenant
) -> None:
    doctor = await doctor_with_profile(client, factory, hospital.id)
    data(await client.put(MY_PROFILE, json=profile_body(is_listed=False), headers=doctor.headers))
    assert await listed_ids(client) == []
    data(
        await client.put(
            MY_PROFILE, json=profile_body(specialty="Neurology"), headers=doctor.headers
        )
    )
    assert data(await client.get(f"{DOCTORS}/{doctor.id}"))["specialty"] == "Neurology"
