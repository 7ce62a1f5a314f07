"""Consultations: reading them, opening them (from an appointment, or ad hoc), and
the seams other domains call.

For the appointments domain: `open_for_appointment(session, appointment, actor=...)`
opens the appointment's consultation when the appointment moves to `in_progress`.
The appointments package must not import this one (the import-linter `acyclic`
contract: consultations reads appointments), so it is wired in through a hook that
the appointments domain calls, registered at integration.

For the records domain: `belongs_to_chart` (a record may cite a consultation of its
own chart only) and `of_own_charts` (a patient's consultations, for their medical
history).

Every read of clinical content is audited (`consultation.read`, `consultation.list`),
with the chart's id in the metadata so that a patient's access log finds it; the
metadata never holds clinical content.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.permissions import Action, can
from medhub.authz.principal import Principal
from medhub.consultations.exceptions import (
    AppointmentNotFound,
    AppointmentNotOpen,
    ConsultationNotFound,
    DoctorProfileRequired,
)
from medhub.consultations.repository import ConsultationRepository, ConsultationScope
from medhub.consultations.schemas import ConsultationCreate, ConsultationFilters
from medhub.consultations.video import VideoProvider, joinable, new_room_name
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import PageParams
from medhub.models.appointments import Appointment, AppointmentStatus
from medhub.models.consultations import Consultation, ConsultationStatus, ConsultationType
from medhub.patients import service as patients

ENTITY = "consultation"
# An appointment in one of these has no encounter to record.
_CLOSED_APPOINTMENTS = frozenset(
    {AppointmentStatus.cancelled.value, AppointmentStatus.no_show.value}
)
# Only the appointment: the rest of a consultation made from one comes from it.
_AD_HOC_FIELDS = ("patient_id", "type", "chief_complaint", "scheduled_at")


def now() -> datetime:
    return datetime.now(UTC)


# Who reaches which consultations


def scope_of(principal: Principal) -> ConsultationScope:
    """The organization's consultations for its approved doctors, the consultations of
    the charts linked to a patient's account, nothing for anyone else (an
    organization's admins included, although row-level security would let them by)."""
    if can(principal.role, Action.CLINICAL_READ):
        if principal.organization_id is None or not principal.is_approved:
            return ConsultationScope()
        return ConsultationScope(organization_id=principal.organization_id)
    if can(principal.role, Action.PATIENT_SELF) and principal.user_id is not None:
        return ConsultationScope(user_id=principal.user_id)
    return ConsultationScope()


def _is_participant(consultation: Consultation, principal: Principal) -> bool:
    """The doctor holding the consultation, or the patient: a patient's scope holds
    only the consultations of the charts linked to them, so any they can see is theirs."""
    if principal.user_id is None:
        return False
    if consultation.doctor_id == principal.user_id:
        return True
    return can(principal.role, Action.PATIENT_SELF)


# Views


def consultation_view(
    consultation: Consultation, principal: Principal, video: VideoProvider, at: datetime
) -> dict[str, Any]:
    join_url: str | None = None
    if (
        consultation.video_room is not None
        and _is_participant(consultation, principal)
        and joinable(
            type=consultation.type,
            status=consultation.status,
            scheduled_at=consultation.scheduled_at,
            now=at,
        )
    ):
        join_url = video.join_url(consultation.video_room)
    return {
        "id": consultation.id,
        "organization_id": consultation.organization_id,
        "patient_id": consultation.patient_id,
        "doctor_id": consultation.doctor_id,
        "appointment_id": consultation.appointment_id,
        "type": consultation.type,
        "status": consultation.status,
        "scheduled_at": consultation.scheduled_at,
        "started_at": consultation.started_at,
        "ended_at": consultation.ended_at,
        "chief_complaint": consultation.chief_complaint,
        "diagnosis": consultation.diagnosis,
        "icd10_codes": consultation.icd10_codes or [],
        "notes": consultation.notes,
        "vitals": consultation.vitals,
        "follow_up_on": consultation.follow_up_on,
        "follow_up_notes": consultation.follow_up_notes,
        "cancelled_reason": consultation.cancelled_reason,
        "join_url": join_url,
        "created_at": consultation.created_at,
        "updated_at": consultation.updated_at,
    }


