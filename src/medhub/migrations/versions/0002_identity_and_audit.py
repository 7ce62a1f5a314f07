"""Identity, tenants and the audit trail, with row-level security.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 18:50:53.678824
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Tenant context lives in transaction-local settings (set_config(..., true)), so it
# can never leak from one request to the next through a pooled connection. No
# context means no rows: every policy fails closed.
SECURITY_SQL = r"""
CREATE FUNCTION app_org_id() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
CREATE FUNCTION app_user_id() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
CREATE FUNCTION app_is_system() RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT coalesce(current_setting('app.system', true), '') = 'on' $$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
    USING (app_is_system() OR id = app_org_id())
    WITH CHECK (app_is_system() OR id = app_org_id());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (app_is_system() OR id = app_user_id()
           OR (organization_id IS NOT NULL AND organization_id = app_org_id()))
    WITH CHECK (app_is_system() OR id = app_user_id()
           OR (organization_id IS NOT NULL AND organization_id = app_org_id()));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (app_is_system() OR organization_id = app_org_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id());

ALTER TABLE addresses ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON addresses
    USING (app_is_system() OR user_id = app_user_id())
    WITH CHECK (app_is_system() OR user_id = app_user_id());

ALTER TABLE activity_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_read ON activity_logs FOR SELECT
    USING (app_is_system() OR organization_id = app_org_id() OR user_id = app_user_id());
CREATE POLICY append ON activity_logs FOR INSERT
    WITH CHECK (app_is_system() OR organization_id IS NULL OR organization_id = app_org_id());

-- Authenticate one request and set its tenant context in one round trip. Role and
-- organization come from the database, not the token, so a change applies at once.
CREATE FUNCTION auth_context(p_session uuid, p_user uuid)
RETURNS TABLE (session_ok boolean, user_active boolean, user_verified boolean,
               user_approved boolean, org_active boolean, user_role text, user_org uuid)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    org_status text;
    live boolean;
BEGIN
    PERFORM set_config('app.user_id', p_user::text, true);
    PERFORM set_config('app.system', '', true);
    SELECT * INTO u FROM users WHERE id = p_user;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', coalesce(u.organization_id::text, ''), true);
    PERFORM set_config('app.role', u.role, true);
    IF u.role = 'super_admin' THEN
        PERFORM set_config('app.system', 'on', true);
    END IF;
    SELECT o.status INTO org_status FROM organizations o WHERE o.id = u.organization_id;
    SELECT (s.revoked_at IS NULL AND s.expires_at > now()) INTO live
      FROM auth_sessions s WHERE s.id = p_session AND s.user_id = p_user;
    RETURN QUERY SELECT coalesce(live, false), u.is_active, u.is_verified, u.is_approved,
                        (u.organization_id IS NULL OR org_status = 'active'), u.role::text,
                        u.organization_id;
END $$;

-- Authenticate an API key by its digest and set the tenant context of its organization.
CREATE FUNCTION api_key_context(p_hash text)
RETURNS TABLE (key_id uuid, key_role text, key_org uuid, org_active boolean,
               last_used_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    k api_keys%ROWTYPE;
    found_key boolean;
    org_status text;
BEGIN
    PERFORM set_config('app.system', 'on', true);
    SELECT * INTO k FROM api_keys WHERE key_hash = p_hash AND revoked_at IS NULL;
    found_key := FOUND;
    PERFORM set_config('app.system', '', true);
    IF NOT found_key THEN
        RETURN;
    END IF;
    PERFORM set_config('app.user_id', '', true);
    PERFORM set_config('app.org_id', k.organization_id::text, true);
    PERFORM set_config('app.role', k.role, true);
    SELECT o.status INTO org_status FROM organizations o WHERE o.id = k.organization_id;
    RETURN QUERY SELECT k.id, k.role::text, k.organization_id,
                        coalesce(org_status = 'active', false), k.last_used_at;
END $$;

-- The audit chain: each row hashes its canonical content plus the previous row's
-- hash. The tip row is locked for the rest of the inserting transaction, so rows
-- enter the chain in commit order; seq is assigned here for the same reason.
CREATE TABLE activity_log_chain (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_seq bigint NOT NULL,
    last_hash text NOT NULL
);
INSERT INTO activity_log_chain VALUES (true, 0, '');

CREATE FUNCTION activity_log_digest(r activity_logs) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
        r.seq, r.id, r.organization_id, r.user_id, r.action, r.entity_type, r.entity_id,
        r.ip_address, r.user_agent, r.metadata,
        to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.prev_hash)::text, 'UTF8')), 'hex')
$$;

CREATE FUNCTION activity_logs_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tip activity_log_chain%ROWTYPE;
BEGIN
    SELECT * INTO tip FROM activity_log_chain WHERE id FOR UPDATE;
    NEW.seq := tip.last_seq + 1;
    NEW.prev_hash := tip.last_hash;
    NEW.row_hash := activity_log_digest(NEW);
    UPDATE activity_log_chain SET last_seq = NEW.seq, last_hash = NEW.row_hash WHERE id;
    RETURN NEW;
END $$;

CREATE FUNCTION activity_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'activity_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER activity_logs_chain BEFORE INSERT ON activity_logs
    FOR EACH ROW EXECUTE FUNCTION activity_logs_chain();
CREATE TRIGGER activity_logs_append_only BEFORE UPDATE OR DELETE ON activity_logs
    FOR EACH ROW EXECUTE FUNCTION activity_logs_append_only();
CREATE TRIGGER activity_logs_no_truncate BEFORE TRUNCATE ON activity_logs
    FOR EACH STATEMENT EXECUTE FUNCTION activity_logs_append_only();
