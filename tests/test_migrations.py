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
from tests.conftest import DatabaseUrls


def test_autogenerate_finds_nothing_to_change(database_urls: DatabaseUrls) -> None:
    # The test's own copy of the migrated template, not the template itself: the
    # template is copied for other tests in the background, and a copy fails while
    # anyone is connected to its source.
    engine = create_engine(sqlalchemy_url(database_urls.admin))
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
