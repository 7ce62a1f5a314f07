"""Doctors: profiles, weekly availability rules and dated exceptions, under row-level
security, and the public views the directory and the free slots are read from

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A profile belongs to its doctor and to the doctor's organization (the tenant), like
# the doctor's row in `users`; the rules and exceptions follow their profile (the
# sub-select is itself filtered by the profiles' policy). Which role may do what
# inside the tenant is decided by the application (authz/permissions.py).
#
# The public directory must find doctors of every organization, for anonymous
# visitors too, without widening anyone's tenant context. The views below are that
# one window: owned by the schema owner, a view reads its tables with its owner's
# rights (row-level security does not hold the owner), and these show only the
# public columns (never email, phone or licence number) of the doctors a patient may
# find: listed, approved, active, in an active hospital or clinic. They are views
# rather than SECURITY DEFINER functions so that the planner inlines them: the
# directory's filters, sort and LIMIT reach the tables' indexes instead of a function
# materialising every doctor first. `security_barrier` applies a view's own
# conditions before any condition of the query reading it, so no function in that
# query ever sees a row the view hides. Each is a join, hence not updatable: nothing
# can be written through them.
SECURITY_SQL = r"""
ALTER TABLE doctor_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON doctor_profiles
    USING (app_is_system() OR user_id = app_user_id()
           OR (organization_id IS NOT NULL AND organization_id = app_org_id()))
    WITH CHECK (app_is_system()
           OR (user_id = app_user_id() AND organization_id IS NOT DISTINCT FROM app_org_id())
           OR (organization_id IS NOT NULL AND organization_id = app_org_id()));

ALTER TABLE doctor_availability_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY through_profile ON doctor_availability_rules
    USING (EXISTS (SELECT 1 FROM doctor_profiles p WHERE p.user_id = doctor_id))
    WITH CHECK (EXISTS (SELECT 1 FROM doctor_profiles p WHERE p.user_id = doctor_id));

ALTER TABLE doctor_availability_exceptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY through_profile ON doctor_availability_exceptions
    USING (EXISTS (SELECT 1 FROM doctor_profiles p WHERE p.user_id = doctor_id))
    WITH CHECK (EXISTS (SELECT 1 FROM doctor_profiles p WHERE p.user_id = doctor_id));

CREATE VIEW public_doctors WITH (security_barrier = true) AS
SELECT p.user_id AS id, u.full_name, p.organization_id, o.name AS organization_name,
       p.specialty, p.qualifications, p.years_of_experience, p.bio, p.languages,
       p.consultation_fee, p.currency, p.offers_video, p.rating_average, p.rating_count,
       p.timezone
  FROM doctor_profiles p
  JOIN users u ON u.id = p.user_id
  JOIN organizations o ON o.id = p.organization_id
 WHERE p.is_listed
   AND u.role = 'doctor' AND u.is_active AND u.is_approved
   AND u.organization_id = p.organization_id
   AND o.status = 'active' AND o.kind IN ('hospital', 'clinic');

CREATE VIEW public_doctor_availability_rules WITH (security_barrier = true) AS
SELECT r.doctor_id, r.weekday, r.start_minute, r.end_minute, r.slot_minutes
  FROM doctor_availability_rules r
  JOIN public_doctors d ON d.id = r.doctor_id;

CREATE VIEW public_doctor_availability_exceptions WITH (security_barrier = true) AS
SELECT e.doctor_id, e.day, e.available, e.start_minute, e.end_minute, e.slot_minutes
  FROM doctor_availability_exceptions e
  JOIN public_doctors d ON d.id = e.doctor_id;
