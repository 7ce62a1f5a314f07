"""Who may read reports: a supplier's staff (admin and sales) and super admins; the
dashboard only admins and super admins (see the permission table)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal

ReportsRead = Annotated[Principal, Depends(require(Action.REPORTS_READ))]
DashboardRead = Annotated[Principal, Depends(require(Action.DASHBOARD_READ))]
