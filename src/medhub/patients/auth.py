"""Who may use the chart routes (issue 12's access matrix, `authz/permissions.py`).

Charts are their organization's: the staff aliases let through a role the matrix
allows, of an organization, and for doctors only once approved (approval comes from
the login session's check, never from the token). The MedConnect spelling
(`/doctors/patients`) is the doctors'. A patient's own routes (profile, claim) are the
patient's, as a person.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import current_principal
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.kit.errors import PermissionDenied
from medhub.patients.exceptions import DoctorNotApproved


def _staff(*actions: Action) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller's role may do every action, and they act for an
    organization (an approved one, for doctors)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        for action in actions:
            if not can(principal.role, action):
                raise PermissionDenied(f"Your role ({principal.role}) may not {action.value}")
        if not principal.is_approved:
            raise DoctorNotApproved()
        if principal.organization_id is None:
            raise PermissionDenied("Patients' charts belong to an organization, and you have none")
        return principal

    dependency.__name__ = "staff_" + "_".join(a.name.lower() for a in actions)
    return dependency


async def _patient_self(request: Request) -> Principal:
    principal = await current_principal(request)
    if not can(principal.role, Action.PATIENT_SELF):
        raise PermissionDenied(f"Only patients have this (your role: {principal.role})")
    # A person: an API key has no profile and claims no chart.
    principal.require_user_id()
    return principal


PatientsRead = Annotated[Principal, Depends(_staff(Action.PATIENTS_READ))]
PatientsWrite = Annotated[Principal, Depends(_staff(Action.PATIENTS_WRITE))]
PatientsDelete = Annotated[Principal, Depends(_staff(Action.PATIENTS_DELETE))]
# MedConnect's `/doctors/patients`: the matrix's doctor column (the role that acts as a
# doctor) and the chart permission.
DoctorPatientsRead = Annotated[
    Principal, Depends(_staff(Action.DOCTOR_SELF_MANAGE, Action.PATIENTS_READ))
]
DoctorPatientsWrite = Annotated[
    Principal, Depends(_staff(Action.DOCTOR_SELF_MANAGE, Action.PATIENTS_WRITE))
]
PatientSelf = Annotated[Principal, Depends(_patient_self)]
