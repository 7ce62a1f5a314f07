"""`PUT /consultations/{id}`: the clinical content of a consultation and its status.

    scheduled ──→ in_progress ──→ completed
        │              │
        └──────────────┴──────→ cancelled

Starting a consultation starts its appointment, completing it completes it (through
the appointments domain, audited there). Once
completed or cancelled, its clinical content is the record of what happened and no
longer changes (409).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.appointments import lifecycle as appointments
from medhub.authz.principal import Principal
from medhub.consultations.exceptions import ConsultationClosed, ConsultationTransitionRefused
from medhub.consultations.schemas import CLINICAL_FIELDS, ConsultationUpdate, vitals_for_storage
from medhub.consultations.service import audit_about, consultation_view, now, readable
from medhub.consultations.video import VideoProvider
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.models.appointments import AppointmentStatus
from medhub.models.consultations import Consultation, ConsultationStatus

S = ConsultationStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.scheduled.value: frozenset({S.in_progress.value, S.cancelled.value}),
    S.in_progress.value: frozenset({S.completed.value, S.cancelled.value}),
    S.completed.value: frozenset(),
    S.cancelled.value: frozenset(),
}
CLOSED = frozenset({S.completed.value, S.cancelled.value})
# Starting or completing a consultation moves its appointment the same way.
FOLLOWED: dict[str, AppointmentStatus] = {
    S.in_progress.value: AppointmentStatus.in_progress,
    S.completed.value: AppointmentStatus.completed,
}


def _clinical_changes(data: ConsultationUpdate) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in sorted(CLINICAL_FIELDS & data.model_fields_set):
        value = getattr(data, name)
        if name == "vitals":
            value = vitals_for_storage(data.vitals)
        changes[name] = value
    return changes


def _target_status(consultation: Consultation, data: ConsultationUpdate) -> str | None:
    """The status asked for, if it is a move (the current status again changes nothing,
    so a repeated PUT is harmless); refused if the machine has no such move."""
    sent = data.status.value if data.status is not None else None
    if "cancelled_reason" in data.model_fields_set and sent != S.cancelled.value:
        raise ValidationFailed(
            "A reason is given when cancelling",
            details=[ErrorDetail(field="cancelled_reason", message="only with status cancelled")],
        )
    if sent is None or sent == consultation.status:
        return None
    if sent not in TRANSITIONS[consultation.status]:
        raise ConsultationTransitionRefused(
            f"A {consultation.status} consultation cannot become {sent}",
            details=[
                ErrorDetail(field="status", message=f"not allowed from {consultation.status}")
            ],
        )
    return sent


async def update_consultation(
    session: AsyncSession,
    principal: Principal,
    consultation_id: uuid.UUID,
    data: ConsultationUpdate,
    video: VideoProvider,
) -> dict[str, Any]:
    # Locked: two doctors completing at once must not both complete (nor one edit
    # notes in between a completion's check and its write).
    consultation = await readable(session, principal, consultation_id, for_update=True)
    changes = _clinical_changes(data)
    if changes and consultation.status in CLOSED:
        raise ConsultationClosed(
            f"This consultation is {consultation.status}: its clinical content can no"
            " longer change (add a medical record to the chart instead)"
        )
    target = _target_status(consultation, data)
    previous = consultation.status
    for name, value in changes.items():
        setattr(consultation, name, value)
    if target is not None:
        consultation.status = target
        if target == S.in_progress.value:
            consultation.started_at = now()
        elif target == S.completed.value:
            consultation.ended_at = now()
        elif target == S.cancelled.value:
            consultation.cancelled_reason = data.cancelled_reason
    if changes or target is not None:
        await session.flush()
    if changes:
        audit_about(session, "consultation.updated", principal, consultation, fields=list(changes))
    if target is not None:
        audit_about(
            session,
            "consultation.status_changed",
            principal,
            consultation,
            previous=previous,
            status=target,
        )
    if target in FOLLOWED and consultation.appointment_id is not None:
        # The appointment follows its consultation, in this unit of work.
        await appointments.follow_consultation(
            session,
            principal,
            consultation.appointment_id,
            FOLLOWED[target],
            consultation.id,
        )
    return consultation_view(consultation, principal, video, now())
