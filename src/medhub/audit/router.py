from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from medhub.audit import service
from medhub.audit.auth import ActivityLogsRead
from medhub.audit.schemas import ActivityLogRead, LogFilters
from medhub.kit.dates import InstantRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import JSONResponse, ok
from medhub.kit.pagination import Paging, page_envelope, page_of

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get(
    "/activity-logs",
    response_model=page_envelope("activity_logs", ActivityLogRead),
    summary="The activity log, newest first (your organization's; every one for super admins)",
)
async def list_activity_logs(
    *,
    principal: ActivityLogsRead,
    session: DbSession,
    paging: Paging,
    period: InstantRangeQuery,
    action: Annotated[str | None, Query(max_length=100, description="e.g. `login`")] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Rows about this actor")] = None,
    entity_type: Annotated[str | None, Query(max_length=50, description="e.g. `api_key`")] = None,
    entity_id: Annotated[uuid.UUID | None, Query()] = None,
    organization_id: Annotated[
        uuid.UUID | None,
        Query(description="Super admins: one organization's rows. Admins: only their own"),
    ] = None,
) -> JSONResponse:
    filters = LogFilters(
        action=action,
        user_id=user_id,
        organization_id=organization_id,
        entity_type=entity_type,
        entity_id=entity_id,
        since=period.since,
        until=period.until,
    )
    items, total = await service.list_logs(session, principal, filters, paging)
    rows = [ActivityLogRead.model_validate(item) for item in items]
    return ok(page_of("activity_logs", rows, paging, total))