"""

DROP_SECURITY_SQL = r"""
DROP VIEW IF EXISTS public_doctor_availability_exceptions;
DROP VIEW IF EXISTS public_doctor_availability_rules;
DROP VIEW IF EXISTS public_doctors;
"""


def upgrade() -> None:
    op.create_table(
        "doctor_profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("specialty", postgresql.CITEXT(), nullable=False),
        sa.Column("license_number", sa.String(length=100), nullable=False),
        sa.Column(
            "qualifications",
            postgresql.ARRAY(sa.String(length=200)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("years_of_experience", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column(
            "languages", postgresql.ARRAY(sa.String(length=2)), server_default="{}", nullable=False
        ),
        sa.Column("consultation_fee", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("offers_video", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_listed", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("rating_average", sa.Numeric(precision=3, scale=2), nullable=True),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
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
            "consultation_fee >= 0", name=op.f("ck_doctor_profiles_fee_not_negative")
        ),
        sa.CheckConstraint(
            "years_of_experience BETWEEN 0 AND 80", name=op.f("ck_doctor_profiles_experience_range")
        ),
        sa.CheckConstraint(
            "rating_average IS NULL OR rating_average BETWEEN 0 AND 5",
            name=op.f("ck_doctor_profiles_rating_range"),
        ),
        sa.CheckConstraint(
            "rating_count >= 0", name=op.f("ck_doctor_profiles_rating_count_not_negative")
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_doctor_profiles_currency_code")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_doctor_profiles_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_doctor_profiles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_doctor_profiles")),
    )
    op.create_index(
        op.f("ix_doctor_profiles_organization_id"),
        "doctor_profiles",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_doctor_profiles_specialty"), "doctor_profiles", ["specialty"], unique=False
    )
    op.create_table(
        "doctor_availability_rules",
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("end_minute", sa.SmallInteger(), nullable=False),
        sa.Column("slot_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "weekday BETWEEN 1 AND 7", name=op.f("ck_doctor_availability_rules_weekday_iso")
        ),
        sa.CheckConstraint(
            "0 <= start_minute AND start_minute < end_minute AND end_minute <= 1440",
            name=op.f("ck_doctor_availability_rules_window"),
        ),
        sa.CheckConstraint(
            "slot_minutes BETWEEN 5 AND 240",
            name=op.f("ck_doctor_availability_rules_slot_minutes_range"),
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_doctor_availability_rules_doctor_id_doctor_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doctor_availability_rules")),
    )
    op.create_index(
        "ix_doctor_availability_rules_doctor_weekday",
        "doctor_availability_rules",
        ["doctor_id", "weekday"],
        unique=False,
    )
    op.create_table(
        "doctor_availability_exceptions",
        sa.Column("doctor_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=True),
        sa.Column("end_minute", sa.SmallInteger(), nullable=True),
        sa.Column("slot_minutes", sa.SmallInteger(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(NOT available AND start_minute IS NULL AND end_minute IS NULL"
            " AND slot_minutes IS NULL)"
            " OR (available AND 0 <= start_minute AND start_minute < end_minute"
            " AND end_minute <= 1440 AND slot_minutes BETWEEN 5 AND 240)",
            name=op.f("ck_doctor_availability_exceptions_window"),
        ),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctor_profiles.user_id"],
            name=op.f("fk_doctor_availability_exceptions_doctor_id_doctor_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_doctor_availability_exceptions")),
    )
    op.create_index(
        "uq_doctor_availability_exceptions_doctor_day",
        "doctor_availability_exceptions",
        ["doctor_id", "day"],
        unique=True,
    )
    op.execute(SECURITY_SQL)


def downgrade() -> None:
    op.execute(DROP_SECURITY_SQL)
    op.drop_index(
        "uq_doctor_availability_exceptions_doctor_day",
        table_name="doctor_availability_exceptions",
    )
    op.drop_table("doctor_availability_exceptions")
    op.drop_index(
        "ix_doctor_availability_rules_doctor_weekday", table_name="doctor_availability_rules"
    )
    op.drop_table("doctor_availability_rules")
    op.drop_index(op.f("ix_doctor_profiles_specialty"), table_name="doctor_profiles")
    op.drop_index(op.f("ix_doctor_profiles_organization_id"), table_name="doctor_profiles")
    op.drop_table("doctor_profiles")