"""

DROP_SECURITY_SQL = r"""
DROP TRIGGER IF EXISTS activity_logs_no_truncate ON activity_logs;
DROP TRIGGER IF EXISTS activity_logs_append_only ON activity_logs;
DROP TRIGGER IF EXISTS activity_logs_chain ON activity_logs;
DROP FUNCTION IF EXISTS activity_logs_append_only();
DROP FUNCTION IF EXISTS activity_logs_chain();
DROP FUNCTION IF EXISTS activity_log_digest(activity_logs);
DROP TABLE IF EXISTS activity_log_chain;
DROP FUNCTION IF EXISTS api_key_context(text);
DROP FUNCTION IF EXISTS auth_context(uuid, uuid);
DROP FUNCTION IF EXISTS app_is_system();
DROP FUNCTION IF EXISTS app_user_id();
DROP FUNCTION IF EXISTS app_org_id();
"""


def upgrade() -> None:
    op.create_table(
        "activity_logs",
        sa.Column("seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=50), nullable=True),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), server_default="", nullable=False),
        sa.Column("row_hash", sa.String(length=64), server_default="", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_logs")),
        sa.UniqueConstraint("seq", name=op.f("uq_activity_logs_seq")),
    )
    op.create_index("ix_activity_logs_action", "activity_logs", ["action"], unique=False)
    op.create_index("ix_activity_logs_created", "activity_logs", ["created_at"], unique=False)
    op.create_index(
        "ix_activity_logs_entity", "activity_logs", ["entity_type", "entity_id"], unique=False
    )
    op.create_index(
        "ix_activity_logs_org_created",
        "activity_logs",
        ["organization_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_activity_logs_user_created", "activity_logs", ["user_id", "created_at"], unique=False
    )
    op.create_table(
        "organizations",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("slug", postgresql.CITEXT(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "settings", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
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
            "kind IN ('hospital', 'clinic', 'pharmacy', 'supplier')",
            name=op.f("ck_organizations_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'suspended', 'deleted')", name=op.f("ck_organizations_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_table(
        "users",
        sa.Column("email", postgresql.CITEXT(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("company_name", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_approved", sa.Boolean(), nullable=False),
        sa.Column("failed_login_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
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
            "role IN ('super_admin', 'admin', 'sales', 'customer', 'distributor', 'doctor', 'pharmacist', 'patient')",
            name=op.f("ck_users_role"),
        ),
        sa.CheckConstraint(
            "role NOT IN ('admin', 'sales', 'pharmacist') OR organization_id IS NOT NULL",
            name=op.f("ck_users_staff_have_organization"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_users_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_index(
        "ix_users_organization_role", "users", ["organization_id", "role"], unique=False
    )
    op.create_table(
        "addresses",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("address_type", sa.String(length=20), nullable=False),
        sa.Column("street_address", sa.String(length=500), nullable=False),
        sa.Column("city", sa.String(length=255), nullable=False),
        sa.Column("state_province", sa.String(length=255), nullable=True),
        sa.Column("postal_code", sa.String(length=50), nullable=False),
        sa.Column("country", sa.String(length=100), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
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
            "address_type IN ('shipping', 'billing')", name=op.f("ck_addresses_address_type")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_addresses_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(op.f("ix_addresses_user_id"), "addresses", ["user_id"], unique=False)
    op.create_index(
        "uq_addresses_default_per_type",
        "addresses",
        ["user_id", "address_type"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "api_keys",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "role IN ('super_admin', 'admin', 'sales', 'customer', 'distributor', 'doctor', 'pharmacist', 'patient')",
            name=op.f("ck_api_keys_role"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_api_keys_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(
        op.f("ix_api_keys_organization_id"), "api_keys", ["organization_id"], unique=False
    )
    op.create_table(
        "auth_sessions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "last_used_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=50), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("uses_cookies", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )
    op.create_index(
        "ix_auth_sessions_user", "auth_sessions", ["user_id", "revoked_at"], unique=False
    )
    op.create_table(
        "one_time_tokens",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=50), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_one_time_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_one_time_tokens_token_hash")),
    )
    op.create_index(
        "ix_one_time_tokens_user_purpose", "one_time_tokens", ["user_id", "purpose"], unique=False
    )
    op.create_table(
        "password_history",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_password_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    op.create_index(
        "ix_password_history_user_created",
        "password_history",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_session_id"), "refresh_tokens", ["session_id"], unique=False
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_index(op.f("ix_refresh_tokens_session_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_password_history_user_created", table_name="password_history")
    op.drop_table("password_history")
    op.drop_index("ix_one_time_tokens_user_purpose", table_name="one_time_tokens")
    op.drop_table("one_time_tokens")
    op.drop_index("ix_auth_sessions_user", table_name="auth_sessions")
    op.drop_table("auth_sessions")
    op.drop_index(op.f("ix_api_keys_organization_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index(
        "uq_addresses_default_per_type",
        table_name="addresses",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_index(op.f("ix_addresses_user_id"), table_name="addresses")
    op.drop_table("addresses")
    op.drop_index("ix_users_organization_role", table_name="users")
    op.drop_table("users")
    op.drop_table("organizations")
    op.drop_index("ix_activity_logs_user_created", table_name="activity_logs")
    op.drop_index("ix_activity_logs_org_created", table_name="activity_logs")
    op.drop_index("ix_activity_logs_entity", table_name="activity_logs")
    op.drop_index("ix_activity_logs_created", table_name="activity_logs")
    op.drop_index("ix_activity_logs_action", table_name="activity_logs")
    op.drop_table("activity_logs")
