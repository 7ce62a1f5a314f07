"""A pharmacy's history: its dispensations and rejections, newest first, with totals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from medhub.authz.principal import Principal
from medhub.kit.errors import PermissionDenied
from medhub.kit.pagination import PageParams
from medhub.pharmacy_stock import service as stock
from medhub.prescriptions.repository import PrescriptionRepository
from medhub.prescriptions.schemas import HistoryFilters
from medhub.prescriptions.service import dispensation_view


async def pharmacy_history(
    session: AsyncSession, principal: Principal, filters: HistoryFilters, paging: PageParams
) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    """`GET /pharmacy/history` for the pharmacy's admins and pharmacists."""
    if principal.organization_id is None:
        raise PermissionDenied("A pharmacy's history is for its admins and pharmacists")
    # An organization that dispenses (it employs pharmacists and keeps stock); a
    # supplier's admin, say, has no pharmacy history to read (403, not an empty page).
    pharmacy_id = await stock.stock_keeper_organization(session, principal)
    repository = PrescriptionRepository(session)
    rows, total, totals = await repository.history_page(pharmacy_id, filters, paging)
    # Money with two places, also when nothing matched (the sum of no rows is `0`).
    totals = {**totals, "amount": Decimal(totals["amount"]).quantize(Decimal("0.01"))}
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
                "total_amount": act.total_amount,
                "created_at": act.created_at,
                "items": view["items"],
            }
        )
    return entries, total, totals
