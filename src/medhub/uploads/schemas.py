"""What the upload routes answer: a document's metadata and what it belongs to."""

from __future__ import annotations

import uuid
from typing import Self

from pydantic import Field

from medhub.documents.schemas import DocumentRead
from medhub.models.documents import Document, DocumentType

# The choices of each route's `document_type` (the documents domain checks them again).
PATIENT_DOCUMENT_TYPES = (
    DocumentType.id_card,
    DocumentType.insurance_card,
    DocumentType.consent,
    DocumentType.other,
)
OWN_DOCUMENT_TYPES = (
    DocumentType.id_card,
    DocumentType.insurance_card,
    DocumentType.medical,
    DocumentType.other,
)


class UploadRead(DocumentRead):
    """A clinical upload: `download_url` (and `thumbnail_url` for an image) point at the
    documents domain's authorised download route."""

    patient_id: uuid.UUID | None = Field(description="The chart, for a patient's files")
    organization_id: uuid.UUID | None = Field(description="The chart's organization")
    record_id: uuid.UUID | None = Field(description="The medical record a file is filed under")

    @classmethod
    def of_upload(
        cls,
        document: Document,
        *,
        patient_id: uuid.UUID | None,
        organization_id: uuid.UUID | None,
        record_id: uuid.UUID | None,
    ) -> Self:
        return cls(
            **DocumentRead.of(document).model_dump(),
            patient_id=patient_id,
            organization_id=organization_id,
            record_id=record_id,
        )
