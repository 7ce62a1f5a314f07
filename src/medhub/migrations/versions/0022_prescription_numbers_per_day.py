"""Prescription numbers counted per day: RX-YYYYMMDD-NNNN restarts at 0001 every UTC
day, from a counter table instead of one platform-wide sequence

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-11 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# NNNN was `prescription_number_seq`, which never restarts: past 9,999 prescriptions in
# all, every number had five digits and more, whatever its day. Now each UTC day counts
# from 1 in `prescription_number_days` (models.prescriptions.PrescriptionNumberDay).
#
# The numbers already given are kept, and no day's counter may hand one out again: each
# day that has prescriptions starts from the highest counter its numbers carry (the
# sequence's numbers are unique, so a day can hold 0001, 0002, 0517, ...). The table
# holds counts only, nothing of a tenant: no row-level security.
BACKFILL_SQL = r"""
INSERT INTO prescription_number_days (day, last)
SELECT to_date(split_part(number, '-', 2), 'YYYYMMDD'), max(split_part(number, '-', 3)::int)
  FROM prescriptions
 WHERE number ~ '^RX-[0-9]{8}-[0-9]+$'
 GROUP BY 1
"""

# Back to one sequence, which must not hand out a counter any day already used.
RESTORE_SEQUENCE_SQL = r"""
CREATE SEQUENCE prescription_number_seq;
SELECT setval('prescription_number_seq', max(last)) FROM prescription_number_days
HAVING max(last) IS NOT NULL;
"""


def upgrade() -> None:
    op.create_table(
        "prescription_number_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.CheckConstraint("last > 0", name=op.f("ck_prescription_number_days_last_positive")),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_prescription_number_days")),
    )
    op.execute(BACKFILL_SQL)
    op.execute("DROP SEQUENCE prescription_number_seq")


def downgrade() -> None:
    op.execute(RESTORE_SEQUENCE_SQL)
    op.drop_table("prescription_number_days")
