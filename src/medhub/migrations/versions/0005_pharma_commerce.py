"""Pharma B2B commerce: catalog, certifications, stock log, inquiries, orders,
payments, invoices, documents and idempotency records

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 21:06:02.020403
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Human references come from sequences: unique under any concurrency, never reused
# (a rolled-back order leaves a gap rather than a duplicate) and no row lock that
# would serialise every order placed with a supplier.
SEQUENCES = ("order_number_seq", "inquiry_number_seq", "invoice_number_seq")

# Orders are seen by their buyer and by the supplier's staff; items, payments and
# invoices follow their order (the sub-select is itself filtered by the orders policy).
# The catalog, inquiries and documents are public or scoped by their services.
SECURITY_SQL = r"""
-- A buyer's order, inquiry or payment is an action on the supplier's resources and
-- belongs in the supplier's activity log, so an append may name any organization.
-- The log stays append-only (no UPDATE or DELETE policy) and readable only by the
-- organization named and the acting user.
DROP POLICY append ON activity_logs;
CREATE POLICY append ON activity_logs FOR INSERT WITH CHECK (true);

-- Distributors are members of their supplier too (for their special prices), but
-- only its admins and sales staff see the supplier's orders.
CREATE FUNCTION app_is_supplier_staff(p_supplier uuid) RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT p_supplier = app_org_id()
          AND coalesce(current_setting('app.role', true), '') IN ('admin', 'sales') $$;

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY buyer_or_supplier ON orders
    USING (app_is_system() OR user_id = app_user_id() OR app_is_supplier_staff(supplier_id))
    WITH CHECK (app_is_system() OR user_id = app_user_id() OR app_is_supplier_staff(supplier_id));

ALTER TABLE order_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY through_order ON order_items
    USING (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id))
    WITH CHECK (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id));

ALTER TABLE payments ENABLE ROW LEVEL SECURITY;
CREATE POLICY through_order ON payments
    USING (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id))
    WITH CHECK (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id));

ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY through_order ON invoices
    USING (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id))
    WITH CHECK (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id));

-- The active staff of an organization with the given roles, for flows that must
-- reach a supplier's people from a buyer's (or anonymous) request: low-stock
-- alerts, inquiry assignment. Returns ids only.
CREATE FUNCTION organization_staff(p_org uuid, p_roles text[])
RETURNS TABLE (user_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id FROM users u
     WHERE u.organization_id = p_org AND u.role = ANY (p_roles) AND u.is_active
     ORDER BY u.created_at, u.id
$$;

-- The supplier's sales user (admins when it has none) with the fewest open
-- inquiries; ties go to the longest-serving. The advisory lock makes concurrent
-- submissions for one supplier take turns, so load stays balanced.
CREATE FUNCTION inquiry_assignee(p_supplier uuid)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    chosen uuid;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('medhub.inquiry_assignee:' || p_supplier::text, 0));
    SELECT u.id INTO chosen
      FROM users u
      LEFT JOIN inquiries i ON i.assigned_to = u.id AND i.status IN ('pending', 'in_progress')
     WHERE u.organization_id = p_supplier AND u.is_active
       AND u.role = (CASE WHEN EXISTS (SELECT 1 FROM users s WHERE s.organization_id = p_supplier
                                        AND s.role = 'sales' AND s.is_active)
                          THEN 'sales' ELSE 'admin' END)
     GROUP BY u.id, u.created_at
     ORDER BY count(i.id), u.created_at, u.id
     LIMIT 1;
    RETURN chosen;
END $$;

-- An active supplier's id by slug, for anonymous flows (an inquiry to the default
-- supplier) that must not widen their context to read organizations.
CREATE FUNCTION active_supplier_id(p_slug text)
RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id FROM organizations WHERE slug = p_slug AND kind = 'supplier' AND status = 'active'
$$;

