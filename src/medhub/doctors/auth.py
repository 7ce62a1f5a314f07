"""Who may manage doctors' profiles and availability. The directory, public profiles
and free slots are public: their routes take an optional principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal


async def _doctor_self(
    principal: Annotated[Principal, Depends(require(Action.DOCTOR_SELF_MANAGE))],
) -> Principal:
    # "me" is a person: an API key with the doctor role has no profile of its own.
    principal.require_user_id()
    return principal


DoctorSelf = Annotated[Principal, Depends(_doctor_self)]
AvailabilityManage = Annotated[Principal, Depends(require(Action.AVAILABILITY_MANAGE))]
