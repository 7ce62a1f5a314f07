"""The doctor's rating under concurrent reviews: recomputed from the visible reviews
in each writing transaction, it must come out exact however the writes interleave.

The worst case is forced: the doctor's profile row is held locked (by a transaction
of the test's own) until every one of the 20 requests has written its review and
waits to recompute the rating; then it is let go. A recount that read the reviews
with a snapshot taken before it waited would miss the reviews committed meanwhile,
and the count would come out short.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

import httpx
import psycopg
import pytest

from medhub.config import Settings
from tests.appointments.helpers import AdminSql, Clinic, make_clinic, make_patient
from tests.conftest import DatabaseUrls, world_fixture
from tests.factories import Account, Factory
from tests.reviews.helpers import appointment_with, post_review, public_list, rating_of
from tests.waiting import eventually

CONCURRENT = 20
RATINGS = [5, 4, 4, 3, 5, 1, 2, 5, 4, 3, 5, 5, 4, 2, 3, 4, 5, 1, 4, 5]


def recounts_waiting(admin_sql: AdminSql) -> int:
    """Requests of this test's database that have written their review and wait for
    the doctor's profile row to recount the rating."""
    [(count,)] = admin_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE '%%refresh_doctor_rating%%'"
    )
    return int(count)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # One pooled connection per request in flight: all of them in the database at once.
    return make_settings(DATABASE_POOL_SIZE=CONCURRENT + 5, DATABASE_POOL_TIMEOUT=60)


@world_fixture
async def crowd(
    client: httpx.AsyncClient, factory: Factory
) -> tuple[Clinic, list[tuple[Account, str]]]:
    """A clinic and 20 patients, each with a completed appointment with its doctor."""
    clinic = await make_clinic(client, factory)
    visits = []
    for n in range(CONCURRENT):
        patient = await make_patient(client, factory, f"Pat Nr{n}")
        visits.append((patient, await appointment_with(client, factory, patient, clinic.doctor, n)))
    return clinic, visits


async def test_twenty_concurrent_reviews_give_the_exact_rating(
    client: httpx.AsyncClient,
    crowd: tuple[Clinic, list[tuple[Account, str]]],
    admin_sql: AdminSql,
    database_urls: DatabaseUrls,
) -> None:
    clinic, visits = crowd
    doctor = clinic.doctor
    assert len(RATINGS) == CONCURRENT

    with psycopg.connect(database_urls.admin) as holder:
        # The lock the recount takes: writing a review (its foreign key) is not held up.
        holder.execute(
            "SELECT 1 FROM doctor_profiles WHERE user_id = %s FOR NO KEY UPDATE", [doctor.id]
        )
        try:
            tasks = [
                asyncio.ensure_future(post_review(client, patient, doctor, appointment, rating))
                for (patient, appointment), rating in zip(visits, RATINGS, strict=True)
            ]
            await eventually(
                lambda: recounts_waiting(admin_sql) == CONCURRENT,
                seconds=30,
                message=lambda: f"{recounts_waiting(admin_sql)} requests wait to recount",
            )
        finally:
            holder.rollback()
    responses = await asyncio.gather(*tasks)

    assert Counter(r.status_code for r in responses) == {201: CONCURRENT}
    expected = (Decimal(sum(RATINGS)) / CONCURRENT).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert await rating_of(client, doctor) == (expected, CONCURRENT)
    assert (await public_list(client, doctor))["pagination"]["total"] == CONCURRENT
