"""Outgoing email: queue in the caller's transaction, deliver from a job, observe, retry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.kit.email import MAILER_KEY, Mailer
from medhub.kit.errors import InvalidStateTransition, NotFound
from medhub.kit.jobs import defer
from medhub.kit.pagination import PageParams
from medhub.mail.repository import EmailRepository
from medhub.mail.tasks import send_email
from medhub.models.mail import EmailStatus, OutgoingEmail

SEND_EMAIL_TASK = "medhub.send_email"


async def queue_email(
    session: AsyncSession,
    template: str,
    to: str,
    context: dict[str, Any],
    *,
    user_id: uuid.UUID | None = None,
    attachments: list[dict[str, Any]] | None = None,
) -> uuid.UUID:
    """Render now (a template error fails the caller's request), deliver from a job.

    The message row and its job are written in the caller's transaction: a
    rolled-back request sends nothing, a committed one always sends.
    """
    mailer: Mailer = session.info[MAILER_KEY]
    rendered = mailer.render(template, context)
    email = await EmailRepository(session).add(
        OutgoingEmail(
            to_address=to,
            template=template,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            attachments=attachments or [],
            user_id=user_id,
            status=EmailStatus.queued.value,
            attempts=0,
        )
    )
    email.job_id = await defer(session, send_email, email_id=str(email.id))
    return email.id


async def count_recent(session: AsyncSession, *, template: str, to: str, since: datetime) -> int:
    """How many emails of `template` were queued for `to` (any case) since `since`."""
    return await EmailRepository(session).count_recent(template=template, to=to, since=since)


@dataclass(frozen=True)
class QueueStatus:
    total_jobs: int
    pending_jobs: int
    processing_jobs: int
    completed_jobs: int
    failed_jobs: int
    is_healthy: bool
    last_updated: datetime


# An email counts as stuck when its job was due this long ago and has not started.
STUCK_AFTER_SECONDS = 300
# A worker is alive when its heartbeat is younger than this.
WORKER_ALIVE_SECONDS = 60


async def queue_status(session: AsyncSession) -> QueueStatus:
    counts = (
        await session.execute(
            text(
                "SELECT count(*) AS total,"
                " count(*) FILTER (WHERE e.status = 'queued' AND coalesce(j.status::text, 'todo')"
                "   = 'todo') AS pending,"
                " count(*) FILTER (WHERE e.status = 'queued' AND j.status = 'doing') AS processing,"
                " count(*) FILTER (WHERE e.status = 'sent') AS completed,"
                " count(*) FILTER (WHERE e.status = 'failed') AS failed,"
                " count(*) FILTER (WHERE e.status = 'queued' AND j.status = 'todo'"
                "   AND j.scheduled_at IS NULL AND e.created_at < now() - make_interval("
                "   secs => :stuck)) AS stuck,"
                " now() AS now"
                " FROM email_messages e LEFT JOIN procrastinate_jobs j ON j.id = e.job_id"
            ),
            {"stuck": STUCK_AFTER_SECONDS},
        )
    ).one()
    workers = await session.scalar(
        text(
            "SELECT count(*) FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - make_interval(secs => :alive)"
        ),
        {"alive": WORKER_ALIVE_SECONDS},
    )
    return QueueStatus(
        total_jobs=int(counts.total),
        pending_jobs=int(counts.pending),
        processing_jobs=int(counts.processing),
        completed_jobs=int(counts.completed),
        failed_jobs=int(counts.failed),
        # Healthy: someone is working the queue and nothing waits past its time.
        is_healthy=bool(workers) and int(counts.stuck) == 0,
        last_updated=counts.now,
    )


async def list_messages(
    session: AsyncSession, status: EmailStatus | None, page: PageParams
) -> tuple[Sequence[OutgoingEmail], int]:
    repository = EmailRepository(session)
    return await repository.paginate(repository.listing(status), page)


async def clear_completed(session: AsyncSession, *, actor: Principal) -> int:
    """Forget delivered messages and their finished jobs."""
    repository = EmailRepository(session)
    cleared = await repository.delete_sent()
    audit.record(session, "email_queue_cleared", actor=actor, metadata={"cleared": cleared})
    return cleared


async def retry(session: AsyncSession, email_id: uuid.UUID, *, actor: Principal) -> OutgoingEmail:
    """Send a dead-lettered message again: a fresh job, attempts counted on."""
    email = await EmailRepository(session).get_for_update(email_id)
    if email is None:
        raise NotFound("Email not found")
    if email.status != EmailStatus.failed.value:
        raise InvalidStateTransition(
            f"Only failed emails can be retried (this one is {email.status})"
        )
    email.status = EmailStatus.queued.value
    email.job_id = await defer(session, send_email, email_id=str(email.id))
    audit.record(
        session,
        "email_retried",
        actor=actor,
        entity_type="email",
        entity_id=email.id,
        metadata={"template": email.template, "attempts": email.attempts},
    )
    return email


async def count_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    result = await session.scalar(
        select(func.count()).select_from(OutgoingEmail).where(OutgoingEmail.user_id == user_id)
    )
    return int(result or 0)
