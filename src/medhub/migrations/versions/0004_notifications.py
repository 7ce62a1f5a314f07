"""Notifications (in-app, pushed over SSE), channel preferences, the SMS outbox

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A user sees and changes only their own rows. Any domain may notify any user, in
# whatever tenant context it runs: the recipient's row is written and read by the
# SECURITY DEFINER functions below, so the caller's context is never widened.
SECURITY_SQL = r"""
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON notifications
    USING (app_is_system() OR user_id = app_user_id())
    WITH CHECK (app_is_system() OR user_id = app_user_id());

ALTER TABLE notification_preferences ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON notification_preferences
    USING (app_is_system() OR user_id = app_user_id())
    WITH CHECK (app_is_system() OR user_id = app_user_id());

-- The SMS outbox: queued from any context (like the activity log), read and updated
-- only by its owner or the system (the delivery job).
ALTER TABLE sms_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_read ON sms_messages FOR SELECT
    USING (app_is_system() OR user_id = app_user_id());
CREATE POLICY owner_update ON sms_messages FOR UPDATE
    USING (app_is_system() OR user_id = app_user_id())
    WITH CHECK (app_is_system() OR user_id = app_user_id());
CREATE POLICY owner_delete ON sms_messages FOR DELETE
    USING (app_is_system() OR user_id = app_user_id());
CREATE POLICY queue ON sms_messages FOR INSERT WITH CHECK (true);

-- Where and how a notification reaches its user: the address, the phone, and the
-- stored preference for the category (NULLs when the user kept the defaults).
CREATE FUNCTION notification_recipient(p_user uuid, p_category text)
RETURNS TABLE (email text, phone text, full_name text, is_active boolean,
               pref_in_app boolean, pref_email boolean, pref_sms boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.email::text, u.phone, u.full_name, u.is_active, p.in_app, p.email, p.sms
      FROM users u
      LEFT JOIN notification_preferences p ON p.user_id = u.id AND p.category = p_category
     WHERE u.id = p_user
$$;

-- Store one notification and announce it to the SSE streams of every API process.
-- pg_notify is delivered at COMMIT, and not at all on ROLLBACK. The per-user lock,
-- held to the end of the transaction, makes one user's notifications commit in seq
-- order: a stream that has sent seq N can never later find a committed seq < N
-- (which a reconnect with Last-Event-ID N would skip).
CREATE FUNCTION notification_insert(p_id uuid, p_user uuid, p_category text, p_title text,
                                    p_body text, p_data jsonb)
RETURNS SETOF notifications
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n notifications%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('medhub.notifications:' || p_user::text, 0));
    INSERT INTO notifications (id, user_id, category, title, body, data)
    VALUES (p_id, p_user, p_category, p_title, p_body, coalesce(p_data, '{}'::jsonb))
    RETURNING * INTO n;
    PERFORM pg_notify('medhub_notifications',
                      json_build_object('user_id', n.user_id, 'seq', n.seq)::text);
    RETURN NEXT n;
END $$;

REVOKE EXECUTE ON FUNCTION notification_recipient(uuid, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION notification_insert(uuid, uuid, text, text, text, jsonb) FROM PUBLIC;
"""

DROP_SECURITY_SQL = r"""
DROP FUNCTION IF EXISTS notification_insert(uuid, uuid, text, text, text, jsonb);
DROP FUNCTION IF EXISTS notification_recipient(uuid, text);
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE notifications_seq")
    op.create_table(
        "notifications",
        sa.Column(
            "seq",
            sa.BigInteger(),
            server_default=sa.text("nextval('notifications_seq')"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
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
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("seq", name=op.f("uq_notifications_seq")),
    )
    op.execute("ALTER SEQUENCE notifications_seq OWNED BY notifications.seq")
    op.create_index("ix_notifications_user_seq", "notifications", ["user_id", "seq"], unique=False)
    op.create_index(
        "ix_notifications_user_category_seq",
        "notifications",
        ["user_id", "category", "seq"],
        unique=False,
    )
    op.create_index(
        "ix_notifications_user_unread",
        "notifications",
        ["user_id", "seq"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("sms", sa.Boolean(), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "category", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "sms_messages",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("to_number", sa.String(length=50), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'sent', 'failed')", name=op.f("ck_sms_messages_status")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sms_messages_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
    )
    op.create_index(
        "ix_sms_messages_status_created", "sms_messages", ["status", "created_at"], unique=False
    )
    op.create_index(
        "ix_sms_messages_user_created", "sms_messages", ["user_id", "created_at"], unique=False
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_index("ix_sms_messages_user_created", table_name="sms_messages")
    op.drop_index("ix_sms_messages_status_created", table_name="sms_messages")
    op.drop_table("sms_messages")
    op.drop_table("notification_preferences")
    op.drop_index(
        "ix_notifications_user_unread",
        table_name="notifications",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.drop_index("ix_notifications_user_category_seq", table_name="notifications")
    op.drop_index("ix_notifications_user_seq", table_name="notifications")
    op.drop_table("notifications")
    op.execute("DROP SEQUENCE IF EXISTS notifications_seq")
