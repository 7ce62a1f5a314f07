"""Paying for care: appointment payments held in escrow, an append-only double-entry
ledger whose groups must balance, disputes, the organizations' platform fee, and the
refunded amount of an appointment

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-12 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Payments and disputes follow their appointment: its organization's staff, and the
# patient whose linked chart it is for (a patient pays, cancels and disputes in their
# own context, which has no organization).
#
# The ledger is written like the audit log (0002): rows are only ever added. Triggers
# refuse UPDATE, DELETE and TRUNCATE for every role, and row-level security has a
# SELECT and an INSERT policy only. A money movement is one group of rows summing to
# zero per currency; the constraint trigger checks that at COMMIT (deferred: a group's
# rows are inserted one by one), reading as the owner so row-level security cannot hide
# a leg of the group from the check.
SECURITY_SQL = r"""
ALTER TABLE appointment_payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_own ON appointment_payments
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM appointments a JOIN patients p ON p.id = a.patient_id
                       WHERE a.id = appointment_id AND p.user_id = app_user_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM appointments a JOIN patients p ON p.id = a.patient_id
                       WHERE a.id = appointment_id AND p.user_id = app_user_id()));

ALTER TABLE appointment_disputes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_own ON appointment_disputes
    USING (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM appointments a JOIN patients p ON p.id = a.patient_id
                       WHERE a.id = appointment_id AND p.user_id = app_user_id()))
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM appointments a JOIN patients p ON p.id = a.patient_id
                       WHERE a.id = appointment_id AND p.user_id = app_user_id()));

ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON ledger_entries FOR SELECT
    USING (app_is_system() OR organization_id = app_org_id());
CREATE POLICY append ON ledger_entries FOR INSERT
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR EXISTS (SELECT 1 FROM appointments a JOIN patients p ON p.id = a.patient_id
                       WHERE a.id = appointment_id AND p.user_id = app_user_id()));

CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only();

CREATE FUNCTION ledger_group_balanced() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    off record;
BEGIN
    SELECT currency, sum(amount) AS total INTO off
      FROM ledger_entries WHERE group_id = NEW.group_id
     GROUP BY currency HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger group % does not balance: % %', NEW.group_id, off.total,
            off.currency USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_group_balanced();
"""

DROP_SECURITY_SQL = r"""
DROP TRIGGER IF EXISTS ledger_entries_balanced ON ledger_entries;
DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON ledger_entries;
DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries;
DROP FUNCTION IF EXISTS ledger_group_balanced();
DROP FUNCTION IF EXISTS ledger_entries_append_only();
DROP POLICY IF EXISTS append ON ledger_entries;
DROP POLICY IF EXISTS tenant_read ON ledger_entries;
DROP POLICY IF EXISTS tenant_or_own ON appointment_disputes;
DROP POLICY IF EXISTS tenant_or_own ON appointment_payments;
"""


def upgrade() -> None:
    op.add_column(
        "organizations", sa.Column("platform_fee_percent", sa.Numeric(5, 2), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_organizations_platform_fee_percent_range"),
        "organizations",
        "platform_fee_percent IS NULL OR platform_fee_percent BETWEEN 0 AND 100",
    )
    op.add_column(
        "appointments",
        sa.Column("refund_amount", sa.Numeric(10, 2), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "appointment_payments",
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider_reference", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column(
            "refunded_amount", sa.Numeric(12, 2), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("refund_reference", sa.String(length=255), nullable=True),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_appointment_payments_amount_positive")),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_appointment_payments_currency_code")
        ),
        sa.CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount",
            name=op.f("ck_appointment_payments_refund_within_amount"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'captured', 'failed', 'cancelled')",
            name=op.f("ck_appointment_payments_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_payments_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_appointment_payments_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_appointment_payments_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_payments")),
    )
    op.create_index(
        op.f("ix_appointment_payments_appointment_id"),
        "appointment_payments",
        ["appointment_id"],
        unique=False,
    )
    op.create_index(
        "uq_appointment_payments_live",
        "appointment_payments",
        ["appointment_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'captured')"),
    )
    op.create_index(
        "uq_appointment_payments_reference",
        "appointment_payments",
        ["provider", "provider_reference"],
        unique=True,
        postgresql_where=sa.text("provider_reference IS NOT NULL AND status = 'captured'"),
    )
    op.create_index(
        "ix_appointment_payments_release_due",
        "appointment_payments",
        ["release_after"],
        unique=False,
        postgresql_where=sa.text("status = 'captured' AND released_at IS NULL"),
    )
    op.create_index(
        "ix_appointment_payments_pending_expiry",
        "appointment_payments",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("doctor_id", sa.Uuid(), nullable=True),
        sa.Column("account", sa.String(length=30), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "account IN ('patient_payments', 'escrow', 'doctor_payable', 'platform_revenue',"
            " 'refunds', 'payouts')",
            name=op.f("ck_ledger_entries_account_known"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_ledger_entries_currency_code")),
        sa.CheckConstraint(
            "kind IN ('capture', 'release', 'refund')", name=op.f("ck_ledger_entries_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_ledger_entries_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["users.id"],
            name=op.f("fk_ledger_entries_doctor_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_ledger_entries_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_group_id", "ledger_entries", ["group_id"], unique=False)
    op.create_index(
        "ix_ledger_entries_organization_created",
        "ledger_entries",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_ledger_entries_appointment_id", "ledger_entries", ["appointment_id"], unique=False
    )
    op.create_index(
        "ix_ledger_entries_doctor_account", "ledger_entries", ["doctor_id", "account"], unique=False
    )
    op.create_table(
        "appointment_disputes",
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("refund_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('release', 'refund', 'partial_refund')",
            name=op.f("ck_appointment_disputes_resolution_known"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resolved')", name=op.f("ck_appointment_disputes_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_disputes_appointment_id_appointments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["users.id"],
            name=op.f("fk_appointment_disputes_opened_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_appointment_disputes_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["appointment_payments.id"],
            name=op.f("fk_appointment_disputes_payment_id_appointment_payments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["users.id"],
            name=op.f("fk_appointment_disputes_resolved_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_disputes")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_appointment_disputes_appointment_id")),
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_table("appointment_disputes")
    op.drop_index("ix_ledger_entries_doctor_account", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_appointment_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_organization_created", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_group_id", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index(
        "ix_appointment_payments_pending_expiry",
        table_name="appointment_payments",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_appointment_payments_release_due",
        table_name="appointment_payments",
        postgresql_where=sa.text("status = 'captured' AND released_at IS NULL"),
    )
    op.drop_index(
        "uq_appointment_payments_reference",
        table_name="appointment_payments",
        postgresql_where=sa.text("provider_reference IS NOT NULL AND status = 'captured'"),
    )
    op.drop_index(
        "uq_appointment_payments_live",
        table_name="appointment_payments",
        postgresql_where=sa.text("status IN ('pending', 'captured')"),
    )
    op.drop_index(op.f("ix_appointment_payments_appointment_id"), table_name="appointment_payments")
    op.drop_table("appointment_payments")
    op.drop_column("appointments", "refund_amount")
    op.drop_constraint(
        op.f("ck_organizations_platform_fee_percent_range"), "organizations", type_="check"
    )
    op.drop_column("organizations", "platform_fee_percent")
