"""Video rooms of video consultations, behind a provider chosen by `VIDEO_PROVIDER`.

A room is named when its consultation is opened: an unguessable name (192 random
bits), since with Jitsi whoever knows the name is in the room. The name is kept in
`consultations.video_room`; the provider turns it into the URL shown to the two
participants, and only around the time of the consultation (`joinable`).

Naming needs no provider (so `open_for_appointment`, called from the appointments
domain, needs no settings): Jitsi Meet creates a room when the first participant
joins it. A provider that must create rooms through an API (a hosted service with
tokens per participant) would do so where the URL is built.

`none`: no URL ever, whatever rooms exist.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import quote

from medhub.config import Settings
from medhub.models.consultations import ConsultationStatus, ConsultationType

ROOM_TOKEN_BYTES = 24
ROOM_PREFIX = "medhub-"
# The participants may join this long before the consultation is due.
JOIN_EARLY = timedelta(minutes=15)
_ENDED = frozenset({ConsultationStatus.completed.value, ConsultationStatus.cancelled.value})


def new_room_name() -> str:
    return ROOM_PREFIX + secrets.token_urlsafe(ROOM_TOKEN_BYTES)


class VideoProvider(Protocol):
    @property
    def name(self) -> str: ...

    def join_url(self, room: str) -> str | None: ...


@dataclass(frozen=True)
class JitsiProvider:
    base_url: str
    name: str = "jitsi"

    def join_url(self, room: str) -> str | None:
        return f"{self.base_url.rstrip('/')}/{quote(room, safe='')}"


@dataclass(frozen=True)
class NoVideo:
    name: str = "none"

    def join_url(self, room: str) -> str | None:
        return None


def provider_for(settings: Settings) -> VideoProvider:
    if settings.VIDEO_PROVIDER == "jitsi":
        return JitsiProvider(settings.VIDEO_BASE_URL)
    return NoVideo()


def joinable(*, type: str, status: str, scheduled_at: datetime, now: datetime) -> bool:
    """A video consultation may be joined from JOIN_EARLY before it is due, or from
    whenever its doctor starts it, until it ends (completed or cancelled)."""
    if type != ConsultationType.video.value or status in _ENDED:
        return False
    return status == ConsultationStatus.in_progress.value or now >= scheduled_at - JOIN_EARLY
