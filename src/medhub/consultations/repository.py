"""Consultation queries.

Who reaches which consultations is a `ConsultationScope`: the organization's (its
doctors) or those of the charts linked to one account (the patient). Row-level
security (migration 0015) holds every statement to the same organizations whatever
the scope says; the scope is what keeps an organization's admins and other staff,
whom RLS lets through, to nothing (the service gives them no scope at all).

A chart that was deleted takes its consultations out of sight with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from medhub.consultations.schemas import ConsultationFilters
from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.appointments import Appointment
from medhub.models.consultations import Consultation
from medhub.models.doctors import DoctorProfile
from medhub.models.patients import Patient


@dataclass(frozen=True)
class ConsultationScope:
    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None

    def condition(self) -> ColumnElement[bool]:
        if self.organization_id is not None:
            return Consultation.organization_id == self.organization_id
        if self.user_id is not None:
            return Patient.user_id == self.user_id
        return Consultation.id.is_(None)  # no scope, no consultation (ids are never NULL)


class ConsultationRepository(Repository[Consultation]):
    model = Consultation

    SORTS: dict[str, Any] = {
        "scheduled_at": Consultation.scheduled_at,
        "created_at": Consultation.created_at,
    }

    def readable_statement(self, scope: ConsultationScope) -> Select[Consultation]:
        return (
            select(Consultation)
            .join(Patient, Patient.id == Consultation.patient_id)
            .where(Patient.deleted_at.is_(None), scope.condition())
        )

    async def get_readable(
        self, scope: ConsultationScope, consultation_id: uuid.UUID, *, for_update: bool = False
    ) -> Consultation | None:
        statement = self.readable_statement(scope).where(Consultation.id == consultation_id)
        if for_update:
            statement = statement.with_for_update(of=Consultation)
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def page(
        self, scope: ConsultationScope, filters: ConsultationFilters, params: PageParams
    ) -> tuple[Sequence[Consultation], int]:
        statement = self.readable_statement(scope)
        if filters.patient_id is not None:
            statement = statement.where(Consultation.patient_id == filters.patient_id)
        if filters.doctor_id is not None:
            statement = statement.where(Consultation.doctor_id == filters.doctor_id)
        if filters.status is not None:
            statement = statement.where(Consultation.status == filters.status)
        if filters.since is not None:
            statement = statement.where(Consultation.scheduled_at >= filters.since)
        if filters.until is not None:
            statement = statement.where(Consultation.scheduled_at < filters.until)
        column = self.SORTS[filters.sort]
        ordering = (
            [column.desc(), Consultation.id.desc()]
            if filters.descending
            else [column.asc(), Consultation.id.asc()]
        )
        return await self.paginate(statement.order_by(*ordering), params)

    async def all_readable(
        self, scope: ConsultationScope, *, since: datetime | None, until: datetime | None
    ) -> Sequence[Consultation]:
        """Every consultation of `scope` scheduled in [since, until), newest first (for a
        patient's own: their history, a bounded number)."""
        statement = self.readable_statement(scope)
        if since is not None:
            statement = statement.where(Consultation.scheduled_at >= since)
        if until is not None:
            statement = statement.where(Consultation.scheduled_at < until)
        statement = statement.order_by(Consultation.scheduled_at.desc(), Consultation.id.desc())
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalars().all()

    async def of_appointment(self, appointment_id: uuid.UUID) -> Consultation | None:
        statement = (
            select(Consultation)
            .where(Consultation.appointment_id == appointment_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def insert_for_appointment(self, values: dict[str, Any]) -> bool:
        """Insert the appointment's consultation unless it has one; True when inserted.

        One statement, so two openings at once (the appointment started while a doctor
        posts `{appointment_id}`) cannot both insert: the loser reads the winner's.
        """
        statement = (
            pg_insert(Consultation)
            .values(**values)
            .on_conflict_do_nothing(
                index_elements=[Consultation.appointment_id],
                index_where=Consultation.appointment_id.is_not(None),
            )
            .returning(Consultation.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def appointment_of_organization(
        self, appointment_id: uuid.UUID, organization_id: uuid.UUID
    ) -> Appointment | None:
        # Read here, not through the appointments service, which may not import this
        # package (the two would form a cycle) and has no read for other domains yet.
        statement = select(Appointment).where(
            Appointment.id == appointment_id, Appointment.organization_id == organization_id
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def has_doctor_profile(self, doctor_id: uuid.UUID) -> bool:
        statement = select(DoctorProfile.user_id).where(DoctorProfile.user_id == doctor_id)
        return (await self.session.execute(statement)).first() is not None

    async def of_chart(self, consultation_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
        statement = select(Consultation.id).where(
            Consultation.id == consultation_id, Consultation.patient_id == patient_id
        )
        return (await self.session.execute(statement)).first() is not None
