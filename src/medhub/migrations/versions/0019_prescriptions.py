"""Prescriptions, their items, pharmacies' access and dispensations, under row-level
security; the prescription number sequence and the access grant function

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 18:04:19.239151
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A prescription is its organization's (the prescriber's), the patient's whose linked
# chart it is, and a pharmacy's once the pharmacy has presented its QR token or its
# reference number (DESIGN.md, "Clinical model"). Presenting one is the only way in:
# `grant_prescription_access()` takes the token's hash or the reference's blind index,
# never a bare id, so a pharmacy cannot reach a prescription it was not shown.
SECURITY_SQL = r"""
CREATE SEQUENCE prescription_number_seq;

ALTER TABLE prescription_pharmacy_access ENABLE ROW LEVEL SECURITY;
CREATE POLICY pharmacy_or_prescriber ON prescription_pharmacy_access
    USING (app_is_system() OR organization_id = app_org_id()
           OR prescriber_organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE prescriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY prescriber_patient_or_pharmacy ON prescriptions
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM patients p
                       WHERE p.id = patient_id AND p.user_id = app_user_id())
           OR EXISTS (SELECT 1 FROM prescription_pharmacy_access a
                       WHERE a.prescription_id = id AND a.organization_id = app_org_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM prescription_pharmacy_access a
                       WHERE a.prescription_id = id AND a.organization_id = app_org_id()));

-- Items are seen with their prescription, and written by its organization or by a
-- pharmacy holding access (dispensed quantities), never by the patient.
ALTER TABLE prescription_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY with_prescription ON prescription_items
    USING (EXISTS (SELECT 1 FROM prescriptions p WHERE p.id = prescription_id))
    WITH CHECK (app_is_system() OR EXISTS (
        SELECT 1 FROM prescriptions p
         WHERE p.id = prescription_id
           AND (p.organization_id = app_org_id()
                OR EXISTS (SELECT 1 FROM prescription_pharmacy_access a
                            WHERE a.prescription_id = p.id
                              AND a.organization_id = app_org_id()))));

-- A pharmacy's acts are its own, and shown to whoever sees the prescription (the
-- prescriber, the patient, another pharmacy dispensing the rest of it).
ALTER TABLE dispensations ENABLE ROW LEVEL SECURITY;
CREATE POLICY pharmacy_or_prescription ON dispensations
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM prescriptions p WHERE p.id = prescription_id))
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE dispensation_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY with_dispensation ON dispensation_items
    USING (EXISTS (SELECT 1 FROM dispensations d WHERE d.id = dispensation_id))
    WITH CHECK (app_is_system() OR EXISTS (
        SELECT 1 FROM dispensations d
         WHERE d.id = dispensation_id AND d.organization_id = app_org_id()));

-- A pharmacist's organization presents a prescription: by its QR token (the caller
-- proves it holds the token by its SHA-256, checked against the stored one, after
-- verifying the signature) or by its reference number (by its blind index). Records
-- or refreshes the pharmacy's access and returns the prescription's id; NULL when
-- nothing matches or the caller is not a pharmacist of an organization.
CREATE FUNCTION grant_prescription_access(
    p_prescription uuid, p_qr_hash text, p_reference_index bytea, p_via text
) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_id uuid;
    v_prescriber uuid;
BEGIN
    IF app_org_id() IS NULL OR current_setting('app.role', true) <> 'pharmacist' THEN
        RETURN NULL;
    END IF;
    IF p_via = 'qr' THEN
        SELECT id, organization_id INTO v_id, v_prescriber FROM prescriptions
         WHERE id = p_prescription AND qr_hash = p_qr_hash;
    ELSIF p_via = 'reference' THEN
        SELECT id, organization_id INTO v_id, v_prescriber FROM prescriptions
         WHERE reference_index = p_reference_index;
    END IF;
    IF v_id IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO prescription_pharmacy_access AS a
           (prescription_id, organization_id, prescriber_organization_id, first_via)
    VALUES (v_id, app_org_id(), v_prescriber, p_via)
    ON CONFLICT (prescription_id, organization_id)
    DO UPDATE SET last_at = now(), scan_count = a.scan_count + 1;
    RETURN v_id;
END
$$;

