"""Doctor queries.

`ProfileRepository` reads and writes the tenant tables (profiles, rules, exceptions):
row-level security holds them to the caller's doctor or organization, and the
statements name the doctor or organization too.

`DirectoryRepository` serves the public reads (anonymous included) from the public
views of migration 0011 and nothing else: they show only the public columns of the
doctors a patient may find, in every organization, without any tenant context. It
never widens a transaction's context (no `set_system_context`), so a public request
can reach nothing beyond those columns, whatever else it runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Row,
    Select,
    and_,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.doctors.schemas import DirectoryFilters
from medhub.kit.repository import Repository
from medhub.models.doctors import (
    AvailabilityException,
    AvailabilityRule,
    DoctorProfile,
    public_availability_exceptions,
    public_availability_rules,
    public_doctor_busy,
    public_doctors,
)
from medhub.models.identity import Role, User


def _contains(text: str) -> str:
    """An ILIKE pattern matching `text` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ProfileRepository(Repository[DoctorProfile]):
    model = DoctorProfile

    async def get_profile(
        self, doctor_id: uuid.UUID, *, for_update: bool = False
    ) -> DoctorProfile | None:
        statement = select(DoctorProfile).where(DoctorProfile.user_id == doctor_id)
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def save(
        self, doctor_id: uuid.UUID, organization_id: uuid.UUID | None, values: dict[str, Any]
    ) -> bool:
        """Insert the doctor's profile or replace its fields; True when it was inserted.

        One statement, so two first saves at once cannot both insert.
        """
        statement = (
            pg_insert(DoctorProfile)
            .values(user_id=doctor_id, organization_id=organization_id, **values)
            .on_conflict_do_update(
                index_elements=[DoctorProfile.user_id],
                set_={**values, "organization_id": organization_id, "updated_at": func.now()},
            )
            # xmax is 0 on a freshly inserted row version, the updating transaction's id
            # on an updated one.
            .returning(literal_column("xmax = 0", Boolean))
        )
        return bool((await self.session.execute(statement)).scalar_one())

    async def move_to_organization(self, doctor_id: uuid.UUID, organization_id: uuid.UUID) -> bool:
        """Point the doctor's profile (if any) at `organization_id`; True when there was one."""
        statement = (
            update(DoctorProfile)
            .where(DoctorProfile.user_id == doctor_id)
            .values(organization_id=organization_id, updated_at=func.now())
            .returning(DoctorProfile.user_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).first() is not None

    async def doctor_in_organization(
        self, doctor_id: uuid.UUID, organization_id: uuid.UUID
    ) -> bool:
        statement = select(User.id).where(
            User.id == doctor_id,
            User.role == Role.doctor.value,
            User.organization_id == organization_id,
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def rules_of(self, doctor_id: uuid.UUID) -> Sequence[AvailabilityRule]:
        statement = (
            select(AvailabilityRule)
            .where(AvailabilityRule.doctor_id == doctor_id)
            .order_by(AvailabilityRule.weekday, AvailabilityRule.start_minute)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def exceptions_of(self, doctor_id: uuid.UUID) -> Sequence[AvailabilityException]:
        statement = (
            select(AvailabilityException)
            .where(AvailabilityException.doctor_id == doctor_id)
            .order_by(AvailabilityException.day)
        )
        return (await self.session.execute(statement)).scalars().all()

    async def replace_availability(
        self,
        doctor_id: uuid.UUID,
        rules: Sequence[AvailabilityRule],
        exceptions: Sequence[AvailabilityException],
    ) -> None:
        """Every rule and exception of the doctor, replaced (in the caller's transaction:
        readers see the old set or the new one, never a mix)."""
        for statement in (
            delete(AvailabilityRule).where(AvailabilityRule.doctor_id == doctor_id),
            delete(AvailabilityException).where(AvailabilityException.doctor_id == doctor_id),
        ):
            await self.session.execute(statement.execution_options(synchronize_session=False))
        self.session.add_all([*rules, *exceptions])
        await self.session.flush()


class DirectoryRepository:
    SORTS: dict[str, Any] = {
        "name": public_doctors.c.full_name,
        "fee": public_doctors.c.consultation_fee,
        "experience": public_doctors.c.years_of_experience,
        "rating": public_doctors.c.rating_average,
    }

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_id(self, doctor_id: uuid.UUID) -> Row[Any] | None:
        statement = select(public_doctors).where(public_doctors.c.id == doctor_id)
        return (await self.session.execute(statement)).one_or_none()

    async def is_public(self, doctor_id: uuid.UUID) -> bool:
        statement = select(exists().where(public_doctors.c.id == doctor_id))
        return bool((await self.session.execute(statement)).scalar_one())

    async def page(
        self, filters: DirectoryFilters, *, limit: int, offset: int
    ) -> tuple[Sequence[Row[Any]], int]:
        statement = self._filtered(filters)
        rows = (
            await self.session.execute(
                statement.order_by(*self._ordering(filters)).limit(limit).offset(offset)
            )
        ).all()
        if rows and len(rows) < limit:
            return rows, offset + len(rows)
        if not rows and offset == 0:
            return [], 0
        count = select(func.count()).select_from(
            statement.with_only_columns(public_doctors.c.id).subquery()
        )
        return rows, int((await self.session.execute(count)).scalar_one())

    async def working_on(self, filters: DirectoryFilters, day: date) -> Sequence[Row[Any]]:
        """Every doctor matching the filters who works on `day` at all (an extra-hours
        exception that date, or a rule for its weekday and no exception), in the list's
        order: the candidates whose free slots that day the service then works out."""
        rules = public_availability_rules
        days = public_availability_exceptions
        doctor = public_doctors.c.id
        excepted = select(days.c.doctor_id).where(days.c.doctor_id == doctor, days.c.day == day)
        extra_hours = excepted.where(days.c.available)
        weekly = select(rules.c.doctor_id).where(
            rules.c.doctor_id == doctor, rules.c.weekday == day.isoweekday()
        )
        statement = (
            self._filtered(filters)
            .where(or_(extra_hours.exists(), and_(~excepted.exists(), weekly.exists())))
            .order_by(*self._ordering(filters))
        )
        rows: Sequence[Row[Any]] = (await self.session.execute(statement)).all()
        return rows

    async def schedules(
        self, doctor_ids: Sequence[uuid.UUID], first: date, last: date
    ) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]]]:
        """The weekly rules of these doctors, and their exceptions dated first..last."""
        if not doctor_ids:
            return [], []
        rules = public_availability_rules
        days = public_availability_exceptions
        rule_rows = (
            await self.session.execute(select(rules).where(rules.c.doctor_id.in_(doctor_ids)))
        ).all()
        exception_rows = (
            await self.session.execute(
                select(days).where(
                    days.c.doctor_id.in_(doctor_ids), days.c.day >= first, days.c.day <= last
                )
            )
        ).all()
        return rule_rows, exception_rows

    async def busy(
        self, doctor_ids: Sequence[uuid.UUID], since: datetime, until: datetime
    ) -> Sequence[Row[Any]]:
        """(doctor_id, starts_at, ends_at) of these doctors' active appointments that
        overlap [since, until): the busy time the free slots leave out (migration 0014's
        view, which shows periods and nothing of whose they are)."""
        if not doctor_ids:
            return []
        busy = public_doctor_busy
        statement = select(busy).where(
            busy.c.doctor_id.in_(doctor_ids), busy.c.starts_at < until, busy.c.ends_at > since
        )
        rows: Sequence[Row[Any]] = (await self.session.execute(statement)).all()
        return rows

    @staticmethod
    def _filtered(filters: DirectoryFilters) -> Select[Any]:
        d = public_doctors.c
        statement = select(public_doctors)
        if filters.specialty:
            statement = statement.where(d.specialty == filters.specialty)
        if filters.search:
            statement = statement.where(d.full_name.ilike(_contains(filters.search), escape="\\"))
        if filters.language:
            statement = statement.where(d.languages.contains([filters.language]))
        if filters.video is not None:
            statement = statement.where(d.offers_video.is_(filters.video))
        if filters.max_fee is not None:
            statement = statement.where(d.consultation_fee <= filters.max_fee)
        return statement

    @classmethod
    def _ordering(cls, filters: DirectoryFilters) -> list[Any]:
        column = cls.SORTS[filters.sort]
        if filters.descending:
            return [column.desc().nulls_last(), public_doctors.c.id.desc()]
        return [column.asc().nulls_last(), public_doctors.c.id.asc()]
