"""Who reaches clinical content (issue 12's access matrix): the approved doctors of
the chart's organization, and the patient whose linked chart it is. Not the
organization's admins, not platform operators, no other role.

Which consultations or records a caller then sees is scoping (the repositories);
these dependencies only decide who may ask at all."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import CurrentPrincipal
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.doctors.auth import approved_doctor
from medhub.kit.errors import PermissionDenied


def _refused(principal: Principal) -> PermissionDenied:
    return PermissionDenied(
        f"Clinical content is for the patient's doctors and the patient (your role: "
        f"{principal.role})"
    )


async def clinical_reader(principal: CurrentPrincipal) -> Principal:
    """An approved doctor of a hospital or clinic, or a patient (their own charts)."""
    if can(principal.role, Action.CLINICAL_READ):
        return await approved_doctor(principal)
    if can(principal.role, Action.PATIENT_SELF):
        # A person: what is theirs is found through their account.
        principal.require_user_id()
        return principal
    raise _refused(principal)


async def clinical_doctor(principal: CurrentPrincipal) -> Principal:
    """An approved doctor of a hospital or clinic (reading, as a doctor)."""
    if not can(principal.role, Action.CLINICAL_READ):
        raise _refused(principal)
    return await approved_doctor(principal)


async def clinical_writer(principal: CurrentPrincipal) -> Principal:
    """An approved doctor of a hospital or clinic (writing clinical content)."""
    if not can(principal.role, Action.CLINICAL_WRITE):
        raise _refused(principal)
    return await approved_doctor(principal)


ClinicalRead = Annotated[Principal, Depends(clinical_reader)]
ClinicalDoctor = Annotated[Principal, Depends(clinical_doctor)]
ClinicalWrite = Annotated[Principal, Depends(clinical_writer)]
