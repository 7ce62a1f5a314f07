"""POST /api/v1/doctors/{doctor_id}/reviews and PUT /api/v1/reviews/{id}: a patient's
review of a completed appointment, and its edits within 30 days."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.appointments.helpers import AdminSql
from tests.assertions import assert_error
from tests.factories import Account
from tests.reviews.helpers import (
    REVIEWS,
    UNKNOWN,
    Visits,
    data,
    post_review,
    rating_of,
    reviewed,
)

AuditActions = Callable[[uuid.UUID | str], list[tuple[Any, ...]]]


async def test_a_patient_reviews_a_completed_appointment(
    client: httpx.AsyncClient, visits: Visits, audit_actions: AuditActions
) -> None:
    doctor = visits.clinic.doctor
    # Plain text, kept exactly as written: markup and surrounding spaces included.
    comment = "  <b>Very</b> attentive & kind.\nWould come again.  "
    review = await reviewed(client, visits.ann, doctor, visits.ann_done, 4, comment=comment)

    assert review["doctor_id"] == str(doctor.id)
    assert review["appointment_id"] == visits.ann_done
    assert review["organization_id"] == str(visits.clinic.id)
    assert (review["rating"], review["comment"]) == (4, comment)
    assert (review["reply"], review["hidden"]) == (None, False)
    assert review["editable_until"] > review["created_at"]
    assert await rating_of(client, doctor) == (Decimal("4.00"), 1)
    assert audit_actions(review["id"]) == [("review.create", visits.clinic.id, visits.ann.id)]

    inbox = await client.get("/api/v1/notifications", headers=doctor.headers)
    newest = inbox.json()["data"]["notifications"][0]
    assert (newest["category"], newest["title"]) == ("review", "New 4-star review")
    assert newest["data"]["review_id"] == review["id"]


async def test_a_review_without_a_comment_is_accepted(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    review = await reviewed(client, visits.bob, visits.clinic.doctor, visits.bob_done, 1)
    assert review["comment"] is None
    assert await rating_of(client, visits.clinic.doctor) == (Decimal("1.00"), 1)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "x"}, "rating"),
        ({"rating": None}, "rating"),
        ({"comment": "x" * 2_001}, "comment"),
        ({"appointment_id": None}, "appointment_id"),
        ({"appointment_id": "not-an-id"}, "appointment_id"),
    ],
)
async def test_bad_input_is_refused_with_details(
    client: httpx.AsyncClient, visits: Visits, body: dict[str, Any], field: str
) -> None:
    payload: dict[str, Any] = {"appointment_id": visits.ann_done, "rating": 5, **body}
    if body.get("appointment_id", "") is None:
        del payload["appointment_id"]
    response = await client.post(
        f"/api/v1/doctors/{visits.clinic.doctor.id}/reviews",
        json=payload,
        headers=visits.ann.headers,
    )
    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert await rating_of(client, visits.clinic.doctor) == (None, 0)


async def test_a_comment_of_2000_characters_is_accepted(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    review = await reviewed(
        client, visits.ann, visits.clinic.doctor, visits.ann_done, comment="x" * 2_000
    )
    assert len(review["comment"]) == 2_000


async def test_anonymous_callers_get_401(client: httpx.AsyncClient, visits: Visits) -> None:
    body = {"appointment_id": visits.ann_done, "rating": 5}
    response = await client.post(f"/api/v1/doctors/{visits.clinic.doctor.id}/reviews", json=body)
    assert_error(response, 401, "AUTHENTICATION_ERROR")
    assert_error(await client.put(f"{REVIEWS}/{UNKNOWN}", json={"rating": 3}), 401)


async def test_only_patients_write_reviews(client: httpx.AsyncClient, visits: Visits) -> None:
    for caller in (visits.clinic.doctor, visits.clinic.admin, visits.clinic.colleague):
        response = await post_review(client, caller, visits.clinic.doctor, visits.ann_done)
        assert_error(response, 403, "AUTHORIZATION_ERROR")
        edit = await client.put(f"{REVIEWS}/{UNKNOWN}", json={"rating": 3}, headers=caller.headers)
        assert_error(edit, 403, "AUTHORIZATION_ERROR")
    assert await rating_of(client, visits.clinic.doctor) == (None, 0)


async def test_an_appointment_of_someone_else_or_another_doctor_is_not_found(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    doctor = visits.clinic.doctor
    attempts = [
        # Ann's appointment, presented by Bob.
        post_review(client, visits.bob, doctor, visits.ann_done),
        # Ann's appointment with the colleague, as a review of the doctor.
        post_review(client, visits.ann, doctor, visits.ann_with_colleague),
        # Ann's appointment with the doctor, as a review of the colleague.
        post_review(client, visits.ann, visits.clinic.colleague, visits.ann_done),
        # An appointment that does not exist; a doctor who does not exist.
        post_review(client, visits.ann, doctor, str(UNKNOWN)),
        post_review(client, visits.ann, UNKNOWN, visits.ann_done),
    ]
    messages = set()
    for attempt in attempts:
        messages.add(assert_error(await attempt, 404, "NOT_FOUND")["message"])
    # One answer for all of them: nothing says the appointment exists.
    assert len(messages) == 1
    assert await rating_of(client, doctor) == (None, 0)
    assert await rating_of(client, visits.clinic.colleague) == (None, 0)


async def test_a_second_review_of_one_appointment_conflicts(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    doctor = visits.clinic.doctor
    await reviewed(client, visits.ann, doctor, visits.ann_done, 5)
    again = await post_review(client, visits.ann, doctor, visits.ann_done, 1)
    assert_error(again, 409, "REVIEW_ALREADY_EXISTS")
    assert await rating_of(client, doctor) == (Decimal("5.00"), 1)


async def test_an_appointment_not_completed_yet_conflicts(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    response = await post_review(client, visits.ann, visits.clinic.doctor, visits.ann_pending)
    assert_error(response, 409, "APPOINTMENT_NOT_COMPLETED")
    assert await rating_of(client, visits.clinic.doctor) == (None, 0)


# Editing


async def edit(
    client: httpx.AsyncClient, who: Account, review_id: str, **body: Any
) -> httpx.Response:
    return await client.put(f"{REVIEWS}/{review_id}", json=body, headers=who.headers)


async def test_the_author_edits_the_rating_and_the_comment(
    client: httpx.AsyncClient, visits: Visits, audit_actions: AuditActions
) -> None:
    doctor = visits.clinic.doctor
    review = await reviewed(client, visits.ann, doctor, visits.ann_done, 5, comment="Great")
    await reviewed(client, visits.bob, doctor, visits.bob_done, 4)
    assert await rating_of(client, doctor) == (Decimal("4.50"), 2)

    changed = data(await edit(client, visits.ann, review["id"], rating=2))
    assert (changed["rating"], changed["comment"]) == (2, "Great")
    assert await rating_of(client, doctor) == (Decimal("3.00"), 2)

    cleared = data(await edit(client, visits.ann, review["id"], comment=None))
    assert (cleared["rating"], cleared["comment"]) == (2, None)
    assert [row[0] for row in audit_actions(review["id"])] == [
        "review.create",
        "review.update",
        "review.update",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"rating": None}, "rating"),
        ({"rating": 6}, "rating"),
        ({"rating": "x"}, "rating"),
        ({"comment": "x" * 2_001}, "comment"),
        ({"hidden_at": None}, "hidden_at"),
    ],
)
async def test_bad_edits_are_refused_with_details(
    client: httpx.AsyncClient, visits: Visits, body: dict[str, Any], field: str | None
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 5)
    response = await edit(client, visits.ann, review["id"], **body)
    error = assert_error(response, 400, "VALIDATION_ERROR", field)
    assert error["details"]
    assert await rating_of(client, visits.clinic.doctor) == (Decimal("5.00"), 1)


async def test_someone_elses_review_is_not_found(client: httpx.AsyncClient, visits: Visits) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 5)
    assert_error(await edit(client, visits.bob, review["id"], rating=1), 404, "NOT_FOUND")
    assert_error(await edit(client, visits.bob, str(UNKNOWN), rating=1), 404, "NOT_FOUND")
    assert await rating_of(client, visits.clinic.doctor) == (Decimal("5.00"), 1)


@pytest.mark.parametrize(("age", "status"), [("29 days 23 hours", 200), ("30 days", 409)])
async def test_the_edit_window_closes_30_days_after_writing(
    client: httpx.AsyncClient, visits: Visits, admin_sql: AdminSql, age: str, status: int
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 5)
    admin_sql(
        "UPDATE doctor_reviews SET created_at = now() - %s::interval WHERE id = %s",
        [age, review["id"]],
    )
    response = await edit(client, visits.ann, review["id"], rating=1)
    if status == 200:
        assert data(response)["rating"] == 1
        assert await rating_of(client, visits.clinic.doctor) == (Decimal("1.00"), 1)
    else:
        assert_error(response, 409, "REVIEW_EDIT_WINDOW_CLOSED")
        assert await rating_of(client, visits.clinic.doctor) == (Decimal("5.00"), 1)
