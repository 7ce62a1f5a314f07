"""VIDEO_PROVIDER and VIDEO_BASE_URL, through the API of an app built with them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from medhub.config import Settings
from tests.consultations.helpers import Clinic, from_appointment, make_appointment, now
from tests.factories import Factory

VARIANTS = [
    ({"VIDEO_PROVIDER": "none"}, None),
    ({"VIDEO_BASE_URL": "https://video.example.org/rooms"}, "https://video.example.org/rooms/"),
]


@pytest.fixture(params=VARIANTS, ids=["none", "custom-base"])
def variant(request: pytest.FixtureRequest) -> tuple[dict[str, Any], str | None]:
    chosen: tuple[dict[str, Any], str | None] = request.param
    return chosen


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], variant: tuple[dict[str, Any], str | None]
) -> Settings:
    return make_settings(**variant[0])


async def test_the_room_url_follows_the_settings(
    client: httpx.AsyncClient,
    factory: Factory,
    clinic: Clinic,
    variant: tuple[dict[str, Any], str | None],
) -> None:
    appointment = await make_appointment(
        factory.database, clinic.chart, clinic.doctor, starts_at=now() + timedelta(minutes=5)
    )
    made = await from_appointment(client, clinic.doctor, appointment)
    prefix = variant[1]
    if prefix is None:
        assert made["join_url"] is None
    else:
        assert made["join_url"].startswith(prefix + "medhub-")
