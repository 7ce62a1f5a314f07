"""PUT /api/v1/reviews/{id}/reply: the reviewed doctor answers a review."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.reviews.helpers import REVIEWS, UNKNOWN, Visits, data, public_list, reviewed

AuditActions = Callable[[uuid.UUID | str], list[tuple[Any, ...]]]


async def test_the_reviewed_doctor_replies_and_may_reword_it(
    client: httpx.AsyncClient, visits: Visits, audit_actions: AuditActions
) -> None:
    doctor = visits.clinic.doctor
    review = await reviewed(client, visits.ann, doctor, visits.ann_done, 3)
    path = f"{REVIEWS}/{review['id']}/reply"

    answered = data(await client.put(path, json={"reply": "Thank you"}, headers=doctor.headers))
    assert (answered["reply"], answered["rating"]) == ("Thank you", 3)
    assert answered["replied_at"] is not None
    reworded = data(await client.put(path, json={"reply": "Thanks!"}, headers=doctor.headers))
    assert reworded["reply"] == "Thanks!"
    assert (await public_list(client, doctor))["reviews"][0]["reply"] == "Thanks!"
    assert audit_actions(review["id"]) == [
        ("review.create", visits.clinic.id, visits.ann.id),
        ("review.reply", visits.clinic.id, doctor.id),
        ("review.reply", visits.clinic.id, doctor.id),
    ]


async def test_another_doctor_finds_no_review(client: httpx.AsyncClient, visits: Visits) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 3)
    for other in (visits.clinic.colleague, visits.other.doctor):
        response = await client.put(
            f"{REVIEWS}/{review['id']}/reply", json={"reply": "Hi"}, headers=other.headers
        )
        assert_error(response, 404, "NOT_FOUND")
    unknown = await client.put(
        f"{REVIEWS}/{UNKNOWN}/reply", json={"reply": "Hi"}, headers=visits.clinic.doctor.headers
    )
    assert_error(unknown, 404, "NOT_FOUND")
    assert (await public_list(client, visits.clinic.doctor))["reviews"][0]["reply"] is None


async def test_only_doctors_reply(client: httpx.AsyncClient, visits: Visits) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 3)
    path = f"{REVIEWS}/{review['id']}/reply"
    assert_error(await client.put(path, json={"reply": "Hi"}), 401, "AUTHENTICATION_ERROR")
    for caller in (visits.ann, visits.clinic.admin):
        response = await client.put(path, json={"reply": "Hi"}, headers=caller.headers)
        assert_error(response, 403, "AUTHORIZATION_ERROR")


@pytest.mark.parametrize(
    "body", [{}, {"reply": ""}, {"reply": "x" * 2_001}, {"reply": None}, {"reply": 5}]
)
async def test_a_bad_reply_is_refused(
    client: httpx.AsyncClient, visits: Visits, body: dict[str, Any]
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 3)
    response = await client.put(
        f"{REVIEWS}/{review['id']}/reply", json=body, headers=visits.clinic.doctor.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", "reply")
