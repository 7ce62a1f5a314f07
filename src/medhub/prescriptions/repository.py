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
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select, case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from medhub.kit.db import Database
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
    PrescriptionNumberDay,
    PrescriptionStatus,
)
from medhub.prescriptions.schemas import HistoryFilters, PrescriptionFilters


async def take_number(database: Database, day: date) -> int:
    """The next counter of `day`'s prescription numbers (1 for its first), taken by one
    `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` in autocommit on a connection of its
    own: the day's row is locked only while that statement runs, not until a request's
    COMMIT (every prescription of the day would wait for the one before it to commit).
    Like a sequence's nextval, a number taken by a request that then fails is not
    given back: a gap, never a duplicate (models.PrescriptionNumberDay)."""
    statement = (
        insert(PrescriptionNumberDay)
        .values(day=day, last=1)
        .on_conflict_do_update(
            index_elements=[PrescriptionNumberDay.day],
            set_={"last": PrescriptionNumberDay.last + 1},
        )
        .returning(PrescriptionNumberDay.last)
    )
    async with database.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return int((await autocommit.execute(statement)).scalar_one())


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
    """What a pharmacy's history shows of the prescription a dispensing was of (and
    the chart, which its audit row names)."""

    number: str
    patient_name: str
    prescriber_name: str
    organization_name: str
    patient_id: uuid.UUID


class PrescriptionRepository(Repository[Prescription]):
    model = Prescription
    # `created_at` is when it was written: its `issued_at`, set in the same transaction,
    # which the list shows and its dates filter (and the organization's index orders).
    SORTS: ClassVar[dict[str, Any]] = {
        "created_at": Prescription.issued_at,
        "expires_at": Prescription.expires_at,
        "number": Prescription.number,
    }

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
        column = self.SORTS[filters.sort]
        ordering: list[Any] = (
            [column.desc(), Prescription.id.desc()]
            if filters.descending
            else [column.asc(), Prescription.id.asc()]
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
        self,
        pharmacy_id: uuid.UUID,
        filters: HistoryFilters,
        params: PageParams,
        *,
        unrecorded_currency: str,
    ) -> tuple[Sequence[tuple[Dispensation, PrescriptionNames]], int, dict[str, Any]]:
        """The pharmacy's dispensations and rejections, newest first, with the
        prescriptions they were of, and totals over every matching row: the amount of
        those in `filters.currency` only (a dispensing recorded without a currency
        counts as `unrecorded_currency`, the platform's default)."""
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
                    func.coalesce(
                        func.sum(Dispensation.total_amount).filter(
                            func.coalesce(Dispensation.currency, unrecorded_currency)
                            == filters.currency
                        ),
                        0,
                    ),
                ).where(*conditions)
            )
        ).one()
        total = int(totals_row[0])
        totals = {
            "count": total,
            "dispensed": int(totals_row[1]),
            "rejected": int(totals_row[2]),
            "amount": totals_row[3],
            "currency": filters.currency,
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
                Prescription.patient_id,
            )
            .join(Prescription, Prescription.id == Dispensation.prescription_id)
            .where(*conditions)
            .order_by(Dispensation.created_at.desc(), Dispensation.id.desc())
            .limit(params.limit)
            .offset(params.offset)
        )
        rows = [
            (row[0], PrescriptionNames(row[1], row[2], row[3], row[4], row[5]))
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
