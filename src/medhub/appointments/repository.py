"""Appointment queries.

Who sees what (issue 12's matrix), said here explicitly and repeated by row-level
security (migration 0014): a patient their own appointments, at every organization
(through the charts linked to their account); a doctor their own; an organization's
admin the organization's. Anyone else sees none, so another tenant's or another
patient's appointment is simply not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from medhub.appointments.schemas import AppointmentFilters
from medhub.authz.principal import Principal
from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.appointments import ACTIVE_STATUSES, Appointment, AppointmentStatus
from medhub.models.doctors import public_doctors
from medhub.models.identity import Organization, Role, User
from medhub.models.patients import Patient

DOCTOR_OVERLAP = "ex_appointments_doctor_overlap"
PATIENT_OVERLAP = "ex_appointments_patient_overlap"
_EXCLUSION_VIOLATION = "23P01"
_DEADLOCK = "40P01"
# Transaction-scoped advisory locks, taken in the order given (one round trip).
_TAKE_TURNS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(key, 0))"
    " FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, n) ORDER BY n"
)


def _charts_of(user_id: uuid.UUID) -> Select[Any]:
    return select(Patient.id).where(Patient.user_id == user_id)


def visible_to(principal: Principal) -> ColumnElement[bool]:
    """The SQL condition for the appointments `principal` may see."""
    if principal.role == Role.patient and principal.user_id is not None:
        return Appointment.patient_id.in_(_charts_of(principal.user_id))
    if principal.organization_id is None:
        return false()
    if principal.role == Role.doctor and principal.user_id is not None:
        return and_(
            Appointment.doctor_id == principal.user_id,
            Appointment.organization_id == principal.organization_id,
        )
    if principal.role == Role.admin:
        return Appointment.organization_id == principal.organization_id
    return false()


@dataclass(frozen=True)
class Names:
    """What an appointment's views and messages call its parties."""

    patient_name: str | None
    patient_email: str | None
    patient_user_id: uuid.UUID | None
    doctor_name: str | None
    doctor_email: str | None
    organization_name: str | None


def _named(statement: Select[Any]) -> Select[Any]:
    """`statement` (over appointments) joined to the names of its parties.

    Each name is read from the table the caller's context may read (row-level security
    turns an unreadable row into NULLs here), falling back to the public directory: a
    patient reads their own chart, but their doctor's name and organization only as
    the directory shows them.
    """
    return (
        statement.outerjoin(Patient, Patient.id == Appointment.patient_id)
        .outerjoin(User, User.id == Appointment.doctor_id)
        .outerjoin(Organization, Organization.id == Appointment.organization_id)
        .outerjoin(public_doctors, public_doctors.c.id == Appointment.doctor_id)
    )


_NAME_COLUMNS = (
    func.concat_ws(" ", Patient.first_name, Patient.last_name).label("patient_name"),
    Patient.email.label("patient_email"),
    Patient.user_id.label("patient_user_id"),
    func.coalesce(User.full_name, public_doctors.c.full_name).label("doctor_name"),
    User.email.label("doctor_email"),
    func.coalesce(Organization.name, public_doctors.c.organization_name).label("organization_name"),
)


def _names(row: Any) -> Names:
    # concat_ws of two NULLs (an unreadable chart) is '', not NULL.
    return Names(
        patient_name=row.patient_name or None,
        patient_email=row.patient_email,
        patient_user_id=row.patient_user_id,
        doctor_name=row.doctor_name,
        doctor_email=row.doctor_email,
        organization_name=row.organization_name,
    )


