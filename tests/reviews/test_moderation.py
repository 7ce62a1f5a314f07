"""Reports and moderation: POST /api/v1/reviews/{id}/report (anyone signed in, once),
POST .../hide and .../unhide (the doctor's organization's admins, super admins) and
GET /api/v1/reviews/reported (their queue)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.assertions import assert_error
from tests.factories import Account
from tests.reviews.helpers import REPORTED, REVIEWS, UNKNOWN, Visits, data, reviewed

AuditActions = Callable[[uuid.UUID | str], list[tuple[Any, ...]]]


async def report(
    client: httpx.AsyncClient, who: Account | None, review_id: str, reason: Any = "Spam"
) -> httpx.Response:
    return await client.post(
        f"{REVIEWS}/{review_id}/report",
        json={"reason": reason},
        headers=who.headers if who else None,
    )


async def hide(
    client: httpx.AsyncClient, who: Account | None, review_id: str, reason: Any = "Abusive"
) -> httpx.Response:
    return await client.post(
        f"{REVIEWS}/{review_id}/hide",
        json={"reason": reason},
        headers=who.headers if who else None,
    )


async def unhide(client: httpx.AsyncClient, who: Account | None, review_id: str) -> httpx.Response:
    return await client.post(f"{REVIEWS}/{review_id}/unhide", headers=who.headers if who else None)


async def test_anyone_signed_in_reports_a_review_once(
    client: httpx.AsyncClient, visits: Visits, audit_actions: AuditActions
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    # Another patient, the reviewed doctor, and a doctor of another organization.
    for reporter in (visits.bob, visits.clinic.doctor, visits.other.doctor):
        assert (await report(client, reporter, review["id"])).status_code == 201
    again = await report(client, visits.bob, review["id"], "Still spam")
    assert_error(again, 409, "REVIEW_ALREADY_REPORTED")
    actions = [row for row in audit_actions(review["id"]) if row[0] == "review.report"]
    assert [(row[1], row[2]) for row in actions] == [
        (visits.clinic.id, visits.bob.id),
        (visits.clinic.id, visits.clinic.doctor.id),
        (visits.clinic.id, visits.other.doctor.id),
    ]


async def test_reporting_needs_a_visible_review_and_a_reason(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    assert_error(await report(client, None, review["id"]), 401, "AUTHENTICATION_ERROR")
    assert_error(await report(client, visits.bob, str(UNKNOWN)), 404, "NOT_FOUND")
    for reason in ("", None, "x" * 1_001):
        response = await report(client, visits.bob, review["id"], reason)
        assert_error(response, 400, "VALIDATION_ERROR", "reason")
    data(await hide(client, visits.clinic.admin, review["id"]))
    assert_error(await report(client, visits.bob, review["id"]), 404, "NOT_FOUND")


async def test_the_organizations_admin_hides_and_shows_again(
    client: httpx.AsyncClient, visits: Visits, audit_actions: AuditActions
) -> None:
    admin = visits.clinic.admin
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)

    hidden = data(await hide(client, admin, review["id"], "Insults staff"))
    assert (hidden["hidden"], hidden["hidden_reason"]) == (True, "Insults staff")
    assert hidden["hidden_at"] is not None
    assert_error(await hide(client, admin, review["id"]), 409, "REVIEW_ALREADY_HIDDEN")

    shown = data(await unhide(client, admin, review["id"]))
    assert (shown["hidden"], shown["hidden_at"], shown["hidden_reason"]) == (False, None, None)
    assert_error(await unhide(client, admin, review["id"]), 409, "REVIEW_NOT_HIDDEN")
    assert audit_actions(review["id"]) == [
        ("review.create", visits.clinic.id, visits.ann.id),
        ("review.hide", visits.clinic.id, admin.id),
        ("review.unhide", visits.clinic.id, admin.id),
    ]


async def test_the_author_still_sees_and_edits_a_hidden_review(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    data(await hide(client, visits.clinic.admin, review["id"], "Off topic"))
    edited = data(
        await client.put(
            f"{REVIEWS}/{review['id']}", json={"rating": 2}, headers=visits.ann.headers
        )
    )
    assert (edited["rating"], edited["hidden"], edited["hidden_reason"]) == (2, True, "Off topic")


async def test_a_super_admin_moderates_every_organization(
    client: httpx.AsyncClient, visits: Visits, super_admin: Account
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    assert data(await hide(client, super_admin, review["id"]))["hidden"] is True
    assert data(await unhide(client, super_admin, review["id"]))["hidden"] is False


async def test_another_organizations_admin_finds_nothing(
    client: httpx.AsyncClient, visits: Visits
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    stranger = visits.other.admin
    assert_error(await hide(client, stranger, review["id"]), 404, "NOT_FOUND")
    assert_error(await unhide(client, stranger, review["id"]), 404, "NOT_FOUND")
    assert_error(await hide(client, visits.clinic.admin, str(UNKNOWN)), 404, "NOT_FOUND")


async def test_only_moderators_hide(client: httpx.AsyncClient, visits: Visits) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    assert_error(await hide(client, None, review["id"]), 401, "AUTHENTICATION_ERROR")
    assert_error(await unhide(client, None, review["id"]), 401, "AUTHENTICATION_ERROR")
    for caller in (visits.ann, visits.clinic.doctor):
        assert_error(await hide(client, caller, review["id"]), 403, "AUTHORIZATION_ERROR")
        assert_error(await unhide(client, caller, review["id"]), 403, "AUTHORIZATION_ERROR")


@pytest.mark.parametrize("reason", ["", None, "x" * 501])
async def test_hiding_needs_a_reason(
    client: httpx.AsyncClient, visits: Visits, reason: Any
) -> None:
    review = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    response = await hide(client, visits.clinic.admin, review["id"], reason)
    assert_error(response, 400, "VALIDATION_ERROR", "reason")


async def test_moderators_read_their_queue_of_reported_reviews(
    client: httpx.AsyncClient, visits: Visits, super_admin: Account
) -> None:
    reported = await reviewed(client, visits.ann, visits.clinic.doctor, visits.ann_done, 1)
    await reviewed(client, visits.bob, visits.clinic.doctor, visits.bob_done, 5)
    for reporter in (visits.bob, visits.other.doctor):
        assert (await report(client, reporter, reported["id"])).status_code == 201

    for moderator in (visits.clinic.admin, super_admin):
        page = data(await client.get(REPORTED, headers=moderator.headers))
        assert [r["id"] for r in page["reported_reviews"]] == [reported["id"]]
        assert page["reported_reviews"][0]["report_count"] == 2
        assert page["pagination"]["total"] == 1
    elsewhere = data(await client.get(REPORTED, headers=visits.other.admin.headers))
    assert elsewhere["reported_reviews"] == []
    assert_error(await client.get(REPORTED), 401, "AUTHENTICATION_ERROR")
    for caller in (visits.ann, visits.clinic.doctor):
        assert_error(await client.get(REPORTED, headers=caller.headers), 403)
