"""Files attached to products, orders and certifications. The bytes live in the
storage backend under a random key; this row says what they are and who may see them."""

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


class DocumentType(StrEnum):
    certificate = "certificate"
    invoice = "invoice"
    specification = "specification"
    datasheet = "datasheet"
    shipping_doc = "shipping_doc"
    other = "other"


class Document(IdMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(one_of("entity_type", DocumentEntity), name="entity_type"),
        CheckConstraint(one_of("document_type", DocumentType), name="document_type"),
        Index("ix_documents_entity", "entity_type", "entity_id", "created_at"),
        Index("ix_documents_document_type", "document_type"),
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
    created_at: Mapped[datetime] = mapped_column(server_default=text("now()"))
