"""Prescription queries.

Who reaches which prescriptions is a `PrescriptionScope`: the prescriber's
organization (its doctors and admins), the charts linked to one account (the
patient), or a pharmacy holding access (it presented the QR token or the reference
number). Row-level security (migration 0019) holds every statement to the same
rows whatever the scope says; the scope keeps everyone else, RLS included, to
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, text, update

from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.patients import Patient
from medhub.models.prescriptions import (
    DISPENSABLE_STATUSES,
    Dispensation,
    DispensationItem,
    DispensationOutcome,
    Prescription,
    PrescriptionAccess,
    PrescriptionItem,
    PrescriptionStatus,
)
from medhub.prescriptions.schemas import HistoryFilters, PrescriptionFilters


@dataclass(frozen=True)
class PrescriptionScope:
    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    pharmacy_id: uuid.UUID | None = None

    def condition(self) -> ColumnElement[bool]:
        if self.organization_id is not None:
            return Prescription.organization_id == self.organization_id
        if self.user_id is not None:
            return Prescription.patient_id.in_(
                select(Patient.id).where(
                    Patient.user_id == self.user_id, Patient.deleted_at.is_(None)
                )
            )
        if self.pharmacy_id is not None:
            return Prescription.id.in_(
                select(PrescriptionAccess.prescription_id).where(
                    PrescriptionAccess.organization_id == self.pharmacy_id
                )
            )
        return Prescription.id.is_(None)  # no scope, no prescription (ids are never NULL)


@dataclass(frozen=True)
class PrescriptionNames:
    """What a pharmacy's history shows of the prescription a dispensing was of."""

    number: str
    patient_name: str
    prescriber_name: str
    organization_name: str


