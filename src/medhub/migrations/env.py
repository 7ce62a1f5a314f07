"""Alembic environment: one linear history, run under an advisory lock.

The lock makes concurrent `medhub db upgrade` / embedded start-ups safe: the
second process waits, then finds the schema already at head.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from medhub.kit.db import sqlalchemy_url
from medhub.models import Base

# Arbitrary constant shared by every MedHub process: "migrations in progress".
MIGRATION_LOCK_ID = 0x6D656468  # "medh"

config = context.config
target_metadata = Base.metadata


# Tables that exist on purpose without an ORM model: procrastinate's own schema and
# the audit chain tip. Autogenerate must not propose dropping them.
UNMODELLED_TABLE_PREFIXES = ("procrastinate_", "activity_log_chain")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    if type_ == "table" and reflected and compare_to is None and name:
        return not name.startswith(UNMODELLED_TABLE_PREFIXES)
    return True


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
