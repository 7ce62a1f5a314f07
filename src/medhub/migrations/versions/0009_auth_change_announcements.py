"""Announce every change to login state, so API processes can cache session checks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Each API process keeps the outcome of `auth_context()` per login session in memory
# (authz/session_cache.py). These triggers make the database itself say when such an
# outcome may have changed, whatever code or SQL made the change: the payload is
# `session:<id>`, `user:<id>` or `org:<id>` on the channel `medhub_auth_changed`.
# NOTIFY is delivered at COMMIT and not at all on ROLLBACK, and PostgreSQL folds
# identical payloads of one transaction into one.
UPGRADE_SQL = r"""
CREATE FUNCTION announce_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('medhub_auth_changed', TG_ARGV[0] || ':' || OLD.id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF role, organization_id, is_active, is_verified, is_approved OR DELETE
    ON users FOR EACH ROW EXECUTE FUNCTION announce_auth_change('user');
CREATE TRIGGER organizations_auth_changed
    AFTER UPDATE OF status OR DELETE
    ON organizations FOR EACH ROW EXECUTE FUNCTION announce_auth_change('org');
CREATE TRIGGER auth_sessions_auth_changed
    AFTER UPDATE OF revoked_at, expires_at, user_id OR DELETE
    ON auth_sessions FOR EACH ROW EXECUTE FUNCTION announce_auth_change('session');

-- The same check as before, now also returning when the session expires: a cached
-- outcome must not outlive it.
DROP FUNCTION auth_context(uuid, uuid);
CREATE FUNCTION auth_context(p_session uuid, p_user uuid)
RETURNS TABLE (session_ok boolean, user_active boolean, user_verified boolean,
               user_approved boolean, org_active boolean, user_role text, user_org uuid,
               session_expires_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    u users%ROWTYPE;
    org_status text;
    live boolean;
    expires timestamptz;
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
    SELECT (s.revoked_at IS NULL AND s.expires_at > now()), s.expires_at INTO live, expires
      FROM auth_sessions s WHERE s.id = p_session AND s.user_id = p_user;
    RETURN QUERY SELECT coalesce(live, false), u.is_active, u.is_verified, u.is_approved,
                        (u.organization_id IS NULL OR org_status = 'active'), u.role::text,
                        u.organization_id, expires;
END $$;
"""

DOWNGRADE_SQL = r"""
DROP TRIGGER auth_sessions_auth_changed ON auth_sessions;
DROP TRIGGER organizations_auth_changed ON organizations;
DROP TRIGGER users_auth_changed ON users;
DROP FUNCTION announce_auth_change();

DROP FUNCTION auth_context(uuid, uuid);
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
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
