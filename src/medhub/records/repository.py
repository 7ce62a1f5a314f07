"""Medical record queries: always within charts found first, as the caller may see
them, through the patients service, never a deleted record. Row-level security
(migration 0015) holds them to the chart's organization, or to the patient's own.

The names of the clinicians in a patient's own history come from the `own_clinicians`
view (migration 0017): a patient reads no other user's row."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date

from sqlalchemy import ARRAY, Select, Uuid, bindparam, select, text

from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.consultations import MedicalRecord
from medhub.models.patients import Patient
from medhub.records.schemas import RecordFilters

_CLINICIAN_NAMES = text(
    "SELECT user_id, full_name FROM own_clinicians WHERE user_id = ANY(:ids)"
).bindparams(bindparam("ids", type_=ARRAY(Uuid())))


class RecordRepository(Repository[MedicalRecord]):
    model = MedicalRecord

    def of_chart(self, chart: Patient) -> Select[MedicalRecord]:
        return select(MedicalRecord).where(
            MedicalRecord.patient_id == chart.id,
            MedicalRecord.organization_id == chart.organization_id,
            MedicalRecord.deleted_at.is_(None),
        )

    async def get_of_chart(
        self, chart: Patient, record_id: uuid.UUID, *, for_update: bool = False
    ) -> MedicalRecord | None:
        statement = self.of_chart(chart).where(MedicalRecord.id == record_id)
        if for_update:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def page(
        self, chart: Patient, filters: RecordFilters, params: PageParams
    ) -> tuple[Sequence[MedicalRecord], int]:
        statement = self.of_chart(chart)
        if filters.kind is not None:
            statement = statement.where(MedicalRecord.kind == filters.kind)
        if filters.first is not None:
            statement = statement.where(MedicalRecord.recorded_on >= filters.first)
        if filters.last is not None:
            statement = statement.where(MedicalRecord.recorded_on <= filters.last)
        # Newest history first (ix_medical_records_patient_recorded_on).
        statement = statement.order_by(
            MedicalRecord.recorded_on.desc(), MedicalRecord.created_at.desc(), MedicalRecord.id
        )
        return await self.paginate(statement, params)

    async def of_charts(
        self, chart_ids: Collection[uuid.UUID], *, first: date | None, last: date | None
    ) -> Sequence[MedicalRecord]:
        """The live records of these charts dated within [first, last], newest first."""
        if not chart_ids:
            return []
        statement = select(MedicalRecord).where(
            MedicalRecord.patient_id.in_(chart_ids), MedicalRecord.deleted_at.is_(None)
        )
        if first is not None:
            statement = statement.where(MedicalRecord.recorded_on >= first)
        if last is not None:
            statement = statement.where(MedicalRecord.recorded_on <= last)
        statement = statement.order_by(
            MedicalRecord.recorded_on.desc(), MedicalRecord.created_at.desc(), MedicalRecord.id
        )
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalars().all()

    async def clinician_names(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The names of these users, as far as they are clinicians of the calling
        patient's consultations and records (the view answers for no one else)."""
        if not user_ids:
            return {}
        rows = await self.session.execute(_CLINICIAN_NAMES, {"ids": list(user_ids)})
        return {row.user_id: row.full_name for row in rows}
