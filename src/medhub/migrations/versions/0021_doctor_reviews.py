"""Doctor reviews and their reports, under row-level security; the public view of the
visible reviews and the function that recomputes a doctor's rating

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A review is the doctor's organization's (the tenant, like the appointment it is
# about) and its author's: the author writes and edits it from a context without
# that organization. A report is the review's organization's (its moderators) and
# its reporter's.
#
# A visible review is public, for anonymous visitors too: like the directory (0011),
# they read it through a view owned by the schema owner, which row-level security
# does not hold, showing only the public columns of the visible reviews of the doctors
# in the directory, and of the author only a first name and the initial of the last.
#
# A doctor's rating is kept on the profile, which the author's context cannot see:
# `refresh_doctor_rating()` recomputes it from the visible reviews, and nothing else.
# It locks the profile row first and reads the reviews in a later statement: in READ
# COMMITTED each statement of a volatile function takes a new snapshot, so once the
# lock is held the recount sees every review committed by the transaction that held
# it before. (One UPDATE ... SET = (SELECT ...) would not: a statement that waited for
# the row lock still counts with the snapshot it started with, and drifts.) The lock
# is FOR NO KEY UPDATE: writing a review has already taken the profile's FOR KEY
# SHARE (its foreign key), which FOR UPDATE would wait for, so two reviews of one
# doctor would deadlock.
SECURITY_SQL = r"""
ALTER TABLE doctor_reviews ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_author ON doctor_reviews
    USING (app_is_system() OR organization_id = app_org_id() OR author_user_id = app_user_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR author_user_id = app_user_id());

ALTER TABLE review_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_reporter ON review_reports
    USING (app_is_system() OR organization_id = app_org_id()
           OR reporter_user_id = app_user_id())
    WITH CHECK (app_is_system() OR organization_id = app_org_id()
           OR reporter_user_id = app_user_id());

CREATE VIEW public_doctor_reviews WITH (security_barrier = true) AS
SELECT r.id, r.doctor_id, r.organization_id,
       CASE WHEN btrim(u.full_name) !~ '\s'
            THEN btrim(u.full_name)
            ELSE substring(btrim(u.full_name) FROM '^\S+') || ' '
                 || left(substring(btrim(u.full_name) FROM '(\S+)$'), 1) || '.'
       END AS author_name,
       r.rating, r.comment, r.reply, r.replied_at, r.created_at, r.updated_at
  FROM doctor_reviews r
  JOIN public_doctors d ON d.id = r.doctor_id
  JOIN users u ON u.id = r.author_user_id
 WHERE r.hidden_at IS NULL;

CREATE FUNCTION refresh_doctor_rating(p_doctor uuid) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    PERFORM 1 FROM doctor_profiles WHERE user_id = p_doctor FOR NO KEY UPDATE;
    UPDATE doctor_profiles p
       SET (rating_average, rating_count) = (
           SELECT round(avg(r.rating), 2), count(*)
             FROM doctor_reviews r
            WHERE r.doctor_id = p_doctor AND r.hidden_at IS NULL)
     WHERE p.user_id = p_doctor;
END
$$;

REVOKE EXECUTE ON FUNCTION refresh_doctor_rating(uuid) FROM PUBLIC;
"""

DROP_SECURITY_SQL = r"""
DROP FUNCTION IF EXISTS refresh_doctor_rating(uuid);
DROP VIEW IF EXISTS public_doctor_reviews;
"""


def upgrade() -> None:
    op.create_table(
        "doctor_reviews",
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("author_user_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_by", sa.Uuid(), nullable=True),
        sa.Column("hidden_reason", sa.String(length=500), nullable=True),
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
            "(hidden_at IS NULL AND hidden_by IS NULL AND hidden_reason IS NULL) OR (hidden_at IS NOT NULL AND hidden_reason IS NOT NULL)",
            name=op.f("ck_doctor_reviews_hidden_together"),
        ),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_doctor_reviews_rating_range")),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_doctor_reviews_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["users.id"],
            name=op.f("fk_doctor_reviews_author_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_doctor_reviews_doctor_id_doctor_profiles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hidden_by"],
            ["users.id"],
            name=op.f("fk_doctor_reviews_hidden_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_doctor_reviews_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doctor_reviews")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_doctor_reviews_appointment_id")),
    )
    op.create_index(
        op.f("ix_doctor_reviews_author_user_id"), "doctor_reviews", ["author_user_id"], unique=False
    )
    op.create_index(
        "ix_doctor_reviews_doctor_created",
        "doctor_reviews",
        ["doctor_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_doctor_reviews_doctor_rating", "doctor_reviews", ["doctor_id", "rating"], unique=False
    )
    op.create_index(
        op.f("ix_doctor_reviews_organization_id"),
        "doctor_reviews",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "review_reports",
        sa.Column("review_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_review_reports_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_user_id"],
            ["users.id"],
            name=op.f("fk_review_reports_reporter_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["doctor_reviews.id"],
            name=op.f("fk_review_reports_review_id_doctor_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_reports")),
        sa.UniqueConstraint("review_id", "reporter_user_id", name="uq_review_reports_reporter"),
    )
    op.create_index(
        op.f("ix_review_reports_organization_id"),
        "review_reports",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_review_reports_reporter_user_id"),
        "review_reports",
        ["reporter_user_id"],
        unique=False,
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_index(op.f("ix_review_reports_reporter_user_id"), table_name="review_reports")
    op.drop_index(op.f("ix_review_reports_organization_id"), table_name="review_reports")
    op.drop_table("review_reports")
    op.drop_index(op.f("ix_doctor_reviews_organization_id"), table_name="doctor_reviews")
    op.drop_index("ix_doctor_reviews_doctor_rating", table_name="doctor_reviews")
    op.drop_index("ix_doctor_reviews_doctor_created", table_name="doctor_reviews")
    op.drop_index(op.f("ix_doctor_reviews_author_user_id"), table_name="doctor_reviews")
    op.drop_table("doctor_reviews")
