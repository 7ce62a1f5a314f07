"""Prescriptions (MedConnect): the doctor's (`/doctors/prescriptions`), the patient's
(`/patients/prescriptions`), the QR codes (`/qr-codes`) and the pharmacy's
(`/pharmacy/...`).

`/doctors/prescriptions` and `/patients/prescriptions` are literal paths beside the
doctors' and patients' `/{id}` routes: this router is included before theirs
(app.py), so the literal routes are tried, and win, first.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query

from medhub.kit.appstate import AppSettings
from medhub.kit.dates import DayRangeQuery
from medhub.kit.db import Database, DbSession, request_database
from medhub.kit.envelope import Envelope, JSONResponse, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.kit.ratelimit import RateLimiter, request_rate_limiter
from medhub.models.prescriptions import DispensationOutcome, PrescriptionStatus
from medhub.prescriptions import dispensing, history, issuing, lifecycle, service
from medhub.prescriptions.auth import (
    PatientPrescriptions,
    PharmacyHistory,
    PharmacyOperations,
    PharmacyScan,
    PrescriptionsManage,
    PrescriptionsRead,
    PrescriptionsWrite,
    QrCodeEmailer,
    QrCodeReader,
)
from medhub.prescriptions.schemas import (
    CancelRequest,
    DispenseRequest,
    DispenseResult,
    EmailQueued,
    HistoryEntry,
    HistoryFilters,
    HistoryTotals,
    LookupRequest,
    PatientPrescriptionsPage,
    PrescriptionCreate,
    PrescriptionFilters,
    PrescriptionRead,
    PrescriptionSort,
    PrescriptionSummary,
    QrCodeRead,
    RejectRequest,
    ScanRequest,
    ScanResult,
    SortOrder,
)

router = APIRouter()

# A scan or a lookup that matches nothing is audited in a transaction of its own (a
# lookup's miss is also counted in the rate limiter's storage): both survive the
# request's 400 or 404. A new prescription's number is taken in a statement of its own.
SideDatabase = Annotated[Database, Depends(request_database)]
Limiter = Annotated[RateLimiter, Depends(request_rate_limiter)]

PAGE = page_envelope("prescriptions", PrescriptionSummary)
PATIENT_PAGE = Envelope[PatientPrescriptionsPage]
HISTORY_PAGE = page_envelope("history", HistoryEntry, totals=HistoryTotals)


# The doctor's side


@router.post(
    "/doctors/prescriptions",
    status_code=201,
    response_model=Envelope[PrescriptionRead],
    tags=["prescriptions"],
    summary="Write a prescription for a patient of your organization (honours Idempotency-Key)",
)
async def create_prescription(
    body: PrescriptionCreate,
    principal: PrescriptionsWrite,
    session: DbSession,
    database: SideDatabase,
    settings: AppSettings,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    issued = await issuing.issue(
        session, database, principal, settings, body, idempotency_key=idempotency_key
    )
    headers = {"Idempotent-Replayed": "true"} if issued.replayed else None
    return ok(
        issued.data,
        message="Prescription created",
        status_code=issued.status_code,
        headers=headers,
    )


@router.get(
    "/doctors/prescriptions",
    response_model=PAGE,
    tags=["prescriptions"],
    summary="The organization's prescriptions (doctors; admins without clinical content)",
)
async def list_prescriptions(
    principal: PrescriptionsRead,
    session: DbSession,
    paging: Paging,
    days: DayRangeQuery,
    status: PrescriptionStatus | None = None,
    patient_id: uuid.UUID | None = None,
    doctor_id: uuid.UUID | None = None,
    sort: Annotated[
        PrescriptionSort,
        Query(description="created_at (when it was written: its issued_at), expires_at or number"),
    ] = "created_at",
    order: SortOrder = "desc",
) -> JSONResponse:
    filters = PrescriptionFilters(
        status=status.value if status else None,
        patient_id=patient_id,
        doctor_id=doctor_id,
        since=days.start,
        until=days.end,
        descending=order == "desc",
        sort=sort,
    )
    items, total = await service.list_prescriptions(session, principal, filters, paging)
    return ok(page_of("prescriptions", items, paging, total))


@router.get(
    "/doctors/prescriptions/{prescription_id}",
    response_model=Envelope[PrescriptionRead],
    tags=["prescriptions"],
    summary="One prescription of your organization, whole (doctors; audited read)",
)
async def get_prescription(
    prescription_id: uuid.UUID,
    principal: PrescriptionsRead,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    return ok(await service.read_prescription(session, principal, prescription_id, settings))


@router.post(
    "/doctors/prescriptions/{prescription_id}/cancel",
    response_model=Envelope[PrescriptionRead],
    tags=["prescriptions"],
    summary="Cancel a prescription nothing was dispensed from yet (the patient is told)",
)
async def cancel_prescription(
    prescription_id: uuid.UUID,
    body: CancelRequest,
    principal: PrescriptionsManage,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    view = await lifecycle.cancel(session, principal, prescription_id, body.reason, settings)
    return ok(view, message="Prescription cancelled")


# The patient's side


@router.get(
    "/patients/prescriptions",
    response_model=PATIENT_PAGE,
    tags=["prescriptions"],
    summary="Your prescriptions, at every organization, with their reference numbers and QR"
    " codes' content (patients)",
)
async def list_own_prescriptions(
    principal: PatientPrescriptions,
    session: DbSession,
    settings: AppSettings,
    paging: Paging,
    days: DayRangeQuery,
    status: PrescriptionStatus | None = None,
    order: SortOrder = "desc",
) -> JSONResponse:
    filters = PrescriptionFilters(
        status=status.value if status else None,
        since=days.start,
        until=days.end,
        descending=order == "desc",
    )
    items, total = await service.list_prescriptions(
        session, principal, filters, paging, qr_access_with=settings
    )
    return ok(page_of("prescriptions", items, paging, total))


@router.get(
    "/patients/prescriptions/{prescription_id}",
    response_model=Envelope[PrescriptionRead],
    tags=["prescriptions"],
    summary="One of your prescriptions, whole, with its QR token and reference number",
)
async def get_own_prescription(
    prescription_id: uuid.UUID,
    principal: PatientPrescriptions,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    return ok(await service.read_prescription(session, principal, prescription_id, settings))


# QR codes


@router.get(
    "/qr-codes/{prescription_id}",
    response_model=Envelope[QrCodeRead],
    tags=["prescriptions"],
    summary="A prescription's QR code as PNG and SVG (its doctors and its patient)",
)
async def get_qr_code(
    prescription_id: uuid.UUID, principal: QrCodeReader, session: DbSession, settings: AppSettings
) -> JSONResponse:
    return ok(await service.qr_code(session, principal, prescription_id, settings))


@router.post(
    "/qr-codes/email/{prescription_id}",
    response_model=Envelope[EmailQueued],
    status_code=202,
    tags=["prescriptions"],
    summary="Send the prescription email (QR code and reference number) to the patient again",
)
async def email_qr_code(
    prescription_id: uuid.UUID, principal: QrCodeEmailer, session: DbSession, settings: AppSettings
) -> JSONResponse:
    queued = await issuing.email_again(session, principal, prescription_id, settings)
    return ok(queued, message="Prescription email queued", status_code=202)


# The pharmacy's side


@router.post(
    "/pharmacy/scan",
    response_model=Envelope[ScanResult],
    tags=["pharmacy"],
    summary="Scan a prescription's QR code (its URL or bare token)",
)
async def scan_prescription(
    body: ScanRequest,
    principal: PharmacyScan,
    session: DbSession,
    database: SideDatabase,
    settings: AppSettings,
) -> JSONResponse:
    result = await dispensing.scan(session, principal, database, settings, body.qr_data)
    return ok(result, message="Prescription scanned successfully")


@router.post(
    "/pharmacy/lookup",
    response_model=Envelope[ScanResult],
    tags=["pharmacy"],
    summary="Find a prescription by its reference number (for pharmacies without a scanner)",
)
async def lookup_prescription(
    body: LookupRequest,
    principal: PharmacyOperations,
    session: DbSession,
    database: SideDatabase,
    limiter: Limiter,
    settings: AppSettings,
) -> JSONResponse:
    result = await dispensing.lookup(
        session, principal, database, limiter, settings, body.reference_number
    )
    return ok(result, message="Prescription found")


@router.post(
    "/pharmacy/validate/{prescription_id}",
    response_model=Envelope[ScanResult],
    tags=["pharmacy"],
    summary="Validate a prescription your pharmacy was shown (needed before dispensing)",
)
async def validate_prescription(
    prescription_id: uuid.UUID, principal: PharmacyOperations, session: DbSession
) -> JSONResponse:
    result = await dispensing.validate(session, principal, prescription_id)
    return ok(result, message="Prescription validated")


@router.post(
    "/pharmacy/dispense/{prescription_id}",
    response_model=Envelope[DispenseResult],
    tags=["pharmacy"],
    summary="Dispense some or all of what remains (catalog items from stock, FEFO)",
)
async def dispense_prescription(
    prescription_id: uuid.UUID,
    body: DispenseRequest,
    principal: PharmacyOperations,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    result = await dispensing.dispense(session, principal, settings, prescription_id, body)
    return ok(result, message="Prescription dispensed")


@router.post(
    "/pharmacy/reject/{prescription_id}",
    response_model=Envelope[ScanResult],
    tags=["pharmacy"],
    summary="Reject a prescription (the prescriber and the patient are told why)",
)
async def reject_prescription(
    prescription_id: uuid.UUID,
    body: RejectRequest,
    principal: PharmacyOperations,
    session: DbSession,
) -> JSONResponse:
    result = await dispensing.reject(session, principal, prescription_id, body.reason)
    return ok(result, message="Prescription rejected")


@router.get(
    "/pharmacy/history",
    response_model=HISTORY_PAGE,
    tags=["pharmacy"],
    summary="Your pharmacy's dispensations and rejections, with totals",
)
async def pharmacy_history(
    principal: PharmacyHistory,
    session: DbSession,
    paging: Paging,
    days: DayRangeQuery,
    settings: AppSettings,
    status: DispensationOutcome | None = None,
    currency: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Z]{3}$",
            description="The totals' amount covers dispensings in this currency only"
            " (default: the platform's default currency); currencies are never summed"
            " together. Rows of every currency are listed.",
        ),
    ] = None,
) -> JSONResponse:
    filters = HistoryFilters(
        currency=currency or settings.DEFAULT_CURRENCY,
        outcome=status.value if status else None,
        since=days.start,
        until=days.end,
    )
    entries, total, totals = await history.pharmacy_history(
        session, principal, filters, paging, settings
    )
    return ok({**page_of("history", entries, paging, total), "totals": totals})
