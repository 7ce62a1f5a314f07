"""Billing routes: an appointment's payment and dispute (under `/appointments/{id}`),
the ledger, and a doctor's earnings."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from medhub.billing import disputes, earnings, escrow, ledger
from medhub.billing.auth import (
    BillingPayer,
    BillingRecorder,
    DisputeResolver,
    EarningsReader,
    LedgerReader,
)
from medhub.billing.schemas import (
    AppointmentPaymentRecorded,
    AppointmentPaymentStarted,
    DisputeCreate,
    DisputeOutcome,
    DisputeResolve,
    EarningsRead,
    LedgerBalances,
    LedgerEntryRead,
    LedgerFilters,
    MarkAppointmentPaid,
)
from medhub.kit.appstate import AppSettings
from medhub.kit.dates import DayRangeQuery
from medhub.kit.db import DbSession
from medhub.kit.envelope import Envelope, JSONResponse, created, ok
from medhub.kit.pagination import Paging, page_envelope, page_of
from medhub.models.billing import LedgerAccount

router = APIRouter(tags=["billing"])


@router.post(
    "/appointments/{appointment_id}/pay",
    status_code=201,
    response_model=Envelope[AppointmentPaymentStarted],
    summary="Patient: start (201) or restart (200) paying a consultation's fee",
    description=(
        "Manual provider: the bank-transfer reference and instructions. A pending payment is"
        " returned again with a fresh timeout. 409 when the fee is paid already, there is"
        " none, or the appointment takes no payment (cancelled, over)."
    ),
)
async def pay(
    appointment_id: uuid.UUID, principal: BillingPayer, session: DbSession, settings: AppSettings
) -> JSONResponse:
    status_code, started = await escrow.start_payment(session, principal, settings, appointment_id)
    if status_code == 201:
        return created(started, message="Payment started")
    return ok(started, message="Payment already in progress")


@router.post(
    "/appointments/{appointment_id}/payments/mark-paid",
    response_model=Envelope[AppointmentPaymentRecorded],
    summary="Organization admin: record the bank transfer of a consultation's fee"
    " (held in escrow; the appointment is confirmed)",
    description="400 if the amount is not the fee; 409 if already paid.",
)
async def mark_paid(
    appointment_id: uuid.UUID,
    body: MarkAppointmentPaid,
    principal: BillingRecorder,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    recorded = await escrow.mark_paid(session, principal, settings, appointment_id, body)
    return ok(recorded, message="Payment recorded")


@router.post(
    "/appointments/{appointment_id}/dispute",
    status_code=201,
    response_model=Envelope[DisputeOutcome],
    summary="Patient: dispute a completed consultation within the hold window (release pauses)",
)
async def open_dispute(
    appointment_id: uuid.UUID,
    body: DisputeCreate,
    principal: BillingPayer,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    outcome = await disputes.open_dispute(session, principal, settings, appointment_id, body)
    return created(outcome, message="Dispute opened")


@router.post(
    "/appointments/{appointment_id}/dispute/resolve",
    response_model=Envelope[DisputeOutcome],
    summary="Organization admin or super admin: resolve a dispute (release, refund,"
    " partial_refund with amount)",
)
async def resolve_dispute(
    appointment_id: uuid.UUID,
    body: DisputeResolve,
    principal: DisputeResolver,
    session: DbSession,
    settings: AppSettings,
) -> JSONResponse:
    outcome = await disputes.resolve_dispute(session, principal, settings, appointment_id, body)
    return ok(outcome, message="Dispute resolved")


@router.get(
    "/billing/ledger",
    response_model=page_envelope("ledger_entries", LedgerEntryRead, balances=LedgerBalances),
    summary="Ledger entries, newest first, and balances per account over the same filter"
    " (organization admin: theirs; super admin: all)",
)
async def list_ledger(
    principal: LedgerReader,
    session: DbSession,
    paging: Paging,
    days: DayRangeQuery,
    account: Annotated[LedgerAccount | None, Query()] = None,
    appointment_id: Annotated[uuid.UUID | None, Query()] = None,
) -> JSONResponse:
    filters = LedgerFilters(days=days, account=account, appointment_id=appointment_id)
    entries, total, balances = await ledger.list_entries(session, principal, filters, paging)
    return ok(
        {
            **page_of("ledger_entries", entries, paging, total),
            "balances": LedgerBalances(accounts=balances),
        }
    )


@router.get(
    "/doctors/me/earnings",
    response_model=Envelope[EarningsRead],
    summary="Doctor: held, releasable, released and paid out, per currency (released and"
    " paid out within from/to)",
)
async def my_earnings(
    principal: EarningsReader, session: DbSession, days: DayRangeQuery
) -> JSONResponse:
    return ok(await earnings.my_earnings(session, principal, days))
