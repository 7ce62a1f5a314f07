"""GET /api/v1/doctors/{doctor_id}/reviews: a listed doctor's visible reviews, for
anyone, with the author shown by first name and initial only."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.appointments.helpers import AdminSql
from tests.assertions import assert_error
from tests.reviews.helpers import (
    REVIEWS,
    UNKNOWN,
    Visits,
    data,
    public_list,
    rating_of,
    reviewed,
    reviews_of,
)

PUBLIC_FIELDS = {
    "id",
    "author_name",
    "rating",
    "comment",
    "reply",
    "replied_at",
    "created_at",
    "updated_at",
}


async def test_anyone_reads_a_doctors_reviews_without_the_authors_identity(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    doctor = visits.clinic.doctor
    first = await reviewed(client, visits.ann, doctor, visits.ann_done, 5, comment="Kind")
    second = await reviewed(client, visits.bob, doctor, visits.bob_done, 2)
    data(
        await client.put(
            f"{REVIEWS}/{second['id']}/reply", json={"reply": "Sorry!"}, headers=doctor.headers
        )
    )

    page = await public_list(client, doctor)

    assert page["pagination"] == {"page": 1, "limit": 20, "total": 2, "total_pages": 1}
    reviews = page["reviews"]
    # Newest first by default.
    assert [r["id"] for r in reviews] == [second["id"], first["id"]]
    assert all(set(r) == PUBLIC_FIELDS for r in reviews)
    assert [r["author_name"] for r in reviews] == ["Bob R.", "Ann L."]
    assert (reviews[0]["reply"], reviews[1]["comment"]) == ("Sorry!", "Kind")
    assert reviews[0]["replied_at"] is not None
    text = str(page)
    for secret in (visits.ann.email, visits.bob.email, str(visits.ann.id), str(visits.bob.id)):
        assert secret not in text
    # Signed in, the list is the same.
    assert (await public_list(client, doctor))["reviews"] == reviews
    assert data(await client.get(reviews_of(doctor), headers=visits.ann.headers)) == page


async def test_sorted_by_rating_or_date_and_paged(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    doctor = visits.clinic.doctor
    low = await reviewed(client, visits.ann, doctor, visits.ann_done, 2)
    high = await reviewed(client, visits.bob, doctor, visits.bob_done, 5)

    def ids(page: dict[str, list[dict[str, str]]]) -> list[str]:
        return [r["id"] for r in page["reviews"]]

    assert ids(await public_list(client, doctor, sort="rating")) == [high["id"], low["id"]]
    assert ids(await public_list(client, doctor, sort="rating", order="asc")) == [
        low["id"],
        high["id"],
    ]
    assert ids(await public_list(client, doctor, sort="recent", order="asc")) == [
        low["id"],
        high["id"],
    ]
    second_page = await public_list(client, doctor, limit=1, page=2)
    assert ids(second_page) == [low["id"]]
    assert second_page["pagination"] == {"page": 2, "limit": 1, "total": 2, "total_pages": 2}
    assert (await public_list(client, visits.clinic.colleague))["reviews"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [({"sort": "name"}, "sort"), ({"order": "up"}, "order"), ({"limit": 101}, "limit")],
)
async def test_bad_list_parameters_are_refused(
    client: httpx.AsyncClient, visits: Visits, params: dict[str, object], field: str
) -> None:
    response = await client.get(reviews_of(visits.clinic.doctor), params=params)
    assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_a_doctor_outside_the_directory_is_not_found(
    client: httpx.AsyncClient, visits: Visits, admin_sql: AdminSql
) -> None:
    doctor = visits.clinic.doctor
    await reviewed(client, visits.ann, doctor, visits.ann_done, 5)
    assert_error(await client.get(reviews_of(UNKNOWN)), 404, "NOT_FOUND")
    # A patient account is no doctor.
    assert_error(await client.get(reviews_of(visits.ann)), 404, "NOT_FOUND")

    admin_sql("UPDATE doctor_profiles SET is_listed = false WHERE user_id = %s", [doctor.id])
    assert_error(await client.get(reviews_of(doctor)), 404, "NOT_FOUND")


async def test_a_hidden_review_leaves_the_list_and_the_rating(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    doctor, admin = visits.clinic.doctor, visits.clinic.admin
    kept = await reviewed(client, visits.ann, doctor, visits.ann_done, 5)
    hidden = await reviewed(client, visits.bob, doctor, visits.bob_done, 2)
    assert await rating_of(client, doctor) == (Decimal("3.50"), 2)

    data(
        await client.post(
            f"{REVIEWS}/{hidden['id']}/hide", json={"reason": "Abusive"}, headers=admin.headers
        )
    )
    page = await public_list(client, doctor)
    assert [r["id"] for r in page["reviews"]] == [kept["id"]]
    assert page["pagination"]["total"] == 1
    assert await rating_of(client, doctor) == (Decimal("5.00"), 1)

    data(await client.post(f"{REVIEWS}/{hidden['id']}/unhide", headers=admin.headers))
    assert len((await public_list(client, doctor))["reviews"]) == 2
    assert await rating_of(client, doctor) == (Decimal("3.50"), 2)


async def test_the_rating_is_rounded_to_two_places(
    client: httpx.AsyncClient, visits: Visits, admin_sql: AdminSql
) -> None:
    doctor = visits.clinic.doctor
    await reviewed(client, visits.ann, doctor, visits.ann_done, 5)
    await reviewed(client, visits.bob, doctor, visits.bob_done, 4)
    # A third review: Ann's other appointment with the doctor, completed since.
    admin_sql("UPDATE appointments SET status = 'completed' WHERE id = %s", [visits.ann_pending])
    await reviewed(client, visits.ann, doctor, visits.ann_pending, 4)
    assert await rating_of(client, doctor) == (Decimal("4.33"), 3)
