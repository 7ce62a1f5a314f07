from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response

from medhub.authz.dependencies import UserPrincipal
from medhub.kit.db import DbSession, release_connection
from medhub.kit.envelope import Envelope, JSONResponse, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.notifications import NotificationCategory
from medhub.notifications import service, stream
from medhub.notifications.schemas import (
    MarkedRead,
    NotificationRead,
    PreferenceList,
    PreferencesUpdate,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])


# Fixed paths first: `/stream`, `/preferences` and `/read-all` are not notification ids.
@router.get(
    "/stream",
    response_class=Response,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: `notification` events (id = seq), "
            "`: ping` heartbeats, and a `closed` event when the server ends the stream.",
        }
    },
    summary="Your notifications, live (Server-Sent Events)",
)
async def notification_stream(
    request: Request,
    principal: UserPrincipal,
    session: DbSession,
    last_event_id: Annotated[
        int | None,
        Query(ge=0, description="Replay every notification after this seq first"),
    ] = None,
    last_event_id_header: Annotated[
        int | None,
        Header(alias="Last-Event-ID", ge=0, description="Sent by browsers on reconnect"),
    ] = None,
) -> Response:
    # The stream may stay open for hours: give the connection back now.
    await release_connection(session)
    resume_after = last_event_id_header if last_event_id_header is not None else last_event_id
    return stream.open_stream(request, principal, resume_after)


@router.get(
    "/preferences",
    response_model=Envelope[PreferenceList],
    summary="Your channels (in-app, email, SMS) for every category",
)
async def get_preferences(principal: UserPrincipal, session: DbSession) -> JSONResponse:
    preferences = await service.get_preferences(session, principal)
    return ok(PreferenceList(preferences=preferences))


@router.put(
    "/preferences",
    response_model=Envelope[PreferenceList],
    summary="Change the channels of some categories (the others keep theirs)",
)
async def update_preferences(
    body: PreferencesUpdate, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    preferences = await service.update_preferences(session, principal, body)
    return ok(PreferenceList(preferences=preferences), message="Preferences updated")


@router.put(
    "/read-all",
    response_model=Envelope[MarkedRead],
    summary="Mark all your notifications read",
)
async def mark_all_read(principal: UserPrincipal, session: DbSession) -> JSONResponse:
    count = await service.mark_all_read(session, principal)
    return ok(MarkedRead(marked_read=count), message=f"{count} notifications marked read")


@router.get(
    "",
    response_model=page_envelope("notifications", NotificationRead, unread_count=int),
    summary="Your notifications, newest first, with the unread count",
)
async def list_notifications(
    principal: UserPrincipal,
    session: DbSession,
    paging: Paging,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
    category: Annotated[NotificationCategory | None, Query()] = None,
) -> JSONResponse:
    result = await service.list_notifications(
        session, principal, paging, unread=unread, category=category
    )
    payload = page_of(
        "notifications",
        result.items,
        paging,
        result.total,
    )
    payload["unread_count"] = result.unread_count
    return ok(payload)


@router.put(
    "/{notification_id}/read",
    response_model=Envelope[NotificationRead],
    summary="Mark one of your notifications read",
)
async def mark_read(
    notification_id: uuid.UUID, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    notification = await service.mark_read(session, principal, notification_id)
    return ok(NotificationRead.model_validate(notification))


@router.delete(
    "/{notification_id}",
    response_model=Envelope[None],
    summary="Delete one of your notifications",
)
async def delete_notification(
    notification_id: uuid.UUID, principal: UserPrincipal, session: DbSession
) -> JSONResponse:
    await service.delete_notification(session, principal, notification_id)
    return ok(None, message="Notification deleted")
