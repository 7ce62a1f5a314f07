from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from medhub.events import service
from medhub.events.auth import JobsManage, TestEventSender
from medhub.events.schemas import (
    Cleared,
    EmailQueueStatus,
    EmailRead,
    EmittedEvent,
    TestEventRequest,
)
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.mail import service as mail
from medhub.models.mail import EmailStatus

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "/email-queue/status",
    response_model=Envelope[EmailQueueStatus],
    summary="Counts of queued, processing, delivered and failed emails, and queue health",
)
async def email_queue_status(_principal: JobsManage, session: DbSession) -> JSONResponse:
    status = await mail.queue_status(session)
    return ok(
        EmailQueueStatus(**status.__dict__), message="Email queue status retrieved successfully"
    )


@router.get(
    "/email-queue",
    response_model=page_envelope("emails", EmailRead),
    summary="Queued and sent emails with their attempts and last error",
)
async def email_queue(
    _principal: JobsManage,
    session: DbSession,
    paging: Paging,
    status: Annotated[EmailStatus | None, Query()] = None,
) -> JSONResponse:
    items, total = await mail.list_messages(session, status, paging)
    return ok(page_of("emails", [EmailRead.model_validate(e) for e in items], paging, total))


@router.post(
    "/email-queue/clear-completed",
    response_model=Envelope[Cleared],
    summary="Forget delivered emails and their finished jobs",
)
async def clear_completed(principal: JobsManage, session: DbSession) -> JSONResponse:
    cleared = await mail.clear_completed(session, actor=principal)
    return ok(Cleared(cleared=cleared), message="Completed jobs cleared")


@router.post(
    "/email-queue/{email_id}/retry",
    response_model=Envelope[EmailRead],
    summary="Send a failed (dead-lettered) email again",
)
async def retry_email(
    email_id: uuid.UUID, principal: JobsManage, session: DbSession
) -> JSONResponse:
    email = await mail.retry(session, email_id, actor=principal)
    return ok(EmailRead.model_validate(email), message="Email queued again")


@router.post(
    "/test",
    status_code=201,
    response_model=Envelope[EmittedEvent],
    summary="Emit a test event; its handler sends you a notification",
)
async def emit_test_event(
    principal: TestEventSender,
    session: DbSession,
    body: Annotated[TestEventRequest | None, Body()] = None,
) -> JSONResponse:
    message = body.message if body is not None else "Test event"
    event_id = await service.emit(
        session,
        "test.event",
        {"user_id": str(principal.require_user_id()), "message": message},
        actor_id=principal.user_id,
        organization_id=principal.organization_id,
    )
    return created(EmittedEvent(event_id=event_id, name="test.event"), message="Event emitted")
