"""Pharmacy stock: per-product stock rows, batches with expiry, movements and reorders,
under row-level security; the function that claims a delivered reorder once

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Every row is its organization's (the pharmacy, hospital or clinic keeping the stock).
#
# A reorder is stocked when the supplier's staff mark its order delivered, in their own
# context, which sees none of the pharmacy's rows. `claim_delivered_reorder()` is the
# one step they need across tenants: it marks the reorder of an order that really is
# delivered as received (once: only while `received_at` is NULL) and says which
# organization it restocks; nothing else of that organization is read or returned.
SECURITY_SQL = r"""
ALTER TABLE pharmacy_stock ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pharmacy_stock
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE pharmacy_batches ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pharmacy_batches
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE pharmacy_stock_movements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pharmacy_stock_movements
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE pharmacy_reorders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pharmacy_reorders
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

CREATE FUNCTION claim_delivered_reorder(p_order uuid) RETURNS uuid
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE pharmacy_reorders r SET received_at = now()
     WHERE r.order_id = p_order
       AND r.received_at IS NULL
       AND EXISTS (SELECT 1 FROM orders o WHERE o.id = p_order AND o.status = 'delivered')
    RETURNING r.organization_id
$$;

REVOKE EXECUTE ON FUNCTION claim_delivered_reorder(uuid) FROM PUBLIC;
"""

DROP_SECURITY_SQL = r"""
DROP FUNCTION IF EXISTS claim_delivered_reorder(uuid);
"""


def _timestamps() -> list[sa.Column[Any]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "pharmacy_stock",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("reorder_point", sa.Integer(), server_default="0", nullable=False),
        sa.Column("on_hand", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "low_stock_alerted", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_pharmacy_stock_on_hand_not_negative")),
        sa.CheckConstraint(
            "reorder_point >= 0", name=op.f("ck_pharmacy_stock_reorder_point_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pharmacy_stock_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_pharmacy_stock_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pharmacy_stock")),
        sa.UniqueConstraint("organization_id", "product_id", name="uq_pharmacy_stock_product"),
    )
    op.create_index("ix_pharmacy_stock_product_id", "pharmacy_stock", ["product_id"], unique=False)

    op.create_table(
        "pharmacy_batches",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("batch_number", sa.String(length=100), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("received_quantity", sa.Integer(), nullable=False),
        sa.Column("remaining_quantity", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("source_order_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "remaining_quantity >= 0", name=op.f("ck_pharmacy_batches_remaining_not_negative")
        ),
        sa.CheckConstraint(
            "received_quantity > 0", name=op.f("ck_pharmacy_batches_received_positive")
        ),
        sa.CheckConstraint(
            "unit_cost IS NULL OR unit_cost >= 0",
            name=op.f("ck_pharmacy_batches_unit_cost_not_negative"),
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_pharmacy_batches_currency_code")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pharmacy_batches_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_pharmacy_batches_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["source_order_id"],
            ["orders.id"],
            name=op.f("fk_pharmacy_batches_source_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pharmacy_batches")),
        sa.UniqueConstraint(
            "organization_id", "product_id", "batch_number", name="uq_pharmacy_batches_number"
        ),
    )
    op.create_index(
        "ix_pharmacy_batches_fefo",
        "pharmacy_batches",
        ["organization_id", "product_id", "expiry_date"],
        unique=False,
        postgresql_where=sa.text("remaining_quantity > 0"),
    )
    op.create_index(
        "ix_pharmacy_batches_expiry",
        "pharmacy_batches",
        ["organization_id", "expiry_date"],
        unique=False,
        postgresql_where=sa.text("remaining_quantity > 0"),
    )

    op.create_table(
        "pharmacy_stock_movements",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("quantity_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("dispensation_id", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('received', 'adjusted', 'dispensed', 'restocked')",
            name=op.f("ck_pharmacy_stock_movements_kind"),
        ),
        sa.CheckConstraint(
            "quantity <> 0", name=op.f("ck_pharmacy_stock_movements_quantity_not_zero")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_pharmacy_stock_movements_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["pharmacy_batches.id"],
            name=op.f("fk_pharmacy_stock_movements_batch_id_pharmacy_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_pharmacy_stock_movements_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pharmacy_stock_movements_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_pharmacy_stock_movements_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pharmacy_stock_movements")),
    )
    op.create_index(
        op.f("ix_pharmacy_stock_movements_batch_id"),
        "pharmacy_stock_movements",
        ["batch_id"],
        unique=False,
    )
    op.create_index(
        "ix_pharmacy_stock_movements_dispensation_id",
        "pharmacy_stock_movements",
        ["dispensation_id"],
        unique=False,
    )
    op.create_index(
        "ix_pharmacy_stock_movements_product_created",
        "pharmacy_stock_movements",
        ["organization_id", "product_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "pharmacy_reorders",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("ordered_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_pharmacy_reorders_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ordered_by"],
            ["users.id"],
            name=op.f("fk_pharmacy_reorders_ordered_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_pharmacy_reorders_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pharmacy_reorders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_pharmacy_reorders_order_id")),
    )
    op.create_index(
        "ix_pharmacy_reorders_organization_created",
        "pharmacy_reorders",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_table("pharmacy_reorders")
    op.drop_table("pharmacy_stock_movements")
    op.drop_table("pharmacy_batches")
    op.drop_table("pharmacy_stock")
