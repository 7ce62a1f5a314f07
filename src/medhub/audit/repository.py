from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, text

from medhub.audit.schemas import ChartAccessFilters, LogFilters
from medhub.authz.principal import Principal
from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.audit import ActivityLog

# The patient's window on the log (migration 0017): the rows about the charts linked
# to the account in the transaction's context, newest first, with their total.
_PATIENT_ACCESS_LOG = text(
    "SELECT occurred_at, action, entity_type, entity_id, actor_kind, actor_name, actor_role,"
    " organization_id, organization_name, is_self, total"
    " FROM patient_access_log(CAST(:since AS timestamptz), CAST(:until AS timestamptz),"
    " CAST(:action AS text), CAST(:limit AS integer), CAST(:offset AS integer))"
)


class ActivityLogRepository(Repository[ActivityLog]):
    model = ActivityLog

    def readable_statement(self, principal: Principal, filters: LogFilters) -> Select[Any]:
        statement = self.base_statement()
        if not principal.is_super_admin:
            # Org admins see their organization's log; RLS enforces the same.
            statement = statement.where(ActivityLog.organization_id == principal.organization_id)
        elif filters.organization_id is not None:
            statement = statement.where(ActivityLog.organization_id == filters.organization_id)
        if filters.action:
            statement = statement.where(ActivityLog.action == filters.action)
        if filters.user_id:
            statement = statement.where(ActivityLog.user_id == filters.user_id)
        if filters.entity_type:
            statement = statement.where(ActivityLog.entity_type == filters.entity_type)
        if filters.entity_id:
            statement = statement.where(ActivityLog.entity_id == filters.entity_id)
        if filters.since:
            statement = statement.where(ActivityLog.created_at >= filters.since)
        if filters.until:
            statement = statement.where(ActivityLog.created_at <= filters.until)
        return statement.order_by(ActivityLog.seq.desc())

    async def patient_access_page(
        self, filters: ChartAccessFilters, params: PageParams
    ) -> tuple[Sequence[Row[Any]], int]:
        """One page of the calling patient's access log and the number of entries."""
        values = {"since": filters.since, "until": filters.until, "action": filters.action}
        rows = (
            await self.session.execute(
                _PATIENT_ACCESS_LOG, {**values, "limit": params.limit, "offset": params.offset}
            )
        ).all()
        if rows:
            return rows, int(rows[0].total)
        if params.offset == 0:
            return [], 0
        # Past the last page: the total still counts (from the first row).
        first = (
            await self.session.execute(_PATIENT_ACCESS_LOG, {**values, "limit": 1, "offset": 0})
        ).first()
        return [], int(first.total) if first is not None else 0
