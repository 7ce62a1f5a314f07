"""Patient charts (encrypted fields, blind indexes, per-organization MRNs), claim
invitations, patient profiles, and appointments that can never overlap

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Charts belong to their organization (the tenant); a patient account also sees the
# charts linked to it, at every organization, and may create its own chart at a
# doctor's organization when it books there (the service decides when). MRNs come from
# a per-organization counter through a SECURITY DEFINER function, so that booking
# patient, whose context has no organization, can draw the next number without
# seeing or touching any other counter. Appointments follow the doctor's organization
# and are also visible to the patient whose linked chart they are for.
#
# Free slots are public (anonymous visitors see them), so the directory needs the
# busy times of every listed doctor without seeing whose they are: the view below
# shows only doctor and period of active appointments (like the views of 0011,
# owned by the schema owner and therefore not held by row-level security).
SECURITY_SQL = r"""
ALTER TABLE patients ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_own ON patients
    USING (app_is_system() OR organization_id = app_org_id()
           OR (user_id IS NOT NULL AND user_id = app_user_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR (user_id IS NOT NULL AND user_id = app_user_id()));

ALTER TABLE patient_mrn_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON patient_mrn_counters
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

CREATE FUNCTION next_patient_mrn(p_organization uuid) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO patient_mrn_counters AS c (organization_id, last_value)
    VALUES (p_organization, 1)
    ON CONFLICT (organization_id) DO UPDATE SET last_value = c.last_value + 1
    RETURNING 'MRN-' || lpad(last_value::text, 6, '0')
$$;

ALTER TABLE patient_invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON patient_invitations
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE patient_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_profile ON patient_profiles
    USING (app_is_system() OR user_id = app_user_id())
    WITH CHECK (app_is_system() OR user_id = app_user_id());

ALTER TABLE appointments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_own ON appointments
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM patients p
                       WHERE p.id = patient_id AND p.user_id = app_user_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM patients p
                       WHERE p.id = patient_id AND p.user_id = app_user_id()));

CREATE VIEW public_doctor_busy WITH (security_barrier = true) AS
SELECT a.doctor_id, a.starts_at, a.ends_at
  FROM appointments a
  JOIN public_doctors d ON d.id = a.doctor_id
 WHERE a.status IN ('requested', 'confirmed', 'checked_in', 'in_progress', 'completed');
