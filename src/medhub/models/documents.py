"""Files attached to products, orders and certifications, and clinical uploads: a
patient chart's documents (ID, insurance card, consent), its medical files (of the
whole chart or of one medical record) and a user's own documents. The bytes live in
the storage backend under a random key; this row says what they are and who may see
them (the owning domain decides, see documents/access.py; row-level security keeps
the clinical ones to whoever may see their chart, record or user, migration 0018)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from medhub.models.base import Base, IdMixin, one_of


class DocumentEntity(StrEnum):
    product = "product"
    order = "order"
    certification = "certification"
    # A patient chart (entity id: the chart's): its demographic documents.
    patient = "patient"
    # A patient chart's medical files not filed under one record (entity id: the chart's).
    patient_medical = "patient_medical"
    # One medical record's files (entity id: the record's).
    medical_record = "medical_record"
    # A user's own documents (entity id: the user's).
    user = "user"


class DocumentType(StrEnum):
    certificate = "certificate"
    invoice = "invoice"
    specification = "specification"
    datasheet = "datasheet"
    shipping_doc = "shipping_doc"
    other = "other"
    id_card = "id_card"
    insurance_card = "insurance_card"
    consent = "consent"
    medical = "medical"
    # A small preview of an image document, made by the system (`thumbnail_id`).
    thumbnail = "thumbnail"


class Document(IdMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(one_of("entity_type", DocumentEntity), name="entity_type"),
        CheckConstraint(one_of("document_type", DocumentType), name="document_type"),
        Index("ix_documents_entity", "entity_type", "entity_id", "created_at"),
        Index("ix_documents_document_type", "document_type"),
        # The foreign key's ON DELETE looks documents up by thumbnail_id.
        Index(
            "ix_documents_thumbnail_id",
            "thumbnail_id",
            postgresql_where=text("thumbnail_id IS NOT NULL"),
        ),
    )

    entity_type: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[uuid.UUID]
    document_type: Mapped[str] = mapped_column(String(100))
    # The name shown and offered on download (cleaned); never a path on disk.
    file_name: Mapped[str] = mapped_column(String(255))
    storage_backend: Mapped[str] = mapped_column(String(20))
    storage_key: Mapped[str] = mapped_column(String(500), unique=True)
    file_size: Mapped[int] = mapped_column(BigInteger)
    mime_type: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # An image's preview: another document of the same entity, stored with it.
    thumbnail_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
