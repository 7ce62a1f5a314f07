"""A category's products by price in index order, both directions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_products_browse_price_asc",
        "products",
        ["category", sa.text("price ASC NULLS LAST"), sa.text("id ASC")],
        postgresql_where=sa.text("is_active"),
    )
    op.create_index(
        "ix_products_browse_price_desc",
        "products",
        ["category", sa.text("price DESC NULLS LAST"), sa.text("id DESC")],
        postgresql_where=sa.text("is_active"),
    )


def downgrade() -> None:
    op.drop_index("ix_products_browse_price_desc", table_name="products")
    op.drop_index("ix_products_browse_price_asc", table_name="products")
