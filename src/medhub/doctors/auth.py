"""Who may manage doctors' profiles and availability, and who may act as a doctor.
The directory, public profiles and free slots are public: their routes take an
optional principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import CurrentPrincipal, require
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.doctors.exceptions import AwaitingApproval
from medhub.kit.errors import PermissionDenied


async def _doctor_self(
    principal: Annotated[Principal, Depends(require(Action.DOCTOR_SELF_MANAGE))],
) -> Principal:
    # "me" is a person: an API key with the doctor role has no profile of its own.
    principal.require_user_id()
    return principal


async def approved_doctor(principal: CurrentPrincipal) -> Principal:
    """A doctor who may act clinically (see patients, hold appointments, consult,
    prescribe): approved, and of a hospital or clinic, whose tenant their clinical rows
    belong to. Approval gives an independent doctor a clinic of their own, so an
    approved doctor without one is still waiting as far as they are concerned.

    Both come from the login session's check (`auth_context()`), never from the token:
    an approval counts on the doctor's next request, with the token they hold."""
    # The matrix's doctor column: the role that acts as itself, as a doctor.
    if not can(principal.role, Action.DOCTOR_SELF_MANAGE):
        raise PermissionDenied(f"Only doctors may do this (your role: {principal.role})")
    principal.require_user_id()
    if not principal.is_approved:
        raise AwaitingApproval()
    if principal.organization_id is None:
        raise AwaitingApproval(
            "Your doctor account is awaiting approval: it belongs to no hospital or clinic yet"
        )
    return principal


DoctorSelf = Annotated[Principal, Depends(_doctor_self)]
AvailabilityManage = Annotated[Principal, Depends(require(Action.AVAILABILITY_MANAGE))]
# Clinical routes (patients, appointments, consultations, prescriptions) of doctors.
ApprovedDoctor = Annotated[Principal, Depends(approved_doctor)]
