"""Alembic environment: one linear history, run under an advisory lock.

The lock makes concurrent `medhub db upgrade` / embedded start-ups safe: the
second process waits, then finds the schema already at head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from medhub.kit.db import sqlalchemy_url
from medhub.models import Base
from medhub.ops.migrations import include_object

# Arbitrary constant shared by every MedHub process: "migrations in progress".
MIGRATION_LOCK_ID = 0x6D656468  # "medh"

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.attributes.get("database_url")
    if url is None:
        raise RuntimeError("run migrations through `medhub db ...` so the URL is resolved")
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                compare_type=True,
                include_object=include_object,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations()
