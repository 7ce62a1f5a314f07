"""Medical record queries: always within one chart (found first, as the caller may see
it, through the patients service), never a deleted record. Row-level security
(migration 0015) holds them to the chart's organization, or to the patient's own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select

from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.models.consultations import MedicalRecord
from medhub.models.patients import Patient
from medhub.records.schemas import RecordFilters


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
