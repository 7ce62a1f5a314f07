"""A patient's medical history (MedConnect `GET /patients/medical-history`): everything
clinical held about them, at every organization with a chart linked to their account.

Behind a one-time code (the `X-OTP-Token` grant of purpose `medical_history`, checked
before anything is read) and a per-user rate limit (the route's). The patient sees
all that is theirs (DESIGN.md, "Clinical model"): the doctors' notes included, as
`GET /consultations/{id}` shows them to the patient already.

The use case lives in records, which may import consultations and patients; patients
may not import either (the import-linter `acyclic` contract). One audit row
(`medical_history.read`) names every chart read, so the patient's access log and each
chart's history of reads find it; it holds no clinical content.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.auth import recovery
from medhub.auth.schemas import OtpPurpose
from medhub.authz.principal import Principal
from medhub.consultations import service as consultations
from medhub.consultations.schemas import VitalsRead
from medhub.kit.dates import DayRange
from medhub.models.consultations import (
    Consultation,
    ConsultationStatus,
    ConsultationType,
    MedicalRecord,
    RecordKind,
)
from medhub.models.patients import Patient
from medhub.patients import profile as patient_profile
from medhub.patients import service as patients
from medhub.records.repository import RecordRepository
from medhub.records.schemas import (
    HistoryChart,
    HistoryConsultation,
    HistoryRecord,
    MedicalHistory,
)

ACTION = "medical_history.read"
ENTITY = "medical_history"


def distinct(*lists: Iterable[str] | None) -> list[str]:
    """Every entry once, in order of first appearance, compared ignoring case and
    surrounding spaces (the first spelling wins)."""
    seen: set[str] = set()
    merged: list[str] = []
    for entries in lists:
        for entry in entries or ():
            key = " ".join(entry.split()).casefold()
            if key and key not in seen:
                seen.add(key)
                merged.append(entry.strip())
    return merged


def _consultation(
    consultation: Consultation, organizations: dict[uuid.UUID, str], names: dict[uuid.UUID, str]
) -> HistoryConsultation:
    return HistoryConsultation(
        id=consultation.id,
        patient_id=consultation.patient_id,
        organization_id=consultation.organization_id,
        organization_name=organizations.get(consultation.organization_id),
        doctor_id=consultation.doctor_id,
        doctor_name=names.get(consultation.doctor_id),
        appointment_id=consultation.appointment_id,
        type=ConsultationType(consultation.type),
        status=ConsultationStatus(consultation.status),
        scheduled_at=consultation.scheduled_at,
        started_at=consultation.started_at,
        ended_at=consultation.ended_at,
        chief_complaint=consultation.chief_complaint,
        diagnosis=consultation.diagnosis,
        icd10_codes=consultation.icd10_codes or [],
        notes=consultation.notes,
        vitals=VitalsRead(**consultation.vitals) if consultation.vitals else None,
        follow_up_on=consultation.follow_up_on,
        follow_up_notes=consultation.follow_up_notes,
    )


def _record(
    record: MedicalRecord, organizations: dict[uuid.UUID, str], names: dict[uuid.UUID, str]
) -> HistoryRecord:
    return HistoryRecord(
        id=record.id,
        patient_id=record.patient_id,
        organization_id=record.organization_id,
        organization_name=organizations.get(record.organization_id),
        consultation_id=record.consultation_id,
        author_name=names.get(record.author_id) if record.author_id else None,
        kind=RecordKind(record.kind),
        recorded_on=record.recorded_on,
        title=record.title,
        content=record.content,
        data=record.data,
    )


def _charts(charts: Sequence[Patient], organizations: dict[uuid.UUID, str]) -> list[HistoryChart]:
    views = [
        HistoryChart(
            patient_id=chart.id,
            organization_id=chart.organization_id,
            organization_name=organizations.get(chart.organization_id, ""),
            mrn=chart.mrn,
            blood_type=chart.blood_type,
            allergies=chart.allergies or [],
            chronic_conditions=chart.chronic_conditions or [],
        )
        for chart in charts
    ]
    return sorted(views, key=lambda view: (view.organization_name.casefold(), view.mrn))


async def read_history(
    session: AsyncSession, principal: Principal, otp_token: str | None, days: DayRange
) -> MedicalHistory:
    """The caller's history (a patient's: the route lets no one else in), consultations
    and records limited to `days` when given; allergies, conditions and charts are the
    current ones. 403 `OTP_REQUIRED` without a live grant of this user for this purpose."""
    await recovery.check_otp_grant(session, principal, OtpPurpose.medical_history, otp_token)
    profile = await patient_profile.own_profile(session, principal)
    charts = await patients.own_charts(session, principal)
    organizations = {link.organization_id: link.organization_name for link in profile.charts}
    found_consultations = await consultations.of_own_charts(
        session, principal, since=days.start, until=days.end
    )
    repository = RecordRepository(session)
    found_records = await repository.of_charts(
        [chart.id for chart in charts], first=days.first, last=days.last
    )
    clinicians = {c.doctor_id for c in found_consultations} | {
        r.author_id for r in found_records if r.author_id is not None
    }
    names = await repository.clinician_names(clinicians)
    audit.record(
        session,
        ACTION,
        actor=principal,
        entity_type=ENTITY,
        metadata={
            "patient_ids": sorted(str(chart.id) for chart in charts),
            "organization_ids": sorted({str(chart.organization_id) for chart in charts}),
            "consultations": len(found_consultations),
            "records": len(found_records),
            "from": days.first.isoformat() if days.first else None,
            "to": days.last.isoformat() if days.last else None,
        },
    )
    chart_views = _charts(charts, organizations)
    return MedicalHistory(
        charts=chart_views,
        allergies=distinct(profile.allergies, *(view.allergies for view in chart_views)),
        chronic_conditions=distinct(*(view.chronic_conditions for view in chart_views)),
        consultations=[_consultation(c, organizations, names) for c in found_consultations],
        records=[_record(r, organizations, names) for r in found_records],
    )
