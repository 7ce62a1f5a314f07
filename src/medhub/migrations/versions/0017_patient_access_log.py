"""A patient's access log (who read or changed their charts) and the names of the
clinicians in their medical history: two narrow windows for the patient, indexed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Which charts an audit row is about, by the log's convention (patients, records,
# consultations, appointments): the entity is the chart (`entity_type` 'patient'),
# or the metadata names it (`patient_id`) or several (`patient_ids`, a list read).
# IMMUTABLE, so that it can be indexed: it reads nothing but its arguments. A value
# that is not a UUID is skipped rather than cast, so no row a domain writes can make
# the insert fail.
#
# `patient_access_log()` is the patient's `GET /patients/me/access-log`. A patient
# reads neither the log (its rows are the organizations', or their own) nor other
# users' names (row-level security), so the function, owned by the schema owner,
# answers for the charts linked to the account in the transaction's context
# (`app_user_id()`) and nobody else, and returns only what the endpoint shows: when,
# what, who (name, role), for which organization, and whether it was the patient
# themself. Never the IP address, the user agent or the metadata. Live charts only,
# like everything else a patient sees of their charts. Rows about the patient's
# appointments (booked, moved, cancelled) are theirs too; most of them name no chart.
#
# `own_clinicians` names the doctors and authors of the caller's consultations and
# records (a patient cannot read their `users` rows either, and the public directory
# lists only the doctors who chose to be listed), like `own_patient_charts` of 0016.
SECURITY_SQL = r"""
CREATE OR REPLACE FUNCTION activity_log_charts(p_entity_type text, p_entity_id uuid,
                                               p_metadata jsonb)
RETURNS uuid[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY(
        SELECT DISTINCT x::uuid
          FROM (SELECT p_entity_id::text AS x WHERE p_entity_type = 'patient'
                UNION ALL
                SELECT p_metadata ->> 'patient_id'
                 WHERE jsonb_typeof(p_metadata -> 'patient_id') = 'string'
                UNION ALL
                SELECT e FROM jsonb_array_elements_text(
                    CASE WHEN jsonb_typeof(p_metadata -> 'patient_ids') = 'array'
                         THEN p_metadata -> 'patient_ids' ELSE '[]'::jsonb END) AS e
               ) AS ids
         WHERE x ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
    )
$$;

CREATE OR REPLACE FUNCTION patient_access_log(p_since timestamptz, p_until timestamptz,
                                              p_action text, p_limit integer,
                                              p_offset integer)
RETURNS TABLE (occurred_at timestamptz, action text, entity_type text, entity_id uuid,
               actor_kind text, actor_name text, actor_role text, organization_id uuid,
               organization_name text, is_self boolean, total bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_user uuid := app_user_id();
    v_charts uuid[];
BEGIN
    IF v_user IS NULL THEN
        RETURN;
    END IF;
    SELECT coalesce(array_agg(p.id), '{}') INTO v_charts
      FROM patients p
     WHERE p.user_id = v_user AND p.deleted_at IS NULL;
    IF cardinality(v_charts) = 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH about AS (
        -- The first condition is the partial index's predicate (ix_activity_logs_charts).
        SELECT a.seq, a.created_at, a.action, a.entity_type, a.entity_id, a.user_id,
               a.organization_id, a.metadata
          FROM activity_logs a
         WHERE (a.entity_type = 'patient' OR a.metadata ? 'patient_id'
                OR a.metadata ? 'patient_ids')
           AND activity_log_charts(a.entity_type, a.entity_id, a.metadata) && v_charts
        UNION
        SELECT a.seq, a.created_at, a.action, a.entity_type, a.entity_id, a.user_id,
               a.organization_id, a.metadata
          FROM activity_logs a
         WHERE a.entity_type = 'appointment'
           AND a.entity_id = ANY (ARRAY(SELECT ap.id FROM appointments ap
                                         WHERE ap.patient_id = ANY (v_charts)))
    ), page AS (
        SELECT h.seq, h.created_at, h.action, h.entity_type, h.entity_id, h.user_id,
               h.metadata ? 'api_key_id' AS by_api_key,
               coalesce(h.organization_id,
                        CASE WHEN h.metadata ->> 'organization_id'
                                  ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
                             THEN (h.metadata ->> 'organization_id')::uuid END) AS org_id,
               count(*) OVER () AS total
          FROM about h
         WHERE (p_since IS NULL OR h.created_at >= p_since)
           AND (p_until IS NULL OR h.created_at <= p_until)
           AND (p_action IS NULL OR h.action = p_action)
         ORDER BY h.created_at DESC, h.seq DESC
         LIMIT p_limit OFFSET p_offset
    )
    SELECT pg.created_at, pg.action::text, pg.entity_type::text, pg.entity_id,
           CASE WHEN pg.user_id IS NOT NULL THEN 'user'
                WHEN pg.by_api_key THEN 'api_key'
                ELSE 'system' END,
           u.full_name::text, u.role::text, pg.org_id, o.name::text,
           coalesce(pg.user_id = v_user, false), pg.total
      FROM page pg
      LEFT JOIN users u ON u.id = pg.user_id
      LEFT JOIN organizations o ON o.id = pg.org_id
     ORDER BY pg.created_at DESC, pg.seq DESC;
END
$$;
REVOKE EXECUTE ON FUNCTION patient_access_log(timestamptz, timestamptz, text, integer, integer)
    FROM PUBLIC;

CREATE OR REPLACE VIEW own_clinicians WITH (security_barrier = true) AS
SELECT u.id AS user_id, u.full_name
  FROM users u
 WHERE u.id IN (SELECT c.doctor_id
                  FROM consultations c
                  JOIN patients p ON p.id = c.patient_id
                 WHERE p.user_id = app_user_id() AND p.deleted_at IS NULL
                UNION
                SELECT r.author_id
                  FROM medical_records r
                  JOIN patients p ON p.id = r.patient_id
                 WHERE p.user_id = app_user_id() AND p.deleted_at IS NULL
                   AND r.deleted_at IS NULL);
"""

# The log only grows, and every audited request inserts into it: the index is built
# without blocking those inserts. A build that failed leaves an invalid index behind,
# so a rerun drops it first. Partial: most rows (logins, orders...) name no chart and
# cost the index nothing.
CHARTS_INDEX_SQL = r"""
CREATE INDEX CONCURRENTLY ix_activity_logs_charts ON activity_logs
 USING gin (activity_log_charts(entity_type, entity_id, metadata))
 WHERE entity_type = 'patient' OR metadata ? 'patient_id' OR metadata ? 'patient_ids'
"""

DROP_SECURITY_SQL = r"""
DROP VIEW IF EXISTS own_clinicians;
DROP FUNCTION IF EXISTS patient_access_log(timestamptz, timestamptz, text, integer, integer);
DROP INDEX IF EXISTS ix_activity_logs_charts;
DROP FUNCTION IF EXISTS activity_log_charts(text, uuid, jsonb);
"""


def upgrade() -> None:
    op.execute(SECURITY_SQL)
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_activity_logs_charts")
        op.execute(CHARTS_INDEX_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