"""

DROP_SECURITY_SQL = r"""
DROP VIEW IF EXISTS public_doctor_busy;
DROP FUNCTION IF EXISTS next_patient_mrn(uuid);
"""


def upgrade() -> None:
    op.create_table(
        "patient_mrn_counters",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("last_value", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_patient_mrn_counters_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_patient_mrn_counters")),
    )
    op.create_table(
        "patient_profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("sex", sa.String(length=10), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("emergency_contact", sa.LargeBinary(), nullable=True),
        sa.Column("allergies", sa.LargeBinary(), nullable=True),
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
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_patient_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_patient_profiles")),
    )
    op.create_table(
        "patients",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("mrn", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=10), nullable=False),
        sa.Column("email", postgresql.CITEXT(), nullable=True),
        sa.Column("blood_type", sa.String(length=3), nullable=True),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column("phone_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("national_id", sa.LargeBinary(), nullable=True),
        sa.Column("national_id_index", sa.LargeBinary(length=32), nullable=True),
        sa.Column("insurance_number", sa.LargeBinary(), nullable=True),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("emergency_contact", sa.LargeBinary(), nullable=True),
        sa.Column("allergies", sa.LargeBinary(), nullable=True),
        sa.Column("chronic_conditions", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
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
            "blood_type IS NULL OR blood_type IN ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')",
            name=op.f("ck_patients_blood_type_known"),
        ),
        sa.CheckConstraint(
            "sex IN ('female', 'male', 'other', 'unknown')", name=op.f("ck_patients_sex_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_patients_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"],
            ["users.id"],
            name=op.f("fk_patients_deleted_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_patients_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_patients_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("organization_id", "mrn", name="uq_patients_organization_mrn"),
    )
    op.create_index(
        "ix_patients_first_name_trgm",
        "patients",
        ["first_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"first_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_patients_last_name_trgm",
        "patients",
        ["last_name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"last_name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_patients_organization_national_id_index",
        "patients",
        ["organization_id", "national_id_index"],
        unique=False,
    )
    op.create_index(
        "ix_patients_organization_phone_index",
        "patients",
        ["organization_id", "phone_index"],
        unique=False,
    )
    op.create_index(op.f("ix_patients_user_id"), "patients", ["user_id"], unique=False)
    op.create_index(
        "uq_patients_organization_user",
        "patients",
        ["organization_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("user_id IS NOT NULL AND deleted_at IS NULL"),
    )
    op.create_table(
        "appointments",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("fee", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payment_status", sa.String(length=20), nullable=False),
        sa.Column("booked_by", sa.Uuid(), nullable=True),
        sa.Column("video_room", sa.String(length=100), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.Uuid(), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column("cancelled_late", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("reminder_24h_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_1h_sent_at", sa.DateTime(timezone=True), nullable=True),
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
        postgresql.ExcludeConstraint(
            (sa.column("doctor_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            where=sa.text(
                "status IN ('requested', 'confirmed', 'checked_in', 'in_progress', 'completed')"
            ),
            using="gist",
            name="ex_appointments_doctor_overlap",
        ),
        postgresql.ExcludeConstraint(
            (sa.column("patient_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at, '[)')"), "&&"),
            where=sa.text(
                "status IN ('requested', 'confirmed', 'checked_in', 'in_progress', 'completed')"
            ),
            using="gist",
            name="ex_appointments_patient_overlap",
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_appointments_currency_code")),
        sa.CheckConstraint(
            "payment_status IN ('not_required', 'unpaid', 'pending', 'held', 'paid', 'refunded')",
            name=op.f("ck_appointments_payment_status_known"),
        ),
        sa.CheckConstraint(
            "status IN ('requested', 'confirmed', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')",
            name=op.f("ck_appointments_status_known"),
        ),
        sa.CheckConstraint(
            "type IN ('in_person', 'video')", name=op.f("ck_appointments_type_known")
        ),
        sa.CheckConstraint("fee >= 0", name=op.f("ck_appointments_fee_not_negative")),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("ck_appointments_period")),
        sa.ForeignKeyConstraint(
            ["booked_by"],
            ["users.id"],
            name=op.f("fk_appointments_booked_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by"],
            ["users.id"],
            name=op.f("fk_appointments_cancelled_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_appointments_doctor_id_doctor_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_appointments_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_appointments_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(
        "ix_appointments_doctor_starts_at", "appointments", ["doctor_id", "starts_at"], unique=False
    )
    op.create_index(
        "ix_appointments_organization_starts_at",
        "appointments",
        ["organization_id", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_appointments_patient_starts_at",
        "appointments",
        ["patient_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "patient_invitations",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("email", postgresql.CITEXT(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claimed_by"],
            ["users.id"],
            name=op.f("fk_patient_invitations_claimed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_patient_invitations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_invitations_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_patient_invitations_token_hash")),
    )
    op.create_index(
        op.f("ix_patient_invitations_organization_id"),
        "patient_invitations",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_patient_invitations_patient_id"),
        "patient_invitations",
        ["patient_id"],
        unique=False,
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_index(op.f("ix_patient_invitations_patient_id"), table_name="patient_invitations")
    op.drop_index(op.f("ix_patient_invitations_organization_id"), table_name="patient_invitations")
    op.drop_table("patient_invitations")
    op.drop_index("ix_appointments_patient_starts_at", table_name="appointments")
    op.drop_index("ix_appointments_organization_starts_at", table_name="appointments")
    op.drop_index("ix_appointments_doctor_starts_at", table_name="appointments")
    op.drop_table("appointments")
    op.drop_index(
        "uq_patients_organization_user",
        table_name="patients",
        postgresql_where=sa.text("user_id IS NOT NULL AND deleted_at IS NULL"),
    )
    op.drop_index(op.f("ix_patients_user_id"), table_name="patients")
    op.drop_index("ix_patients_organization_phone_index", table_name="patients")
    op.drop_index("ix_patients_organization_national_id_index", table_name="patients")
    op.drop_index("ix_patients_last_name_trgm", table_name="patients")
    op.drop_index("ix_patients_first_name_trgm", table_name="patients")
    op.drop_table("patients")
    op.drop_table("patient_profiles")
    op.drop_table("patient_mrn_counters")