-- Public verification of a QR code (GET /rx/verify, /rx/<token>): no caller, so no
-- tenant context and row-level security shows nothing. The caller proves it holds the
-- token by its SHA-256, checked with the id the (verified) token names, and learns
-- only what the code itself stands for: never the patient, the items or the diagnosis.
CREATE FUNCTION prescription_public_status(p_id uuid, p_qr_hash text)
RETURNS TABLE (status text, number text, organization_name text, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT p.status::text, p.number::text, p.organization_name::text, p.expires_at
      FROM prescriptions p
     WHERE p.id = p_id AND p.qr_hash = p_qr_hash
$$;
REVOKE EXECUTE ON FUNCTION prescription_public_status(uuid, text) FROM PUBLIC;
"""

DROP_SECURITY_SQL = r"""
DROP POLICY IF EXISTS with_dispensation ON dispensation_items;
DROP POLICY IF EXISTS pharmacy_or_prescription ON dispensations;
DROP POLICY IF EXISTS with_prescription ON prescription_items;
DROP POLICY IF EXISTS prescriber_patient_or_pharmacy ON prescriptions;
DROP POLICY IF EXISTS pharmacy_or_prescriber ON prescription_pharmacy_access;
DROP FUNCTION IF EXISTS prescription_public_status(uuid, text);
DROP FUNCTION IF EXISTS grant_prescription_access(uuid, text, bytea, text);
DROP SEQUENCE IF EXISTS prescription_number_seq;
"""


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "prescriptions",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("consultation_id", sa.Uuid(), nullable=True),
        sa.Column("patient_name", sa.String(length=200), nullable=False),
        sa.Column("prescriber_name", sa.String(length=200), nullable=False),
        sa.Column("organization_name", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("reference_number", sa.LargeBinary(), nullable=False),
        sa.Column("reference_index", sa.LargeBinary(), nullable=False),
        sa.Column("qr_token", sa.LargeBinary(), nullable=False),
        sa.Column("qr_hash", sa.String(length=64), nullable=False),
        sa.Column("diagnosis", sa.LargeBinary(), nullable=True),
        sa.Column("notes", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scan_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_scanned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scanned_by", sa.Uuid(), nullable=True),
        sa.Column("dispensed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_reason", sa.String(length=500), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_by", sa.Uuid(), nullable=True),
        sa.Column("rejected_reason", sa.String(length=500), nullable=True),
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
            "status IN ('issued', 'scanned', 'validated', 'partially_dispensed', 'dispensed', 'rejected', 'cancelled', 'expired')",
            name=op.f("ck_prescriptions_status_known"),
        ),
        sa.CheckConstraint(
            "expires_at > issued_at", name=op.f("ck_prescriptions_expires_after_issue")
        ),
        sa.CheckConstraint(
            "scan_count >= 0", name=op.f("ck_prescriptions_scan_count_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_prescriptions_consultation_id_consultations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_prescriptions_doctor_id_doctor_profiles"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["last_scanned_by"],
            ["organizations.id"],
            name=op.f("fk_prescriptions_last_scanned_by_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_prescriptions_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_prescriptions_patient_id_patients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["rejected_by"],
            ["organizations.id"],
            name=op.f("fk_prescriptions_rejected_by_organizations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescriptions")),
        sa.UniqueConstraint("number", name=op.f("uq_prescriptions_number")),
        sa.UniqueConstraint("qr_hash", name=op.f("uq_prescriptions_qr_hash")),
        sa.UniqueConstraint("reference_index", name=op.f("uq_prescriptions_reference_index")),
    )
    op.create_index(
        op.f("ix_prescriptions_consultation_id"), "prescriptions", ["consultation_id"], unique=False
    )
    op.create_index(
        "ix_prescriptions_doctor_issued_at",
        "prescriptions",
        ["doctor_id", "issued_at"],
        unique=False,
    )
    op.create_index(
        "ix_prescriptions_open_expires_at",
        "prescriptions",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text(
            "status IN ('issued', 'scanned', 'validated', 'partially_dispensed')"
        ),
    )
    op.create_index(
        "ix_prescriptions_organization_issued_at",
        "prescriptions",
        ["organization_id", "issued_at"],
        unique=False,
    )
    op.create_index(
        "ix_prescriptions_patient_issued_at",
        "prescriptions",
        ["patient_id", "issued_at"],
        unique=False,
    )
    op.create_table(
        "dispensations",
        sa.Column("prescription_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("pharmacy_name", sa.String(length=200), nullable=False),
        sa.Column("pharmacist_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column(
            "total_amount", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "outcome <> 'rejected' OR reason IS NOT NULL",
            name=op.f("ck_dispensations_rejection_has_reason"),
        ),
        sa.CheckConstraint(
            "outcome IN ('dispensed', 'rejected')", name=op.f("ck_dispensations_outcome_known")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_dispensations_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["pharmacist_id"],
            ["users.id"],
            name=op.f("fk_dispensations_pharmacist_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_dispensations_prescription_id_prescriptions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispensations")),
    )
    op.create_index(
        "ix_dispensations_organization_created_at",
        "dispensations",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_dispensations_prescription", "dispensations", ["prescription_id"], unique=False
    )
    op.create_table(
        "prescription_items",
        sa.Column("prescription_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("medicine_name", sa.LargeBinary(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("strength", sa.String(length=100), nullable=True),
        sa.Column("form", sa.String(length=20), nullable=True),
        sa.Column("times_per_day", sa.SmallInteger(), nullable=True),
        sa.Column("every_hours", sa.SmallInteger(), nullable=True),
        sa.Column("frequency_text", sa.String(length=200), nullable=True),
        sa.Column("duration_days", sa.SmallInteger(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("refills", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("instructions", sa.LargeBinary(), nullable=True),
        sa.Column("dispensed_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "form IS NULL OR form IN ('tablet', 'capsule', 'liquid', 'injection', 'inhaler', 'drops', 'cream', 'patch', 'suppository', 'powder', 'other')",
            name=op.f("ck_prescription_items_form_known"),
        ),
        sa.CheckConstraint(
            "dispensed_quantity >= 0 AND dispensed_quantity <= quantity * (1 + refills)",
            name=op.f("ck_prescription_items_dispensed_within_allowed"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_prescription_items_quantity_positive")),
        sa.CheckConstraint("refills >= 0", name=op.f("ck_prescription_items_refills_not_negative")),
        sa.CheckConstraint(
            "times_per_day IS NULL OR every_hours IS NULL",
            name=op.f("ck_prescription_items_one_frequency_structure"),
        ),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_prescription_items_prescription_id_prescriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_prescription_items_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription_items")),
    )
    op.create_index(
        "ix_prescription_items_prescription_position",
        "prescription_items",
        ["prescription_id", "position"],
        unique=False,
    )
    op.create_index(
        op.f("ix_prescription_items_product_id"), "prescription_items", ["product_id"], unique=False
    )
    op.create_table(
        "prescription_pharmacy_access",
        sa.Column("prescription_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("prescriber_organization_id", sa.Uuid(), nullable=False),
        sa.Column("first_via", sa.String(length=12), nullable=False),
        sa.Column(
            "first_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column(
            "last_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("scan_count", sa.Integer(), server_default="1", nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("validated_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "first_via IN ('qr', 'reference')",
            name=op.f("ck_prescription_pharmacy_access_first_via_known"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_prescription_pharmacy_access_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prescriber_organization_id"],
            ["organizations.id"],
            name=op.f("fk_prescription_pharmacy_access_prescriber_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prescription_id"],
            ["prescriptions.id"],
            name=op.f("fk_prescription_pharmacy_access_prescription_id_prescriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["validated_by"],
            ["users.id"],
            name=op.f("fk_prescription_pharmacy_access_validated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "prescription_id", "organization_id", name=op.f("pk_prescription_pharmacy_access")
        ),
    )
    op.create_index(
        "ix_prescription_pharmacy_access_organization",
        "prescription_pharmacy_access",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "dispensation_items",
        sa.Column("dispensation_id", sa.Uuid(), nullable=False),
        sa.Column("prescription_item_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("batch_number", sa.String(length=64), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_dispensation_items_quantity_positive")),
        sa.CheckConstraint(
            "unit_price IS NULL OR unit_price >= 0",
            name=op.f("ck_dispensation_items_unit_price_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["dispensation_id"],
            ["dispensations.id"],
            name=op.f("fk_dispensation_items_dispensation_id_dispensations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["prescription_item_id"],
            ["prescription_items.id"],
            name=op.f("fk_dispensation_items_prescription_item_id_prescription_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_dispensation_items_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispensation_items")),
    )
    op.create_index(
        "ix_dispensation_items_dispensation",
        "dispensation_items",
        ["dispensation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_dispensation_items_prescription_item_id"),
        "dispensation_items",
        ["prescription_item_id"],
        unique=False,
    )
    # ### end Alembic commands ###
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index(
        op.f("ix_dispensation_items_prescription_item_id"), table_name="dispensation_items"
    )
    op.drop_index("ix_dispensation_items_dispensation", table_name="dispensation_items")
    op.drop_table("dispensation_items")
    op.drop_index(
        "ix_prescription_pharmacy_access_organization", table_name="prescription_pharmacy_access"
    )
    op.drop_table("prescription_pharmacy_access")
    op.drop_index(op.f("ix_prescription_items_product_id"), table_name="prescription_items")
    op.drop_index("ix_prescription_items_prescription_position", table_name="prescription_items")
    op.drop_table("prescription_items")
    op.drop_index("ix_dispensations_prescription", table_name="dispensations")
    op.drop_index("ix_dispensations_organization_created_at", table_name="dispensations")
    op.drop_table("dispensations")
    op.drop_index("ix_prescriptions_patient_issued_at", table_name="prescriptions")
    op.drop_index("ix_prescriptions_organization_issued_at", table_name="prescriptions")
    op.drop_index(
        "ix_prescriptions_open_expires_at",
        table_name="prescriptions",
        postgresql_where=sa.text(
            "status IN ('issued', 'scanned', 'validated', 'partially_dispensed')"
        ),
    )
    op.drop_index("ix_prescriptions_doctor_issued_at", table_name="prescriptions")
    op.drop_index(op.f("ix_prescriptions_consultation_id"), table_name="prescriptions")
    op.drop_table("prescriptions")
    # ### end Alembic commands ###
