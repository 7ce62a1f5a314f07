"""Alembic, driven from code: the CLI, embedded start-up, tests and /health/ready share it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from medhub.kit.db import sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Tables that exist on purpose without an ORM model: procrastinate's own schema and
# the audit chain tip. Autogenerate must not propose dropping them.
UNMODELLED_TABLE_PREFIXES = ("procrastinate_", "activity_log_chain")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate's filter: everything but the tables that have no model on purpose."""
    if type_ == "table" and reflected and compare_to is None and name:
        return not name.startswith(UNMODELLED_TABLE_PREFIXES)
    return True


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.attributes["database_url"] = url
    return config


@lru_cache
def head_revision() -> str | None:
    """The newest revision shipped with this code (one linear history)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url), poolclass=None)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def new_revision(message: str, *, url: str | None = None, autogenerate: bool = False) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=autogenerate)
