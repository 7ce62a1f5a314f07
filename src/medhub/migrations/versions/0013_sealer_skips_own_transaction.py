"""The audit sealer never seals rows of its own, still running, transaction

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A snapshot never lists its own transaction among the running ones. Once a younger
# transaction has committed, the snapshot's xmax is past this transaction's xid, so
# `pg_visible_in_snapshot()` answered true for the sealer's own rows and sealed rows
# that could still be rolled back (or followed by more rows of the same transaction).
# The sealer now also skips its own transaction by id.
FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION seal_activity_logs(p_batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET medhub.sealing = 'on'
AS $$
DECLARE
    tip activity_log_chain%ROWTYPE;
    horizon pg_snapshot;
    own_xact bigint;
    r activity_logs%ROWTYPE;
    sealed integer := 0;
BEGIN
    SELECT * INTO tip FROM activity_log_chain WHERE id FOR UPDATE;
    horizon := pg_current_snapshot();
    -- Assigned by the lock above at the latest.
    own_xact := pg_current_xact_id()::text::bigint;
    FOR r IN
        SELECT * FROM activity_logs
         WHERE chain_seq IS NULL AND prev_hash IS NULL AND row_hash IS NULL
           AND xact_id <> own_xact
           AND pg_visible_in_snapshot(xact_id::text::xid8, horizon)
         ORDER BY seq
         LIMIT p_batch
    LOOP
        r.chain_seq := tip.last_seq + 1;
        r.prev_hash := tip.last_hash;
        r.row_hash := activity_log_digest(r);
        UPDATE activity_logs
           SET chain_seq = r.chain_seq, prev_hash = r.prev_hash, row_hash = r.row_hash
         WHERE id = r.id;
        tip.last_seq := r.chain_seq;
        tip.last_hash := r.row_hash;
        sealed := sealed + 1;
    END LOOP;
    IF sealed > 0 THEN
        UPDATE activity_log_chain SET last_seq = tip.last_seq, last_hash = tip.last_hash
         WHERE id;
    END IF;
    RETURN sealed;
END $$;
"""

PREVIOUS_SQL = FUNCTION_SQL.replace("           AND xact_id <> own_xact\n", "")


def upgrade() -> None:
    op.execute(FUNCTION_SQL)


def downgrade() -> None:
    op.execute(PREVIOUS_SQL)
