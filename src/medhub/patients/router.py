"""Patients: MedFlow's `/patients` (the organization's staff), MedConnect's
`/doctors/patients` (its doctors; the same service), and the patient's own
`/patients/profile` and `/patients/claim`.

Route order matters twice. The literal `/patients/profile` and `/patients/claim` are
declared before `/patients/{patient_id}`, so neither is read as an id (nor is the
records router's `/patients/medical-history`: app.py includes that router first). And
`/doctors/patients...` must be tried before the doctors router's `/doctors/{doctor_id}`:
app.py includes this router before that one.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from medhub.audit.schemas import ChartAccessEntry, ChartAccessFilters
from medhub.authz.principal import Principal
from medhub.field_crypto import normalise_identifier, normalise_phone
from medhub.kit.dates import Day, InstantRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.errors import ErrorDetail, ValidationFailed
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.patients import access_log, linking, profile, service
from medhub.patients.auth import (
    DoctorPatientsRead,
    DoctorPatientsWrite,
    PatientsDelete,
    PatientSelf,
    PatientsRead,
    PatientsWrite,
)
from medhub.patients.schemas import (
    ChartLink,
    ClaimRequest,
    PatientCreate,
    PatientFilters,
    PatientProfileRead,
    PatientProfileUpdate,
    PatientRead,
    PatientSort,
    PatientSummary,
    PatientUpdate,
    SortOrder,
)

router = APIRouter(tags=["patients"])

PATIENTS = "/patients"
DOCTOR_PATIENTS = "/doctors/patients"


async def _list_filters(
    search: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Part of a first or last name (every word must match), or the MRN",
        ),
    ] = None,
    phone: Annotated[
        str | None, Query(min_length=1, max_length=32, description="Exact phone number")
    ] = None,
    national_id: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Exact national id")
    ] = None,
    date_of_birth: Annotated[Day | None, Query(description="YYYY-MM-DD")] = None,
    include_deleted: Annotated[
        bool, Query(description="Also deleted charts (the organization's admins only)")
    ] = False,
    sort: Annotated[
        PatientSort, Query(description="last_name, first_name, mrn, date_of_birth or created_at")
    ] = "last_name",
    order: SortOrder = "asc",
) -> PatientFilters:
    # Exact matches go through blind indexes of the normalised value: one with nothing
    # left to compare would match nothing, and says so instead.
    problems = []
    if phone is not None and not normalise_phone(phone).lstrip("+"):
        problems.append(ErrorDetail(field="phone", message="must contain digits"))
    if national_id is not None and not normalise_identifier(national_id):
        problems.append(ErrorDetail(field="national_id", message="must contain letters or digits"))
    if search is not None and not search.strip():
        problems.append(ErrorDetail(field="search", message="must not be blank"))
    if problems:
        raise ValidationFailed("Invalid filters", details=problems)
    return PatientFilters(
        search=search.strip() if search else None,
        phone=phone,
        national_id=national_id,
        date_of_birth=date_of_birth,
        include_deleted=include_deleted,
        sort=sort,
        descending=order == "desc",
    )


ListFilters = Annotated[PatientFilters, Depends(_list_filters)]
IncludeDeleted = Annotated[
    bool, Query(description="Read a deleted chart too (the organization's admins only)")
]


# The patient's own (literal paths before `/patients/{patient_id}`)


@router.get(
    f"{PATIENTS}/profile",
    response_model=Envelope[PatientProfileRead],
    summary="Your patient profile and the organizations holding your charts (patients)",
)
async def get_profile(principal: PatientSelf, session: DbSession) -> JSONResponse:
    return ok(await profile.own_profile(session, principal))


@router.put(
    f"{PATIENTS}/profile",
    response_model=Envelope[PatientProfileRead],
    summary="Change your patient profile: only the fields sent (patients)",
)
async def put_profile(
    body: PatientProfileUpdate, principal: PatientSelf, session: DbSession
) -> JSONResponse:
    return ok(await profile.save_own_profile(session, principal, body), message="Profile updated")


@router.post(
    f"{PATIENTS}/claim",
    response_model=Envelope[ChartLink],
    summary="Claim the chart an organization invited your email address to (patients)",
)
async def claim_chart(
    body: ClaimRequest, principal: PatientSelf, session: DbSession
) -> JSONResponse:
    link = await linking.claim(session, principal, body.token)
    return ok(link, message="The chart is linked to your account")


@router.get(
    f"{PATIENTS}/me/access-log",
    response_model=page_envelope("entries", ChartAccessEntry),
    summary="Who read or changed your charts, newest first (patients)",
    description=(
        "Every read or change of a chart linked to your account, or of its consultations,"
        " records and appointments, at every organization: when, what, who (name and"
        " role) and for which organization. Your own actions are listed too, marked"
        " `is_self`. `from`/`to` bound the time (inclusive), `action` picks one kind"
        " (e.g. `consultation.read`)."
    ),
)
async def get_access_log(
    *,
    principal: PatientSelf,
    session: DbSession,
    paging: Paging,
    period: InstantRangeQuery,
    action: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="e.g. `patient.read`"),
    ] = None,
) -> JSONResponse:
    filters = ChartAccessFilters(action=action, since=period.since, until=period.until)
    entries, total = await access_log.own_access_log(session, principal, filters, paging)
    return ok(page_of("entries", entries, paging, total))


# Charts: MedFlow spelling (admins and doctors of the organization)


async def _list(
    session: DbSession, principal: Principal, filters: PatientFilters, paging: Paging
) -> JSONResponse:
    items, total = await service.list_patients(session, principal, filters, paging)
    return ok(page_of("patients", items, paging, total))


@router.get(
    PATIENTS,
    response_model=page_envelope("patients", PatientSummary),
    summary="The organization's patients (admins and doctors)",
)
async def list_patients(
    principal: PatientsRead, session: DbSession, filters: ListFilters, paging: Paging
) -> JSONResponse:
    return await _list(session, principal, filters, paging)


@router.post(
    PATIENTS,
    status_code=201,
    response_model=Envelope[PatientRead],
    summary="Register a patient: a new chart with the next MRN (admins and doctors)",
)
async def create_patient(
    body: PatientCreate, principal: PatientsWrite, session: DbSession
) -> JSONResponse:
    return created(await service.create_chart(session, principal, body), message="Patient created")


@router.get(
    f"{PATIENTS}/{{patient_id}}",
    response_model=Envelope[PatientRead],
    summary="One chart (admins and doctors of its organization; every read is audited)",
)
async def get_patient(
    patient_id: uuid.UUID,
    principal: PatientsRead,
    session: DbSession,
    include_deleted: IncludeDeleted = False,
) -> JSONResponse:
    chart = await service.read_chart(
        session, principal, patient_id, include_deleted=include_deleted
    )
    return ok(chart)


@router.put(
    f"{PATIENTS}/{{patient_id}}",
    response_model=Envelope[PatientRead],
    summary="Change a chart: only the fields sent (admins and doctors)",
)
async def update_patient(
    patient_id: uuid.UUID, body: PatientUpdate, principal: PatientsWrite, session: DbSession
) -> JSONResponse:
    chart = await service.update_chart(session, principal, patient_id, body)
    return ok(chart, message="Patient updated")


@router.delete(
    f"{PATIENTS}/{{patient_id}}",
    response_model=Envelope[None],
    summary="Delete a chart (soft: it can be restored; admins)",
)
async def delete_patient(
    patient_id: uuid.UUID, principal: PatientsDelete, session: DbSession
) -> JSONResponse:
    await service.delete_chart(session, principal, patient_id)
    return ok(None, message="Patient deleted")


@router.post(
    f"{PATIENTS}/{{patient_id}}/restore",
    response_model=Envelope[PatientRead],
    summary="Restore a deleted chart (admins)",
)
async def restore_patient(
    patient_id: uuid.UUID, principal: PatientsDelete, session: DbSession
) -> JSONResponse:
    chart = await service.restore_chart(session, principal, patient_id)
    return ok(chart, message="Patient restored")


# Charts: MedConnect spelling (the organization's doctors), the same service


@router.get(
    DOCTOR_PATIENTS,
    response_model=page_envelope("patients", PatientSummary),
    summary="Your organization's patients (doctors)",
)
async def list_doctor_patients(
    principal: DoctorPatientsRead, session: DbSession, filters: ListFilters, paging: Paging
) -> JSONResponse:
    return await _list(session, principal, filters, paging)


@router.post(
    DOCTOR_PATIENTS,
    status_code=201,
    response_model=Envelope[PatientRead],
    summary="Register a patient in your organization (doctors)",
)
async def create_doctor_patient(
    body: PatientCreate, principal: DoctorPatientsWrite, session: DbSession
) -> JSONResponse:
    return created(await service.create_chart(session, principal, body), message="Patient created")


@router.get(
    f"{DOCTOR_PATIENTS}/{{patient_id}}",
    response_model=Envelope[PatientRead],
    summary="One chart of your organization (doctors; every read is audited)",
)
async def get_doctor_patient(
    patient_id: uuid.UUID, principal: DoctorPatientsRead, session: DbSession
) -> JSONResponse:
    return ok(await service.read_chart(session, principal, patient_id))


@router.put(
    f"{DOCTOR_PATIENTS}/{{patient_id}}",
    response_model=Envelope[PatientRead],
    summary="Change a chart of your organization: only the fields sent (doctors)",
)
async def update_doctor_patient(
    patient_id: uuid.UUID, body: PatientUpdate, principal: DoctorPatientsWrite, session: DbSession
) -> JSONResponse:
    chart = await service.update_chart(session, principal, patient_id, body)
    return ok(chart, message="Patient updated")