REVOKE EXECUTE ON FUNCTION active_supplier_id(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION organization_staff(uuid, text[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION inquiry_assignee(uuid) FROM PUBLIC;
"""

DROP_SECURITY_SQL = r"""
DROP POLICY append ON activity_logs;
CREATE POLICY append ON activity_logs FOR INSERT
    WITH CHECK (app_is_system() OR organization_id IS NULL OR organization_id = app_org_id());
DROP FUNCTION IF EXISTS active_supplier_id(text);
DROP FUNCTION IF EXISTS app_is_supplier_staff(uuid);
DROP FUNCTION IF EXISTS inquiry_assignee(uuid);
DROP FUNCTION IF EXISTS organization_staff(uuid, text[]);
"""

# A fresh install sells from one default supplier, in the seed's four categories.
DEFAULT_DATA_SQL = r"""
INSERT INTO organizations (id, name, slug, kind, status, settings)
VALUES ('00000000-0000-7000-8000-000000000001', 'MedPharm Solutions', 'medpharm',
        'supplier', 'active', '{"default_supplier": true}')
ON CONFLICT (slug) DO NOTHING;

INSERT INTO product_categories (id, slug, name, description) VALUES
 ('00000000-0000-7000-8000-0000000000c1', 'cardiovascular', 'Cardiovascular',
  'Hypertension, angina, heart failure and lipid disorders'),
 ('00000000-0000-7000-8000-0000000000c2', 'antibiotics', 'Antibiotics',
  'Antibacterial agents'),
 ('00000000-0000-7000-8000-0000000000c3', 'diabetes', 'Diabetes',
  'Insulins and oral antidiabetics'),
 ('00000000-0000-7000-8000-0000000000c4', 'oncology', 'Oncology',
  'Cancer therapies and supportive care')
ON CONFLICT (slug) DO NOTHING;
"""


def upgrade() -> None:
    for sequence in SEQUENCES:
        op.execute(f"CREATE SEQUENCE {sequence}")
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "idempotency_records",
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("endpoint", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("owner", "endpoint", "key", name=op.f("pk_idempotency_records")),
    )
    op.create_index(
        op.f("ix_idempotency_records_created_at"),
        "idempotency_records",
        ["created_at"],
        unique=False,
    )
    op.create_table(
        "payment_webhook_events",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_payment_webhook_events")),
    )
    op.create_table(
        "product_categories",
        sa.Column("slug", postgresql.CITEXT(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_product_categories_slug")),
    )
    op.create_table(
        "products",
        sa.Column("supplier_id", sa.Uuid(), nullable=False),
        sa.Column("category", postgresql.CITEXT(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("dosage", sa.String(length=100), nullable=False),
        sa.Column("packaging", sa.String(length=255), nullable=False),
        sa.Column("indication", sa.Text(), nullable=False),
        sa.Column("manufacturer_code", postgresql.CITEXT(), nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("distributor_price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("stock_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reserved_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("min_order_quantity", sa.Integer(), server_default="1", nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "low_stock_alerted", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('english', coalesce(name, '')), 'A') || setweight(to_tsvector('english', coalesce(indication, '')), 'B') || setweight(to_tsvector('english', coalesce(description, '')), 'C') || setweight(to_tsvector('simple', coalesce(manufacturer_code, '')), 'A')",
                persisted=True,
            ),
            nullable=False,
        ),
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
            "distributor_price IS NULL OR distributor_price >= 0",
            name=op.f("ck_products_distributor_price_not_negative"),
        ),
        sa.CheckConstraint(
            "low_stock_threshold >= 0", name=op.f("ck_products_threshold_not_negative")
        ),
        sa.CheckConstraint("min_order_quantity >= 1", name=op.f("ck_products_min_order_positive")),
        sa.CheckConstraint(
            "price IS NULL OR price >= 0", name=op.f("ck_products_price_not_negative")
        ),
        sa.CheckConstraint(
            "reserved_quantity <= stock_quantity", name=op.f("ck_products_no_oversell")
        ),
        sa.CheckConstraint(
            "reserved_quantity >= 0", name=op.f("ck_products_reserved_not_negative")
        ),
        sa.CheckConstraint("stock_quantity >= 0", name=op.f("ck_products_stock_not_negative")),
        sa.ForeignKeyConstraint(
            ["category"],
            ["product_categories.slug"],
            name=op.f("fk_products_category_product_categories"),
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["organizations.id"],
            name=op.f("fk_products_supplier_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("manufacturer_code", name=op.f("uq_products_manufacturer_code")),
    )
    op.create_index(
        "ix_products_active_category_name",
        "products",
        ["is_active", "category", "name"],
        unique=False,
    )
    op.create_index(
        "ix_products_active_created", "products", ["is_active", "created_at"], unique=False
    )
    op.create_index("ix_products_active_price", "products", ["is_active", "price"], unique=False)
    op.create_index(
        "ix_products_name_trgm",
        "products",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_products_search", "products", ["search_vector"], unique=False, postgresql_using="gin"
    )
    op.create_index(op.f("ix_products_supplier_id"), "products", ["supplier_id"], unique=False)
    op.create_table(
        "documents",
        sa.Column("entity_type", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("document_type", sa.String(length=100), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("storage_backend", sa.String(length=20), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "document_type IN ('certificate', 'invoice', 'specification', 'datasheet', 'shipping_doc', 'other')",
            name=op.f("ck_documents_document_type"),
        ),
        sa.CheckConstraint(
            "entity_type IN ('product', 'order', 'certification')",
            name=op.f("ck_documents_entity_type"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_documents_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_documents_storage_key")),
    )
    op.create_index("ix_documents_document_type", "documents", ["document_type"], unique=False)
    op.create_index(
        "ix_documents_entity", "documents", ["entity_type", "entity_id", "created_at"], unique=False
    )
    op.create_table(
        "product_certifications",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("certification_type", sa.String(length=50), nullable=False),
        sa.Column("certificate_number", sa.String(length=255), nullable=True),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("certificate_url", sa.String(length=500), nullable=True),
        sa.Column("expiry_notice_days", sa.Integer(), nullable=True),
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
            "certification_type IN ('FDA', 'WHO-GMP', 'ISO', 'EMA')",
            name=op.f("ck_product_certifications_type"),
        ),
        sa.CheckConstraint(
            "issue_date < expiry_date", name=op.f("ck_product_certifications_issued_before_expiry")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_certifications_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_certifications")),
    )
    op.create_index(
        op.f("ix_product_certifications_certification_type"),
        "product_certifications",
        ["certification_type"],
        unique=False,
    )
    op.create_index(
        "ix_product_certifications_expiry", "product_certifications", ["expiry_date"], unique=False
    )
    op.create_index(
        op.f("ix_product_certifications_product_id"),
        "product_certifications",
        ["product_id"],
        unique=False,
    )
    op.create_table(
        "orders",
        sa.Column("order_number", sa.String(length=50), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("buyer_organization_id", sa.Uuid(), nullable=True),
        sa.Column("supplier_id", sa.Uuid(), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pricing_tier", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_status", sa.String(length=20), nullable=False),
        sa.Column("payment_provider", sa.String(length=20), nullable=False),
        sa.Column("shipping_address_id", sa.Uuid(), nullable=True),
        sa.Column("billing_address_id", sa.Uuid(), nullable=True),
        sa.Column("shipping_address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("billing_address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("cancel_reason", sa.String(length=255), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
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
            "payment_status IN ('pending', 'paid', 'failed', 'refunded')",
            name=op.f("ck_orders_payment_status"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'processing', 'shipped', 'delivered', 'cancelled')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint("total_amount >= 0", name=op.f("ck_orders_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["billing_address_id"],
            ["addresses.id"],
            name=op.f("fk_orders_billing_address_id_addresses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["buyer_organization_id"],
            ["organizations.id"],
            name=op.f("fk_orders_buyer_organization_id_organizations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shipping_address_id"],
            ["addresses.id"],
            name=op.f("fk_orders_shipping_address_id_addresses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["organizations.id"],
            name=op.f("fk_orders_supplier_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_number", name=op.f("uq_orders_order_number")),
    )
    op.create_index(op.f("ix_orders_status"), "orders", ["status"], unique=False)
    op.create_index(
        "ix_orders_supplier_created", "orders", ["supplier_id", "created_at"], unique=False
    )
    op.create_index("ix_orders_supplier_status", "orders", ["supplier_id", "status"], unique=False)
    op.create_index(
        "ix_orders_unpaid_expiry",
        "orders",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending' AND payment_status = 'pending'"),
    )
    op.create_index("ix_orders_user_created", "orders", ["user_id", "created_at"], unique=False)
    op.create_table(
        "inquiries",
        sa.Column("reference_number", sa.String(length=50), nullable=False),
        sa.Column("supplier_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", postgresql.CITEXT(), nullable=False),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("assigned_to", sa.Uuid(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
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
            "priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_inquiries_priority")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'resolved', 'closed')",
            name=op.f("ck_inquiries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to"],
            ["users.id"],
            name=op.f("fk_inquiries_assigned_to_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_inquiries_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_inquiries_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"],
            ["organizations.id"],
            name=op.f("fk_inquiries_supplier_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_inquiries_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
        sa.UniqueConstraint("reference_number", name=op.f("uq_inquiries_reference_number")),
    )
    op.create_index(
        "ix_inquiries_assigned_status", "inquiries", ["assigned_to", "status"], unique=False
    )
    op.create_index(
        "ix_inquiries_supplier_status",
        "inquiries",
        ["supplier_id", "status", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_inquiries_user_created", "inquiries", ["user_id", "created_at"], unique=False
    )
    op.create_table(
        "invoices",
        sa.Column("invoice_number", sa.String(length=50), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_invoices_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_invoices_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("invoice_number", name=op.f("uq_invoices_invoice_number")),
        sa.UniqueConstraint("order_id", name=op.f("uq_invoices_order_id")),
    )
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True),
        sa.Column("product_name", sa.String(length=255), nullable=False),
        sa.Column("manufacturer_code", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_items_quantity_positive")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_order_items_unit_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_order_items_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    op.create_index(op.f("ix_order_items_order_id"), "order_items", ["order_id"], unique=False)
    op.create_index(op.f("ix_order_items_product_id"), "order_items", ["product_id"], unique=False)
    op.create_table(
        "payments",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider_reference", sa.String(length=255), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("refund_reference", sa.String(length=255), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
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
        sa.CheckConstraint("provider IN ('manual', 'stripe')", name=op.f("ck_payments_provider")),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'refunded')",
            name=op.f("ck_payments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_payments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_payments_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_order_id"), "payments", ["order_id"], unique=False)
    op.create_index(
        "uq_payments_provider_reference",
        "payments",
        ["provider", "provider_reference"],
        unique=True,
        postgresql_where=sa.text("provider_reference IS NOT NULL"),
    )
    op.create_table(
        "stock_movements",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("reserved_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('adjustment', 'reservation', 'release', 'fulfilment')",
            name=op.f("ck_stock_movements_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_stock_movements_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_stock_movements_order_id_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_stock_movements_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    op.create_index(
        op.f("ix_stock_movements_order_id"), "stock_movements", ["order_id"], unique=False
    )
    op.create_index(
        "ix_stock_movements_product_created",
        "stock_movements",
        ["product_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "inquiry_messages",
        sa.Column("inquiry_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("kind IN ('response', 'note')", name=op.f("ck_inquiry_messages_kind")),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_inquiry_messages_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inquiry_id"],
            ["inquiries.id"],
            name=op.f("fk_inquiry_messages_inquiry_id_inquiries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_messages")),
    )
    op.create_index(
        "ix_inquiry_messages_inquiry_created",
        "inquiry_messages",
        ["inquiry_id", "created_at"],
        unique=False,
    )
    op.execute(SECURITY_SQL)
    op.execute(DEFAULT_DATA_SQL)
    # ### end Alembic commands ###


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index("ix_inquiry_messages_inquiry_created", table_name="inquiry_messages")
    op.drop_table("inquiry_messages")
    op.drop_index("ix_stock_movements_product_created", table_name="stock_movements")
    op.drop_index(op.f("ix_stock_movements_order_id"), table_name="stock_movements")
    op.drop_table("stock_movements")
    op.drop_index(
        "uq_payments_provider_reference",
        table_name="payments",
        postgresql_where=sa.text("provider_reference IS NOT NULL"),
    )
    op.drop_index(op.f("ix_payments_order_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_order_items_product_id"), table_name="order_items")
    op.drop_index(op.f("ix_order_items_order_id"), table_name="order_items")
    op.drop_table("order_items")
    op.drop_table("invoices")
    op.drop_index("ix_inquiries_user_created", table_name="inquiries")
    op.drop_index("ix_inquiries_supplier_status", table_name="inquiries")
    op.drop_index("ix_inquiries_assigned_status", table_name="inquiries")
    op.drop_table("inquiries")
    op.drop_index("ix_orders_user_created", table_name="orders")
    op.drop_index(
        "ix_orders_unpaid_expiry",
        table_name="orders",
        postgresql_where=sa.text("status = 'pending' AND payment_status = 'pending'"),
    )
    op.drop_index("ix_orders_supplier_status", table_name="orders")
    op.drop_index("ix_orders_supplier_created", table_name="orders")
    op.drop_index(op.f("ix_orders_status"), table_name="orders")
    op.drop_table("orders")
    op.drop_index(op.f("ix_product_certifications_product_id"), table_name="product_certifications")
    op.drop_index("ix_product_certifications_expiry", table_name="product_certifications")
    op.drop_index(
        op.f("ix_product_certifications_certification_type"), table_name="product_certifications"
    )
    op.drop_table("product_certifications")
    op.drop_index("ix_documents_entity", table_name="documents")
    op.drop_index("ix_documents_document_type", table_name="documents")
    op.drop_table("documents")
    op.drop_index(op.f("ix_products_supplier_id"), table_name="products")
    op.drop_index("ix_products_search", table_name="products", postgresql_using="gin")
    op.drop_index(
        "ix_products_name_trgm",
        table_name="products",
        postgresql_using="gin",
        postgresql_ops={"name": "gin_trgm_ops"},
    )
    op.drop_index("ix_products_active_price", table_name="products")
    op.drop_index("ix_products_active_created", table_name="products")
    op.drop_index("ix_products_active_category_name", table_name="products")
    op.drop_table("products")
    op.drop_table("product_categories")
    op.drop_table("payment_webhook_events")
    op.drop_index(op.f("ix_idempotency_records_created_at"), table_name="idempotency_records")
    op.drop_table("idempotency_records")
    # ### end Alembic commands ###
    for sequence in SEQUENCES:
        op.execute(f"DROP SEQUENCE IF EXISTS {sequence}")
