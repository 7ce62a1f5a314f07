"""Text-message transports.

Domains do not send SMS themselves: the notifications service stores an
`sms_messages` row and defers the `medhub.send_sms` job, which hands the text to
the transport chosen by SMS_BACKEND. `console` (the default, and the only one so
far) appends one JSON line per message to DATA_DIR/sms-outbox/<UTC date>.log and
logs it; a provider's HTTP API becomes another class with the same `send`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from medhub.config import Settings

log = structlog.get_logger(__name__)


class SmsDeliveryError(Exception):
    """Delivery failed; `permanent` says whether trying again could help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsTransport(Protocol):
    name: str

    async def send(self, to: str, body: str) -> None: ...


class ConsoleSmsTransport:
    name = "console"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, to: str, body: str) -> None:
        now = datetime.now(UTC)
        path = self.outbox / f"{now:%Y-%m-%d}.log"
        # One line per message, whatever the body holds: JSON escapes its newlines.
        line = json.dumps(
            {"at": now.isoformat().replace("+00:00", "Z"), "to": to, "body": body},
            ensure_ascii=False,
        )
        await asyncio.to_thread(_append_line, path, line)
        log.info("sms.sent", backend=self.name, to=to, file=str(path), length=len(body))


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write of the whole line in append mode: concurrent senders never interleave.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def sms_outbox(settings: Settings) -> Path:
    return settings.data_dir / "sms-outbox"


def transport_for(settings: Settings) -> SmsTransport:
    # Read with a default: the setting is optional, and only `console` exists so far.
    backend = settings.SMS_BACKEND
    if backend != "console":
        raise SmsDeliveryError(f"unknown SMS_BACKEND {backend!r}", permanent=True)
    return ConsoleSmsTransport(sms_outbox(settings))
