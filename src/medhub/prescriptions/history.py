"""A pharmacy's history: its dispensations and rejections, newest first, with totals.

A page shows patients' names and what they were dispensed: every read is audited
(`prescription.pharmacy_history`, one row per request, naming the charts on the page
so that each patient's access log shows it), as the other list reads of medical data
are."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.audit import service as audit
from medhub.authz.principal import Principal
from medhub.config import Settings
from medhub.kit.errors import PermissionDenied
from medhub.kit.pagination import PageParams
from medhub.pharmacy_stock import service as stock
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.schemas import HistoryFilters
from medhub.prescriptions.service import ENTITY, dispensation_view, money

HISTORY_READ = "prescription.pharmacy_history"


async def pharmacy_history(
    session: AsyncSession,
    principal: Principal,
    filters: HistoryFilters,
    paging: PageParams,
    settings: Settings,
) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """`GET /pharmacy/history` for the pharmacy's admins and pharmacists."""
    if principal.organization_id is None:
        raise PermissionDenied("A pharmacy's history is for its admins and pharmacists")
    # An organization that dispenses (it employs pharmacists and keeps stock); a
    # supplier's admin, say, has no pharmacy history to read (403, not an empty page).
    pharmacy_id = await stock.stock_keeper_organization(session, principal)
    repository = PrescriptionRepository(session)
    rows, total, totals = await repository.history_page(
        pharmacy_id, filters, paging, unrecorded_currency=settings.DEFAULT_CURRENCY
    )
    totals = {**totals, "amount": money(Decimal(totals["amount"]))}
    audit.record(
        session,
        HISTORY_READ,
        actor=principal,
        entity_type=ENTITY,
        metadata={
            "count": len(rows),
            "patient_ids": sorted({str(names.patient_id) for _, names in rows}),
            "filters": {
                "status": filters.outcome,
                "currency": filters.currency,
                "since": filters.since.isoformat() if filters.since else None,
                "until": filters.until.isoformat() if filters.until else None,
            },
            "page": paging.page,
        },
    )
    lines = await repository.lines_of([act.id for act, _ in rows])
    entries = []
    for act, prescription in rows:
        view = dispensation_view(act, lines.get(act.id, []))
        entries.append(
            {
                "id": act.id,
                "prescription_id": act.prescription_id,
                "prescription_number": prescription.number,
                "patient_name": prescription.patient_name,
                "doctor_name": prescription.prescriber_name,
                "organization_name": prescription.organization_name,
                "outcome": act.outcome,
                "reason": act.reason,
                "pharmacist_id": act.pharmacist_id,
                "total_amount": view["total_amount"],
                "currency": view["currency"],
                "created_at": act.created_at,
                "items": view["items"],
            }
        )
    return entries, total, totals
