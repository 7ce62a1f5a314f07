from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal

JobsManage = Annotated[Principal, Depends(require(Action.JOBS_MANAGE))]
