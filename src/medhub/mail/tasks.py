"""The delivery job: one message per job, retried with backoff, dead-lettered when hopeless."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from procrastinate import JobContext
from sqlalchemy import select, update

from medhub.kit.db import Database
from medhub.kit.email import EmailDeliveryError, Mailer, RenderedEmail, build_message
from medhub.kit.jobs import Backoff, active_settings, jobs_app, runtime_of
from medhub.models.mail import EmailStatus, OutgoingEmail

log = structlog.get_logger(__name__)


class PermanentEmailFailure(Exception):
    """The server refused for good (5xx): retrying cannot help."""


class TemporaryEmailFailure(Exception):
    """Connection refused, timeout, 4xx: try again later."""


EMAIL_RETRY = Backoff(
    max_attempts=lambda: active_settings().EMAIL_MAX_ATTEMPTS,
    base_seconds=lambda: active_settings().EMAIL_RETRY_BASE_SECONDS,
    give_up_on=(PermanentEmailFailure,),
)


@jobs_app.task(name="medhub.send_email", queue="email", pass_context=True, retry=EMAIL_RETRY)
async def send_email(context: JobContext, email_id: str) -> str:
    runtime = runtime_of(context)
    message_id = uuid.UUID(email_id)
    database = runtime.database
    # Read, send, record: two short transactions around the network call, so no
    # pooled connection waits on a slow mail server.
    async with database.unit_of_work() as session:
        email = (
            await session.execute(select(OutgoingEmail).where(OutgoingEmail.id == message_id))
        ).scalar_one_or_none()
        if email is None:
            return "missing"
        if email.status == EmailStatus.sent.value:
            return "already sent"  # a job may run twice; the message goes once
        if email.job_id is not None and email.job_id != context.job.id:
            # The row names the one job that delivers it (queue_email's, or an admin
            # retry's). Any other job for it would race that one to the SMTP server.
            return "superseded"
        mailer: Mailer = database.mailer
        message = build_message(
            sender=runtime.settings.FROM_EMAIL,
            to=email.to_address,
            rendered=_rendered(email),
            attachments=email.attachments,
            message_id=f"<{email.id}@medhub.local>",
        )
        attempt = email.attempts + 1
    try:
        await mailer.transport.send(message)
    except EmailDeliveryError as exc:
        # The job's own count decides, as in EMAIL_RETRY: a message an admin retried has
        # more attempts on its row than its new job has had, and must show as queued
        # while that job still retries (or it could be retried a second time beside it).
        last_try = exc.permanent or EMAIL_RETRY.is_last_attempt(context.job)
        await _record(database, message_id, attempt, error=str(exc), failed=last_try)
        log.warning(
            "email.delivery_failed",
            email_id=email_id,
            attempt=attempt,
            permanent=exc.permanent,
            error=str(exc),
        )
        if exc.permanent:
            raise PermanentEmailFailure(str(exc)) from exc
        raise TemporaryEmailFailure(str(exc)) from exc
    await _record(database, message_id, attempt, error=None, failed=False)
    return "sent"


def _rendered(email: OutgoingEmail) -> RenderedEmail:
    return RenderedEmail(
        template=email.template, subject=email.subject, text=email.text_body, html=email.html_body
    )


async def _record(
    database: Database, email_id: uuid.UUID, attempt: int, *, error: str | None, failed: bool
) -> None:
    if error is None:
        values: dict[str, object] = {
            "status": EmailStatus.sent.value,
            "attempts": attempt,
            "sent_at": datetime.now(UTC),
            "last_error": None,
            # Bodies may carry one-time links; once delivered they are not kept.
            "text_body": "",
            "html_body": "",
            "attachments": [],
        }
    else:
        values = {
            "attempts": attempt,
            "last_error": error[:2000],
            "status": EmailStatus.failed.value if failed else EmailStatus.queued.value,
        }
    async with database.unit_of_work() as session:
        await session.execute(
            update(OutgoingEmail)
            .where(OutgoingEmail.id == email_id, OutgoingEmail.status != EmailStatus.sent.value)
            .values(**values)
        )