class PrescriptionRepository(Repository[Prescription]):
    model = Prescription

    async def next_number(self) -> int:
        statement = text("SELECT nextval('prescription_number_seq')")
        return int((await self.session.execute(statement)).scalar_one())

    async def add_with_items(
        self, prescription: Prescription, items: Sequence[PrescriptionItem]
    ) -> None:
        """The prescription and its items, in one flush."""
        self.session.add(prescription)
        self.session.add_all(items)
        await self.session.flush()

    def readable_statement(self, scope: PrescriptionScope) -> Select[Prescription]:
        return select(Prescription).where(scope.condition())

    async def get_readable(
        self, scope: PrescriptionScope, prescription_id: uuid.UUID, *, for_update: bool = False
    ) -> Prescription | None:
        statement = self.readable_statement(scope).where(Prescription.id == prescription_id)
        if for_update:
            statement = statement.with_for_update(of=Prescription)
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def page(
        self, scope: PrescriptionScope, filters: PrescriptionFilters, params: PageParams
    ) -> tuple[Sequence[Prescription], int]:
        statement = self.readable_statement(scope)
        if filters.status is not None:
            statement = statement.where(Prescription.status == filters.status)
        if filters.patient_id is not None:
            statement = statement.where(Prescription.patient_id == filters.patient_id)
        if filters.doctor_id is not None:
            statement = statement.where(Prescription.doctor_id == filters.doctor_id)
        if filters.since is not None:
            statement = statement.where(Prescription.issued_at >= filters.since)
        if filters.until is not None:
            statement = statement.where(Prescription.issued_at < filters.until)
        ordering: list[Any] = (
            [Prescription.issued_at.desc(), Prescription.id.desc()]
            if filters.descending
            else [Prescription.issued_at.asc(), Prescription.id.asc()]
        )
        return await self.paginate(statement.order_by(*ordering), params)

    # Items

    async def items_of(
        self, prescription_ids: Sequence[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, list[PrescriptionItem]]:
        found: dict[uuid.UUID, list[PrescriptionItem]] = {id_: [] for id_ in prescription_ids}
        if not prescription_ids:
            return found
        statement = (
            select(PrescriptionItem)
            .where(PrescriptionItem.prescription_id.in_(prescription_ids))
            .order_by(PrescriptionItem.prescription_id, PrescriptionItem.position)
            .execution_options(populate_existing=True)
        )
        if for_update:
            statement = statement.with_for_update()
        for item in (await self.session.execute(statement)).scalars():
            found[item.prescription_id].append(item)
        return found

    async def item_counts(self, prescription_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not prescription_ids:
            return {}
        statement = (
            select(PrescriptionItem.prescription_id, func.count())
            .where(PrescriptionItem.prescription_id.in_(prescription_ids))
            .group_by(PrescriptionItem.prescription_id)
        )
        return {row[0]: int(row[1]) for row in await self.session.execute(statement)}

    async def add_dispensed(self, item_id: uuid.UUID, quantity: int) -> bool:
        """Count `quantity` more units of the item as dispensed, unless that passes what
        it allows; True when counted. One conditional statement: two pharmacies
        dispensing the last units at once cannot both succeed."""
        statement = (
            update(PrescriptionItem)
            .where(
                PrescriptionItem.id == item_id,
                PrescriptionItem.dispensed_quantity + quantity
                <= PrescriptionItem.quantity * (1 + PrescriptionItem.refills),
            )
            .values(dispensed_quantity=PrescriptionItem.dispensed_quantity + quantity)
            .returning(PrescriptionItem.id)
        )
        return (await self.session.execute(statement)).first() is not None

    # Pharmacy access

    async def grant_access(
        self,
        *,
        prescription_id: uuid.UUID | None,
        qr_hash: str | None,
        reference_index: bytes | None,
        via: str,
    ) -> uuid.UUID | None:
        """Record that the caller's pharmacy presented the prescription (migration
        0019's `grant_prescription_access`); its id, or None when nothing matches."""
        row = (
            await self.session.execute(
                text(
                    "SELECT grant_prescription_access("
                    "CAST(:prescription AS uuid), :qr_hash, :reference_index, :via)"
                ),
                {
                    "prescription": str(prescription_id) if prescription_id else None,
                    "qr_hash": qr_hash,
                    "reference_index": reference_index,
                    "via": via,
                },
            )
        ).scalar_one()
        return row if row is None else uuid.UUID(str(row))

    async def access_of(
        self, prescription_id: uuid.UUID, pharmacy_id: uuid.UUID, *, for_update: bool = False
    ) -> PrescriptionAccess | None:
        statement = select(PrescriptionAccess).where(
            PrescriptionAccess.prescription_id == prescription_id,
            PrescriptionAccess.organization_id == pharmacy_id,
        )
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def count_scan(self, prescription_id: uuid.UUID, pharmacy_id: uuid.UUID) -> Prescription:
        """One more scan of the prescription by `pharmacy_id`; an issued one becomes
        `scanned`, unless its time ran out (it stays as it is until the expiry task
        closes it: a scan does not reopen it). Returns it as it is now."""
        statement = (
            update(Prescription)
            .where(Prescription.id == prescription_id)
            .values(
                scan_count=Prescription.scan_count + 1,
                last_scanned_at=func.now(),
                last_scanned_by=pharmacy_id,
                status=case(
                    (
                        (Prescription.status == PrescriptionStatus.issued.value)
                        & (Prescription.expires_at > func.now()),
                        PrescriptionStatus.scanned.value,
                    ),
                    else_=Prescription.status,
                ),
            )
            .returning(Prescription)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one()

    # Dispensations

    async def dispensations_of(
        self, prescription_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[Dispensation, list[DispensationItem]]]]:
        found: dict[uuid.UUID, list[tuple[Dispensation, list[DispensationItem]]]] = {
            id_: [] for id_ in prescription_ids
        }
        if not prescription_ids:
            return found
        acts = (
            (
                await self.session.execute(
                    select(Dispensation)
                    .where(Dispensation.prescription_id.in_(prescription_ids))
                    .order_by(Dispensation.created_at, Dispensation.id)
                )
            )
            .scalars()
            .all()
        )
        lines = await self.lines_of([act.id for act in acts])
        for act in acts:
            found[act.prescription_id].append((act, lines.get(act.id, [])))
        return found

    async def lines_of(
        self, dispensation_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[DispensationItem]]:
        found: dict[uuid.UUID, list[DispensationItem]] = {}
        if not dispensation_ids:
            return found
        statement = (
            select(DispensationItem)
            .where(DispensationItem.dispensation_id.in_(dispensation_ids))
            .order_by(DispensationItem.dispensation_id, DispensationItem.id)
        )
        for line in (await self.session.execute(statement)).scalars():
            found.setdefault(line.dispensation_id, []).append(line)
        return found

    async def history_page(
        self, pharmacy_id: uuid.UUID, filters: HistoryFilters, params: PageParams
    ) -> tuple[Sequence[tuple[Dispensation, PrescriptionNames]], int, dict[str, Any]]:
        """The pharmacy's dispensations and rejections, newest first, with the
        prescriptions they were of, and totals over every matching row."""
        conditions: list[ColumnElement[bool]] = [Dispensation.organization_id == pharmacy_id]
        if filters.outcome is not None:
            conditions.append(Dispensation.outcome == filters.outcome)
        if filters.since is not None:
            conditions.append(Dispensation.created_at >= filters.since)
        if filters.until is not None:
            conditions.append(Dispensation.created_at < filters.until)
        totals_row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(
                        Dispensation.outcome == DispensationOutcome.dispensed.value
                    ),
                    func.count().filter(Dispensation.outcome == DispensationOutcome.rejected.value),
                    func.coalesce(func.sum(Dispensation.total_amount), 0),
                ).where(*conditions)
            )
        ).one()
        total = int(totals_row[0])
        totals = {
            "count": total,
            "dispensed": int(totals_row[1]),
            "rejected": int(totals_row[2]),
            "amount": totals_row[3],
        }
        if total == 0:
            return [], 0, totals
        # The prescription's names only: its encrypted columns are not read, nor
        # decrypted, for a page that does not show them.
        statement = (
            select(
                Dispensation,
                Prescription.number,
                Prescription.patient_name,
                Prescription.prescriber_name,
                Prescription.organization_name,
            )
            .join(Prescription, Prescription.id == Dispensation.prescription_id)
            .where(*conditions)
            .order_by(Dispensation.created_at.desc(), Dispensation.id.desc())
            .limit(params.limit)
            .offset(params.offset)
        )
        rows = [
            (row[0], PrescriptionNames(row[1], row[2], row[3], row[4]))
            for row in await self.session.execute(statement)
        ]
        return rows, total, totals

    # Expiry

    async def expire_due(self, at: datetime, limit: int) -> Sequence[Prescription]:
        """Close the open prescriptions whose time ran out (at most `limit`); the ones
        closed now. Rows another sweep holds are skipped, not waited for."""
        due = (
            select(Prescription.id)
            .where(
                Prescription.expires_at <= at,
                Prescription.status.in_([status.value for status in DISPENSABLE_STATUSES]),
            )
            .order_by(Prescription.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(Prescription)
            .where(Prescription.id.in_(due.scalar_subquery()))
            .values(status=PrescriptionStatus.expired.value)
            .returning(Prescription)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def public_status(
        self, prescription_id: uuid.UUID, qr_hash: str
    ) -> tuple[str, str, str, datetime] | None:
        """(status, number, organization name, expiry) of the prescription whose id and
        QR hash both match (migration 0019's `prescription_public_status`, which needs no
        tenant context); None when nothing does (another code, or no such prescription)."""
        row = (
            await self.session.execute(
                text(
                    "SELECT status, number, organization_name, expires_at"
                    " FROM prescription_public_status(CAST(:prescription AS uuid), :qr_hash)"
                ),
                {"prescription": str(prescription_id), "qr_hash": qr_hash},
            )
        ).first()
        if row is None:
            return None
        return str(row[0]), str(row[1]), str(row[2]), row[3]
