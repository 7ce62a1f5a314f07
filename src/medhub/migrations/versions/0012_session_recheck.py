"""Re-check a cached login session in the statement that sets the tenant context

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 11:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A process that reuses a session check from memory (authz/session_cache.py) asks the
# database once more, at no extra round trip: this function runs in the same SELECT
# that sets the transaction's tenant context. It answers whether the session is still
# live and the account still has the role, tenant and flags the process used to
# authorise the request; if not, the request fails before its first query. SECURITY
# DEFINER: it must not depend on the context being set in the same statement.
UPGRADE_SQL = r"""
CREATE FUNCTION session_still_valid(p_session uuid, p_user uuid, p_role text, p_org uuid,
                                    p_verified boolean, p_approved boolean)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1
          FROM auth_sessions s
          JOIN users u ON u.id = s.user_id
          LEFT JOIN organizations o ON o.id = u.organization_id
         WHERE s.id = p_session AND s.user_id = p_user
           AND s.revoked_at IS NULL AND s.expires_at > now()
           AND u.is_active AND u.role = p_role
           AND u.organization_id IS NOT DISTINCT FROM p_org
           AND u.is_verified = p_verified AND u.is_approved = p_approved
           AND (u.organization_id IS NULL OR o.status = 'active'))
$$;
"""

DOWNGRADE_SQL = r"""
DROP FUNCTION session_still_valid(uuid, uuid, text, uuid, boolean, boolean);
"""


def upgrade() -> None:
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
