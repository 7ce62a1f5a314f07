"""Queries of the uploads domain: which chart a medical record belongs to.

Medical files may be filed under one record of a chart; the record is found here (a
live one: a deleted record takes no files and shows none), under the medical records'
row-level security, so another organization's record is simply not there.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.models.consultations import MedicalRecord


class UploadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def chart_of_record(self, record_id: uuid.UUID) -> uuid.UUID | None:
        """The chart (patient id) of a live medical record, or None."""
        statement = select(MedicalRecord.patient_id).where(
            MedicalRecord.id == record_id, MedicalRecord.deleted_at.is_(None)
        )
        patient_id: uuid.UUID | None = (await self.session.execute(statement)).scalar_one_or_none()
        return patient_id
