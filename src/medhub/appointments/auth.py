"""Who may use the appointment routes (issue 12's matrix, `authz/permissions.py`):
patients, approved doctors and organization admins. Which appointments, and which
moves, is the repository's scoping and the lifecycle's rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from medhub.authz.dependencies import current_principal
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.doctors.auth import approved_doctor
from medhub.kit.errors import PermissionDenied
from medhub.models.identity import Role


def _allowed(action: Action) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not can(principal.role, action):
            raise PermissionDenied(f"Your role ({principal.role}) may not {action.value}")
        if principal.role == Role.doctor:
            # A doctor holds appointments only once approved, in a hospital or clinic.
            await approved_doctor(principal)
        elif principal.role == Role.patient:
            # A person books and cancels: a patient is never an API key.
            principal.require_user_id()
        elif principal.organization_id is None:
            raise PermissionDenied("Appointments belong to an organization, and you have none")
        return principal

    dependency.__name__ = f"appointments_{action.name.lower()}"
    return dependency


AppointmentsRead = Annotated[Principal, Depends(_allowed(Action.APPOINTMENTS_READ))]
AppointmentsBook = Annotated[Principal, Depends(_allowed(Action.APPOINTMENTS_BOOK))]
