"""Index emails by recipient and template: acknowledgements to an address are counted
per day (an inquiry form must not become a mail relay)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_email_messages_recipient_template",
        "email_messages",
        [sa.text("lower(to_address)"), "template", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_email_messages_recipient_template", table_name="email_messages")
