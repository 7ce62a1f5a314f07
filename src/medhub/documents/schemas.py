from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from medhub.models.documents import Document

# The route that streams a document's bytes (under the API prefix of app.py).
DOWNLOAD_URL = "/api/v1/documents/{id}/download"


class DocumentRead(BaseModel):
    """A document's metadata; the bytes are at `download_url`, never at a storage path."""

    id: uuid.UUID
    entity_type: str = Field(
        description=(
            "product, order, certification; patient (a chart's documents), patient_medical"
            " (a chart's medical files), medical_record or user (a user's own documents)"
        )
    )
    entity_id: uuid.UUID
    document_type: str = Field(
        description=(
            "certificate, invoice, specification, datasheet, shipping_doc, id_card,"
            " insurance_card, consent, medical, thumbnail or other"
        )
    )
    file_name: str = Field(description="The cleaned name offered on download")
    file_size: int = Field(description="Size in bytes")
    mime_type: str = Field(description="The type found in the content, not the one claimed")
    sha256: str = Field(description="Hex SHA-256 of the content, to verify a download")
    uploaded_by: uuid.UUID | None = Field(description="None for system-generated documents")
    created_at: datetime
    download_url: str
    thumbnail_url: str | None = Field(
        default=None, description="An image's preview (its own document), to download"
    )

    @classmethod
    def of(cls, document: Document) -> DocumentRead:
        return cls(
            id=document.id,
            entity_type=document.entity_type,
            entity_id=document.entity_id,
            document_type=document.document_type,
            file_name=document.file_name,
            file_size=document.file_size,
            mime_type=document.mime_type,
            sha256=document.sha256,
            uploaded_by=document.uploaded_by,
            created_at=document.created_at,
            download_url=DOWNLOAD_URL.format(id=document.id),
            thumbnail_url=(
                DOWNLOAD_URL.format(id=document.thumbnail_id) if document.thumbnail_id else None
            ),
        )
