"""Patient charts: the two reads that cross tenants on purpose (the verified patient
account behind an email, the organizations holding a patient's charts)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A chart created with the email of a verified `patient` account is linked to it. The
# staff creating it cannot see that account (users are their organization's, or their
# own): the function below answers for one exact address, only for active, verified
# patient accounts, and only their id, name and address, so the caller's context is
# never widened (like notification_recipient() of 0004).
#
# A patient sees the charts linked to them (0014's policy) but not the organizations
# holding them. The view, owned by the schema owner and therefore not held by
# row-level security (like the public views of 0011), shows the names of exactly those
# organizations, for the account in the transaction's context and nobody else.
SECURITY_SQL = r"""
CREATE FUNCTION verified_patient_account(p_email text)
RETURNS TABLE (id uuid, full_name text, email text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.id, u.full_name, u.email::text
      FROM users u
     WHERE u.email = p_email::citext
       AND u.role = 'patient' AND u.is_verified AND u.is_active
$$;
REVOKE EXECUTE ON FUNCTION verified_patient_account(text) FROM PUBLIC;

CREATE VIEW own_patient_charts WITH (security_barrier = true) AS
SELECT p.id AS patient_id, p.organization_id, o.name AS organization_name, p.mrn
  FROM patients p
  JOIN organizations o ON o.id = p.organization_id
 WHERE p.user_id = app_user_id() AND p.deleted_at IS NULL;
"""

DROP_SECURITY_SQL = r"""
DROP VIEW IF EXISTS own_patient_charts;
DROP FUNCTION IF EXISTS verified_patient_account(text);
"""


def upgrade() -> None:
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
