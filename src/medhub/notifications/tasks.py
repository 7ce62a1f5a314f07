"""The SMS delivery job: one message per job, retried with backoff, sent at most once
per successful run (a row already sent is skipped)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from procrastinate import JobContext
from sqlalchemy import update

from medhub.kit.db import Database
from medhub.kit.jobs import Backoff, jobs_app, runtime_of
from medhub.kit.sms import SmsDeliveryError, SmsTransport, transport_for
from medhub.kit.tenancy import set_system_context
from medhub.models.notifications import SmsMessage, SmsStatus
from medhub.notifications.repository import SmsRepository

log = structlog.get_logger(__name__)

SEND_SMS_TASK = "medhub.send_sms"
SMS_MAX_ATTEMPTS = 5
SMS_RETRY_BASE_SECONDS = 30.0


class PermanentSmsFailure(Exception):
    """The provider refused for good (bad number, unknown backend): retrying cannot help."""


class TemporarySmsFailure(Exception):
    """Timeout, provider unavailable: try again later."""


SMS_RETRY = Backoff(
    max_attempts=lambda: SMS_MAX_ATTEMPTS,
    base_seconds=lambda: SMS_RETRY_BASE_SECONDS,
    give_up_on=(PermanentSmsFailure,),
)


@jobs_app.task(name=SEND_SMS_TASK, queue="sms", retry=SMS_RETRY, pass_context=True)
async def send_sms(context: JobContext, sms_id: str) -> str:
    runtime = runtime_of(context)
    try:
        transport = transport_for(runtime.settings)
    except SmsDeliveryError as exc:
        await _record(runtime.database, uuid.UUID(sms_id), 1, error=str(exc), failed=True)
        raise PermanentSmsFailure(str(exc)) from exc
    return await deliver_sms(runtime.database, transport, uuid.UUID(sms_id))


async def deliver_sms(database: Database, transport: SmsTransport, sms_id: uuid.UUID) -> str:
    # Read, send, record: two short transactions around the provider call, so no
    # pooled connection waits on a slow network.
    async with database.unit_of_work() as session:
        await set_system_context(session)
        message = await SmsRepository(session).get(sms_id)
        if message is None:
            return "missing"
        if message.status == SmsStatus.sent.value:
            return "already sent"  # a job may run twice; the text goes once
        to_number, body, attempt = message.to_number, message.body, message.attempts + 1
    try:
        await transport.send(to_number, body)
    except SmsDeliveryError as exc:
        last_try = exc.permanent or attempt >= SMS_MAX_ATTEMPTS
        await _record(database, sms_id, attempt, error=str(exc), failed=last_try)
        log.warning(
            "sms.delivery_failed",
            sms_id=str(sms_id),
            attempt=attempt,
            permanent=exc.permanent,
            error=str(exc),
        )
        if exc.permanent:
            raise PermanentSmsFailure(str(exc)) from exc
        raise TemporarySmsFailure(str(exc)) from exc
    await _record(database, sms_id, attempt, error=None, failed=False)
    return "sent"


async def _record(
    database: Database, sms_id: uuid.UUID, attempt: int, *, error: str | None, failed: bool
) -> None:
    if error is None:
        values: dict[str, object] = {
            "status": SmsStatus.sent.value,
            "attempts": attempt,
            "sent_at": datetime.now(UTC),
            "last_error": None,
        }
    else:
        values = {
            "attempts": attempt,
            "last_error": error[:2000],
            "status": SmsStatus.failed.value if failed else SmsStatus.queued.value,
        }
    async with database.unit_of_work() as session:
        await set_system_context(session)
        await session.execute(
            update(SmsMessage)
            .where(SmsMessage.id == sms_id, SmsMessage.status != SmsStatus.sent.value)
            .values(**values)
        )
