from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from medhub.audit.schemas import LogFilters
from medhub.authz.principal import Principal
from medhub.kit.repository import Repository
from medhub.models.audit import ActivityLog


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
