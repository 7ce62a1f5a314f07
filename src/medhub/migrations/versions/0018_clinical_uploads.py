"""Clinical uploads: documents of patient charts, medical records and users, image
thumbnails, and row-level security on documents

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ENTITIES = ("product", "order", "certification")
NEW_ENTITIES = ("patient", "patient_medical", "medical_record", "user")
OLD_TYPES = ("certificate", "invoice", "specification", "datasheet", "shipping_doc", "other")
NEW_TYPES = ("id_card", "insurance_card", "consent", "medical", "thumbnail")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# Product, certification and order documents stay as they were: public or scoped by
# their services. A clinical document is a row only for whoever may see what it is
# attached to, by that table's own policy: the chart (patients: its organization, or
# the patient whose linked chart it is), the medical record (the same), or the user
# themself. Which staff role may read medical files (doctors, not admins) is the
# application's matrix; these policies keep every other organization and every other
# person out whatever the code does. The foreign key's SET NULL (a thumbnail deleted)
# is a referential action, which row-level security does not hold.
SECURITY_SQL = r"""
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_entity ON documents
    USING (app_is_system()
           OR entity_type IN ('product', 'order', 'certification')
           OR (entity_type IN ('patient', 'patient_medical')
               AND EXISTS (SELECT 1 FROM patients p WHERE p.id = entity_id))
           OR (entity_type = 'medical_record'
               AND EXISTS (SELECT 1 FROM medical_records r WHERE r.id = entity_id))
           OR (entity_type = 'user' AND entity_id = app_user_id()))
    WITH CHECK (app_is_system()
           OR entity_type IN ('product', 'order', 'certification')
           OR (entity_type IN ('patient', 'patient_medical')
               AND EXISTS (SELECT 1 FROM patients p WHERE p.id = entity_id))
           OR (entity_type = 'medical_record'
               AND EXISTS (SELECT 1 FROM medical_records r WHERE r.id = entity_id))
           OR (entity_type = 'user' AND entity_id = app_user_id()));
"""

DROP_SECURITY_SQL = r"""
DROP POLICY IF EXISTS by_entity ON documents;
ALTER TABLE documents DISABLE ROW LEVEL SECURITY;
"""


def upgrade() -> None:
    op.drop_constraint(op.f("ck_documents_entity_type"), "documents", type_="check")
    op.create_check_constraint(
        op.f("ck_documents_entity_type"),
        "documents",
        _one_of("entity_type", OLD_ENTITIES + NEW_ENTITIES),
    )
    op.drop_constraint(op.f("ck_documents_document_type"), "documents", type_="check")
    op.create_check_constraint(
        op.f("ck_documents_document_type"),
        "documents",
        _one_of("document_type", OLD_TYPES + NEW_TYPES),
    )
    op.add_column("documents", sa.Column("thumbnail_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_documents_thumbnail_id_documents"),
        "documents",
        "documents",
        ["thumbnail_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_index(
        "ix_documents_thumbnail_id",
        "documents",
        ["thumbnail_id"],
        unique=False,
        postgresql_where=sa.text("thumbnail_id IS NOT NULL"),
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    # The old constraints cannot hold clinical documents: their rows go (their files
    # stay in storage, unreachable), as the tables they belong to go with 0015/0014.
    op.execute(
        f"DELETE FROM documents WHERE {_one_of('entity_type', NEW_ENTITIES)}"  # noqa: S608 - constants
        f" OR {_one_of('document_type', NEW_TYPES)}"
    )
    op.drop_index("ix_documents_thumbnail_id", table_name="documents")
    op.drop_constraint(op.f("fk_documents_thumbnail_id_documents"), "documents", type_="foreignkey")
    op.drop_column("documents", "thumbnail_id")
    op.drop_constraint(op.f("ck_documents_document_type"), "documents", type_="check")
    op.create_check_constraint(
        op.f("ck_documents_document_type"), "documents", _one_of("document_type", OLD_TYPES)
    )
    op.drop_constraint(op.f("ck_documents_entity_type"), "documents", type_="check")
    op.create_check_constraint(
        op.f("ck_documents_entity_type"), "documents", _one_of("entity_type", OLD_ENTITIES)
    )
