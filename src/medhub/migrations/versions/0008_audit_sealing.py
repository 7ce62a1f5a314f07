"""The audit chain without a global lock: rows are appended unsealed and a sealer
extends the hash chain in batches

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Before: the insert trigger locked the chain tip until COMMIT, so every audited write
# of the platform waited for the one before it. Now an insert touches no shared row:
# it takes a number from a sequence (`seq`, insertion order) and records its
# transaction (`xact_id`), and the row is left unsealed (chain columns NULL). The
# sealer, `seal_activity_logs()`, holds the tip lock only for one short batch.
UPGRADE_SQL = r"""
CREATE SEQUENCE activity_log_seq OWNED BY activity_logs.seq;
SELECT setval('activity_log_seq', max(seq)) FROM activity_logs HAVING max(seq) > 0;

-- The digest covers the chain position (`chain_seq`), not the insertion number. Rows
-- chained before this migration have chain_seq = seq, so their hashes are unchanged.
CREATE OR REPLACE FUNCTION activity_log_digest(r activity_logs) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
        r.chain_seq, r.id, r.organization_id, r.user_id, r.action, r.entity_type, r.entity_id,
        r.ip_address, r.user_agent, r.metadata,
        to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.prev_hash)::text, 'UTF8')), 'hex')
$$;

-- Whatever the inserter sent, a new row gets its number and transaction and starts
-- unsealed: nobody can append a row that claims a place in the chain.
CREATE OR REPLACE FUNCTION activity_logs_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    NEW.seq := nextval('activity_log_seq');
    NEW.xact_id := pg_current_xact_id()::text::bigint;
    NEW.chain_seq := NULL;
    NEW.prev_hash := NULL;
    NEW.row_hash := NULL;
    RETURN NEW;
END $$;

-- Still append-only. The one UPDATE let through is sealing: inside
-- seal_activity_logs() (its `SET medhub.sealing` clause, undone when it returns; and
-- current_user is then the table's owner, which an application role calling UPDATE
-- itself is not), filling the NULL chain columns of an unsealed row with a hash that
-- matches its content, and changing nothing else.
CREATE OR REPLACE FUNCTION activity_logs_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    chain_columns CONSTANT text[] := ARRAY['chain_seq', 'prev_hash', 'row_hash'];
BEGIN
    IF TG_OP = 'UPDATE' AND TG_LEVEL = 'ROW'
       AND current_setting('medhub.sealing', true) = 'on'
       AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = TG_RELID)
    THEN
        IF num_nulls(OLD.chain_seq, OLD.prev_hash, OLD.row_hash) = 3
           AND num_nonnulls(NEW.chain_seq, NEW.prev_hash, NEW.row_hash) = 3
           AND to_jsonb(NEW) - chain_columns = to_jsonb(OLD) - chain_columns
           AND NEW.row_hash = activity_log_digest(NEW)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'activity_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Extend the chain by up to p_batch rows; returns how many were sealed.
--
-- Only rows whose inserting transaction is certainly over are taken: those the
-- snapshot, taken once the tip is ours, counts as completed (every xid below its xmin,
-- and the ones above it no longer running). Such a transaction can add no more rows,
-- and a committed one's rows are visible to the later snapshot of the scan. Rows of a
-- transaction still running (this one's own included) wait for a later run, so chain
-- order is sealing order: a row that commits late is chained after rows numbered
-- above it. Unlike xmin alone, this does not stall behind one long transaction
-- elsewhere in the cluster (xids and snapshots span every database of the server).
-- The tip lock serialises sealers and is held for this batch only. Call it in READ
-- COMMITTED: each statement below then sees what the sealer before it committed.
CREATE FUNCTION seal_activity_logs(p_batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp
SET medhub.sealing = 'on'
AS $$
DECLARE
    tip activity_log_chain%ROWTYPE;
    horizon pg_snapshot;
    r activity_logs%ROWTYPE;
    sealed integer := 0;
BEGIN
    SELECT * INTO tip FROM activity_log_chain WHERE id FOR UPDATE;
    horizon := pg_current_snapshot();
    FOR r IN
        SELECT * FROM activity_logs
         WHERE chain_seq IS NULL AND prev_hash IS NULL AND row_hash IS NULL
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

# Back to one chain in `seq` order: every finished row is sealed first, then `seq`
# takes the chain position, under which the old digest (over `seq`) gives the very
# hashes the new one (over `chain_seq`) gave.
DOWNGRADE_SQL = r"""
SELECT seal_activity_logs(2147483647);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM activity_logs WHERE chain_seq IS NULL) THEN
        RAISE EXCEPTION 'activity_logs has rows of transactions still running; '
                        'downgrade once they have finished';
    END IF;
END $$;
DROP FUNCTION seal_activity_logs(integer);

ALTER TABLE activity_logs DISABLE TRIGGER activity_logs_append_only;
-- Two steps: a permutation in one UPDATE would trip the unique constraint on seq.
UPDATE activity_logs SET seq = -chain_seq;
UPDATE activity_logs SET seq = -seq;
ALTER TABLE activity_logs ENABLE TRIGGER activity_logs_append_only;

CREATE OR REPLACE FUNCTION activity_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'activity_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE FUNCTION activity_logs_chain() RETURNS trigger
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

CREATE OR REPLACE FUNCTION activity_log_digest(r activity_logs) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(jsonb_build_array(
        r.seq, r.id, r.organization_id, r.user_id, r.action, r.entity_type, r.entity_id,
        r.ip_address, r.user_agent, r.metadata,
        to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        r.prev_hash)::text, 'UTF8')), 'hex')
$$;

DROP SEQUENCE activity_log_seq;
"""


def upgrade() -> None:
    op.add_column("activity_logs", sa.Column("xact_id", sa.BigInteger(), nullable=True))
    op.add_column("activity_logs", sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.alter_column("activity_logs", "prev_hash", existing_type=sa.String(length=64), nullable=True)
    op.alter_column("activity_logs", "prev_hash", server_default=None)
    op.alter_column("activity_logs", "row_hash", existing_type=sa.String(length=64), nullable=True)
    op.alter_column("activity_logs", "row_hash", server_default=None)
    # Every row so far was chained on insert, in seq order: that is its chain position.
    op.execute("ALTER TABLE activity_logs DISABLE TRIGGER activity_logs_append_only")
    op.execute("UPDATE activity_logs SET chain_seq = seq")
    op.execute("ALTER TABLE activity_logs ENABLE TRIGGER activity_logs_append_only")
    op.create_unique_constraint(op.f("uq_activity_logs_chain_seq"), "activity_logs", ["chain_seq"])
    # What the sealer scans: only the (few) rows still waiting, in insertion order.
    op.create_index(
        "ix_activity_logs_unsealed",
        "activity_logs",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("chain_seq IS NULL"),
    )
    op.execute(UPGRADE_SQL)


def downgrade() -> None:
    op.execute(DOWNGRADE_SQL)
    op.drop_index(
        "ix_activity_logs_unsealed",
        table_name="activity_logs",
        postgresql_where=sa.text("chain_seq IS NULL"),
    )
    op.drop_constraint(op.f("uq_activity_logs_chain_seq"), "activity_logs", type_="unique")
    op.alter_column("activity_logs", "row_hash", server_default="")
    op.alter_column("activity_logs", "row_hash", existing_type=sa.String(length=64), nullable=False)
    op.alter_column("activity_logs", "prev_hash", server_default="")
    op.alter_column(
        "activity_logs", "prev_hash", existing_type=sa.String(length=64), nullable=False
    )
    op.drop_column("activity_logs", "chain_seq")
    op.drop_column("activity_logs", "xact_id")