def audit_about(
    session: AsyncSession,
    action: str,
    principal: Principal,
    consultation: Consultation,
    **metadata: Any,
) -> None:
    """An audit row about one consultation. Its organization is the caller's (a
    patient, who has none, writes a row of no organization, which is all the log's
    insert policy lets them write); the chart's organization is in the metadata."""
    audit.record(
        session,
        action,
        actor=principal,
        entity_type=ENTITY,
        entity_id=consultation.id,
        metadata={
            "patient_id": str(consultation.patient_id),
            "organization_id": str(consultation.organization_id),
            **metadata,
        },
    )


# Reads


async def readable(
    session: AsyncSession,
    principal: Principal,
    consultation_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Consultation:
    consultation = await ConsultationRepository(session).get_readable(
        scope_of(principal), consultation_id, for_update=for_update
    )
    if consultation is None:
        raise ConsultationNotFound()
    return consultation


async def list_consultations(
    session: AsyncSession,
    principal: Principal,
    filters: ConsultationFilters,
    paging: PageParams,
    video: VideoProvider,
) -> tuple[list[dict[str, Any]], int]:
    items, total = await ConsultationRepository(session).page(scope_of(principal), filters, paging)
    _audit_list(session, principal, items, filters)
    at = now()
    return [consultation_view(item, principal, video, at) for item in items], total


def _audit_list(
    session: AsyncSession,
    principal: Principal,
    items: Sequence[Consultation],
    filters: ConsultationFilters,
) -> None:
    # One row per page read, naming every chart on it: a list shows diagnoses and
    # notes as much as a single read does.
    audit.record(
        session,
        "consultation.list",
        actor=principal,
        entity_type=ENTITY,
        metadata={
            "count": len(items),
            "patient_ids": sorted({str(item.patient_id) for item in items}),
            "filters": {
                "patient_id": str(filters.patient_id) if filters.patient_id else None,
                "doctor_id": str(filters.doctor_id) if filters.doctor_id else None,
                "status": filters.status,
            },
        },
    )


async def read_consultation(
    session: AsyncSession, principal: Principal, consultation_id: uuid.UUID, video: VideoProvider
) -> dict[str, Any]:
    consultation = await readable(session, principal, consultation_id)
    audit_about(session, "consultation.read", principal, consultation)
    return consultation_view(consultation, principal, video, now())


# Opening


def _from_appointment(appointment: Appointment, *, started: bool) -> dict[str, Any]:
    """The values of an appointment's consultation: its chart, doctor, type and time."""
    video = appointment.type == ConsultationType.video.value
    return {
        "organization_id": appointment.organization_id,
        "patient_id": appointment.patient_id,
        "doctor_id": appointment.doctor_id,
        "appointment_id": appointment.id,
        "type": appointment.type,
        "status": (
            ConsultationStatus.in_progress if started else ConsultationStatus.scheduled
        ).value,
        "scheduled_at": appointment.starts_at,
        "started_at": now() if started else None,
        # One room per appointment: the one named at booking, if it was.
        "video_room": (appointment.video_room or new_room_name()) if video else None,
    }


async def _open(
    session: AsyncSession, appointment: Appointment, actor: Principal, *, started: bool, via: str
) -> tuple[Consultation, bool]:
    repository = ConsultationRepository(session)
    inserted = await repository.insert_for_appointment(
        _from_appointment(appointment, started=started)
    )
    consultation = await repository.of_appointment(appointment.id)
    # Inserted now, or by a concurrent opening that won the unique index.
    assert consultation is not None
    if inserted:
        audit_about(
            session,
            "consultation.created",
            actor,
            consultation,
            appointment_id=str(appointment.id),
            type=consultation.type,
            via=via,
        )
    return consultation, inserted


async def open_for_appointment(
    session: AsyncSession, appointment: Appointment, *, actor: Principal
) -> Consultation:
    """The appointment's consultation, in progress: made now (type and time from the
    appointment, started now, a room named for a video one), or the one it already
    has. Idempotent: an existing consultation is returned, and started if it was only
    scheduled (a doctor opened it ahead with `POST /consultations`).

    For the appointments domain, when an appointment moves to `in_progress`, in the
    same unit of work. It decides who may start an appointment; nothing is checked
    here beyond row-level security (the consultation is written in the appointment's
    organization, so `actor` must act for it).
    """
    repository = ConsultationRepository(session)
    consultation = await repository.of_appointment(appointment.id)
    if consultation is None:
        consultation, _ = await _open(
            session, appointment, actor, started=True, via="appointment_started"
        )
        return consultation
    if consultation.status == ConsultationStatus.scheduled.value:
        consultation.status = ConsultationStatus.in_progress.value
        consultation.started_at = now()
        await session.flush()
        audit_about(
            session,
            "consultation.status_changed",
            actor,
            consultation,
            previous=ConsultationStatus.scheduled.value,
            status=consultation.status,
            via="appointment_started",
        )
    return consultation


async def create_consultation(
    session: AsyncSession, principal: Principal, data: ConsultationCreate, video: VideoProvider
) -> tuple[dict[str, Any], bool]:
    """`POST /consultations`: the appointment's consultation (made if it has none yet;
    True when made), or an ad hoc one for a chart of the doctor's organization."""
    if data.appointment_id is not None:
        extra = [name for name in _AD_HOC_FIELDS if name in data.model_fields_set]
        if extra:
            raise ValidationFailed(
                "A consultation made from an appointment takes everything from it",
                details=[
                    ErrorDetail(field=name, message="not allowed with appointment_id")
                    for name in extra
                ],
            )
        consultation, created = await _for_appointment(session, principal, data.appointment_id)
    else:
        consultation, created = await _ad_hoc(session, principal, data), True
    return consultation_view(consultation, principal, video, now()), created


async def _for_appointment(
    session: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> tuple[Consultation, bool]:
    repository = ConsultationRepository(session)
    organization_id = principal.organization_id
    appointment = (
        await repository.appointment_of_organization(appointment_id, organization_id)
        if organization_id is not None
        else None
    )
    if appointment is None:
        raise AppointmentNotFound()
    existing = await repository.of_appointment(appointment.id)
    if existing is not None:
        return existing, False
    if appointment.status in _CLOSED_APPOINTMENTS:
        raise AppointmentNotOpen(
            f"This appointment is {appointment.status}: it has no consultation to open"
        )
    return await _open(
        session,
        appointment,
        principal,
        started=appointment.status == AppointmentStatus.in_progress.value,
        via="appointment",
    )


async def _ad_hoc(
    session: AsyncSession, principal: Principal, data: ConsultationCreate
) -> Consultation:
    if data.patient_id is None:
        raise ValidationFailed(
            "Name the appointment, or the patient of an ad hoc consultation",
            details=[ErrorDetail(field="patient_id", message="required without appointment_id")],
        )
    chart = await patients.get_patient(session, principal, data.patient_id)
    doctor_id = principal.require_user_id()
    repository = ConsultationRepository(session)
    if not await repository.has_doctor_profile(doctor_id):
        raise DoctorProfileRequired()
    kind = data.type or ConsultationType.in_person
    consultation = Consultation(
        organization_id=chart.organization_id,
        patient_id=chart.id,
        doctor_id=doctor_id,
        type=kind.value,
        status=ConsultationStatus.scheduled.value,
        scheduled_at=data.scheduled_at or now(),
        chief_complaint=data.chief_complaint,
        video_room=new_room_name() if kind is ConsultationType.video else None,
    )
    await repository.add(consultation)
    audit_about(
        session, "consultation.created", principal, consultation, type=kind.value, via="ad_hoc"
    )
    return consultation


# For the records domain


async def of_own_charts(
    session: AsyncSession,
    principal: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Sequence[Consultation]:
    """A patient's consultations at every organization (those of the live charts linked
    to their account), scheduled in [since, until), newest first: the medical history.
    Nothing for anyone else. Not audited: the caller audits what it shows."""
    if not can(principal.role, Action.PATIENT_SELF) or principal.user_id is None:
        return []
    return await ConsultationRepository(session).all_readable(
        scope_of(principal), since=since, until=until
    )


async def belongs_to_chart(
    session: AsyncSession, consultation_id: uuid.UUID, patient_id: uuid.UUID
) -> bool:
    """Whether the consultation is one of this chart's (the caller has already been
    given the chart; row-level security keeps other organizations out)."""
    return await ConsultationRepository(session).of_chart(consultation_id, patient_id)