class AppointmentRepository(Repository[Appointment]):
    model = Appointment

    SORTS: dict[str, Any] = {
        "starts_at": Appointment.starts_at,
        "created_at": Appointment.created_at,
    }

    async def get_visible(
        self, principal: Principal, appointment_id: uuid.UUID, *, for_update: bool = False
    ) -> Appointment | None:
        statement = select(Appointment).where(
            Appointment.id == appointment_id, visible_to(principal)
        )
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def get_by_id(
        self, appointment_id: uuid.UUID, *, for_update: bool = False
    ) -> Appointment | None:
        """By id alone, for jobs (in the system context), which have no caller to scope by."""
        statement = select(Appointment).where(Appointment.id == appointment_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def names(self, appointment_id: uuid.UUID) -> Names:
        statement = _named(
            select(*_NAME_COLUMNS).select_from(Appointment).where(Appointment.id == appointment_id)
        )
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            return Names(None, None, None, None, None, None)
        return _names(row)

    def _listing(self, principal: Principal, filters: AppointmentFilters) -> Select[Any]:
        statement = select(Appointment).where(visible_to(principal))
        if filters.status is not None:
            statement = statement.where(Appointment.status == filters.status.value)
        if filters.type is not None:
            statement = statement.where(Appointment.type == filters.type.value)
        if filters.doctor_id is not None:
            statement = statement.where(Appointment.doctor_id == filters.doctor_id)
        if filters.patient_id is not None:
            statement = statement.where(Appointment.patient_id == filters.patient_id)
        if filters.since is not None:
            statement = statement.where(Appointment.starts_at >= filters.since)
        if filters.before is not None:
            statement = statement.where(Appointment.starts_at < filters.before)
        return statement

    async def page(
        self, principal: Principal, filters: AppointmentFilters, params: PageParams
    ) -> tuple[list[tuple[Appointment, Names]], int]:
        """One page of the appointments `principal` sees, with their parties' names."""
        listing = self._listing(principal, filters)
        total = await self.count(listing)
        if total == 0:
            return [], 0
        column = self.SORTS[filters.sort]
        order: list[Any] = (
            [column.desc(), Appointment.id.desc()]
            if filters.descending
            else [column.asc(), Appointment.id.asc()]
        )
        statement = (
            _named(listing.add_columns(*_NAME_COLUMNS))
            .order_by(*order)
            .limit(params.limit)
            .offset(params.offset)
        )
        rows = (await self.session.execute(statement)).all()
        return [(row[0], _names(row)) for row in rows], total

    async def flush_or_overlap(self) -> str | None:
        """Flush pending changes; the name of the exclusion constraint that refused them
        (another active appointment holds the time), or None when they were written.

        A refusal leaves the transaction failed: the caller's error rolls it back."""
        try:
            await self.session.flush()
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlstate", None) != _EXCLUSION_VIOLATION:
                raise
            name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
            return name if isinstance(name, str) else DOCTOR_OVERLAP
        except DBAPIError as exc:
            # Two writers checking an exclusion constraint against each other's new
            # rows wait for each other; PostgreSQL ends one of them. `take_turns` keeps
            # bookings of one doctor or chart from getting there; any other writer
            # that does loses the same race.
            diag = getattr(exc.orig, "diag", None)
            context = getattr(diag, "context", None) or ""
            if getattr(exc.orig, "sqlstate", None) != _DEADLOCK or (
                "exclusion constraint" not in context
            ):
                raise
            return DOCTOR_OVERLAP
        return None

    async def take_turns(
        self, *, account: uuid.UUID | None, chart: uuid.UUID, doctor: uuid.UUID
    ) -> None:
        """Make this transaction, until it ends, the only one booking or moving an
        appointment of this person (their charts at several organizations are rows no
        one constraint spans), of this chart, and of this doctor.

        Always in this order, so two writers never wait for each other. Without it,
        two inserts of overlapping times would each wait in the exclusion constraint's
        check for the other's new row, a deadlock PostgreSQL resolves by failing one;
        with it, the second waits for the first to commit and is refused by name."""
        keys = [f"appointments.account:{account}"] if account is not None else []
        keys += [f"appointments.chart:{chart}", f"appointments.doctor:{doctor}"]
        await self.session.execute(_TAKE_TURNS, {"keys": keys})

    async def account_busy(
        self,
        user_id: uuid.UUID,
        starts_at: datetime,
        ends_at: datetime,
        *,
        excluding: uuid.UUID | None = None,
    ) -> bool:
        """Whether any chart linked to `user_id` (at any organization the caller can
        see) holds an active appointment overlapping [starts_at, ends_at)."""
        condition = and_(
            Appointment.patient_id.in_(_charts_of(user_id)),
            Appointment.status.in_([s.value for s in ACTIVE_STATUSES]),
            Appointment.starts_at < ends_at,
            Appointment.ends_at > starts_at,
        )
        if excluding is not None:
            condition = and_(condition, Appointment.id != excluding)
        return bool((await self.session.execute(select(exists().where(condition)))).scalar_one())

    async def claim_reminders(
        self, column: str, *, due_within: timedelta, later_than: timedelta, limit: int
    ) -> list[uuid.UUID]:
        """Mark up to `limit` due reminders of one kind as sent and return their
        appointments: those not cancelled (nor under way) that start after now +
        `later_than` and within now + `due_within`, whose reminder has not gone.

        The conditional UPDATE is the claim: of two workers (or two runs) at once,
        one sets the column and the other's row no longer matches `IS NULL`, so each
        reminder is claimed once; the caller sends it in this same transaction.
        """
        sent_at = getattr(Appointment, column)
        now = func.now()
        due = (
            select(Appointment.id)
            .where(
                Appointment.status.in_(
                    [AppointmentStatus.requested.value, AppointmentStatus.confirmed.value]
                ),
                sent_at.is_(None),
                Appointment.starts_at > now + later_than,
                Appointment.starts_at <= now + due_within,
            )
            .order_by(Appointment.starts_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(Appointment)
            .where(Appointment.id.in_(due.scalar_subquery()), sent_at.is_(None))
            # A reminder going out is no change of the appointment.
            .values({sent_at: now, Appointment.updated_at: Appointment.updated_at})
            .returning(Appointment.id)
            .execution_options(synchronize_session=False)
        )
        return list((await self.session.execute(statement)).scalars().all())


def overlap_kind(constraint: str) -> str:
    """Which side an exclusion refusal is about: "patient", else "doctor"."""
    return "patient" if constraint == PATIENT_OVERLAP else "doctor"
