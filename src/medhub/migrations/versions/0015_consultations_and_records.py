"""Consultations (the encounter) and medical records: encrypted clinical content under
row-level security

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Clinical content belongs to the chart's organization and is visible to the patient
# whose linked chart it is (DESIGN.md, "Clinical model"). Which staff role may read
# it (doctors, not admins) is the application's matrix (authz/permissions.py); the
# policies below keep every other organization out whatever the code does.
SECURITY_SQL = r"""
ALTER TABLE consultations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_own ON consultations
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM patients p
                       WHERE p.id = patient_id AND p.user_id = app_user_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE medical_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_own ON medical_records
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM patients p
                       WHERE p.id = patient_id AND p.user_id = app_user_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id());
"""


def upgrade() -> None:
    op.create_table(
        "consultations",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chief_complaint", sa.LargeBinary(), nullable=True),
        sa.Column("diagnosis", sa.LargeBinary(), nullable=True),
        sa.Column("icd10_codes", sa.LargeBinary(), nullable=True),
        sa.Column("notes", sa.LargeBinary(), nullable=True),
        sa.Column("vitals", sa.LargeBinary(), nullable=True),
        sa.Column("follow_up_on", sa.Date(), nullable=True),
        sa.Column("follow_up_notes", sa.LargeBinary(), nullable=True),
        sa.Column("video_room", sa.String(length=100), nullable=True),
        sa.Column("cancelled_reason", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('scheduled', 'in_progress', 'completed', 'cancelled')",
            name=op.f("ck_consultations_status_known"),
        ),
        sa.CheckConstraint(
            "type IN ('in_person', 'video')", name=op.f("ck_consultations_type_known")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_consultations_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_consultations_doctor_id_doctor_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_consultations_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_consultations_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultations")),
    )
    op.create_index(
        "ix_consultations_doctor_created_at",
        "consultations",
        ["doctor_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_consultations_organization_created_at",
        "consultations",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_consultations_patient_created_at",
        "consultations",
        ["patient_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_consultations_appointment",
        "consultations",
        ["appointment_id"],
        unique=True,
        postgresql_where=sa.text("appointment_id IS NOT NULL"),
    )
    op.create_table(
        "medical_records",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("consultation_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("title", sa.LargeBinary(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('diagnosis', 'allergy', 'lab_result', 'imaging', 'procedure', 'immunization', 'note')",
            name=op.f("ck_medical_records_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_medical_records_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_medical_records_consultation_id_consultations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"],
            ["users.id"],
            name=op.f("fk_medical_records_deleted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_medical_records_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_medical_records_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_medical_records")),
    )
    op.create_index(
        op.f("ix_medical_records_consultation_id"),
        "medical_records",
        ["consultation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_medical_records_organization_id"),
        "medical_records",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        "ix_medical_records_patient_recorded_on",
        "medical_records",
        ["patient_id", "recorded_on"],
        unique=False,
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.drop_index("ix_medical_records_patient_recorded_on", table_name="medical_records")
    op.drop_index(op.f("ix_medical_records_organization_id"), table_name="medical_records")
    op.drop_index(op.f("ix_medical_records_consultation_id"), table_name="medical_records")
    op.drop_table("medical_records")
    op.drop_index(
        "uq_consultations_appointment",
        table_name="consultations",
        postgresql_where=sa.text("appointment_id IS NOT NULL"),
    )
    op.drop_index("ix_consultations_patient_created_at", table_name="consultations")
    op.drop_index("ix_consultations_organization_created_at", table_name="consultations")
    op.drop_index("ix_consultations_doctor_created_at", table_name="consultations")
    op.drop_table("consultations")
