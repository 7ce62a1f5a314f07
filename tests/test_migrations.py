"""The migrations and the ORM models describe the same schema.

A model changed without a migration (or the reverse) is found here, not in
production: autogenerate against the migrated database must propose nothing.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from medhub.kit.db import sqlalchemy_url
from medhub.models import Base
from medhub.ops.migrations import include_object
from medhub.ops.provision import database_url_with


def test_autogenerate_finds_nothing_to_change(
    admin_server_url: str, template_database: str
) -> None:
    engine = create_engine(sqlalchemy_url(database_url_with(admin_server_url, template_database)))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_object": include_object,
                    "target_metadata": Base.metadata,
                },
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "models and migrations disagree:\n" + "\n".join(map(str, differences))
