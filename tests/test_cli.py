"""The `medhub` command as a user runs it: real processes, real signals, the embedded server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from medhub.ops.migrations import head_revision
from tests.conftest import (
    TEST_FIELD_INDEX_KEY,
    TEST_FIELD_KEYS,
    TEST_PRESCRIPTION_KEY,
    TEST_SECRET,
    DatabaseUrls,
)
from tests.waiting import eventually_sync


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "TEST_DATABASE", "JWT_", "ENV", "DATA_DIR"))
    }
    env.update({"LOG_LEVEL": "INFO", "LOG_JSON": "true"})
    env.update(extra)
    return env


def medhub(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medhub", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Served:
    """`medhub serve` in a process of its own; extra options and settings as given.

    Its output is read when it stops; a server that logs every request for long (more
    than a pipe holds) writes it to `log_file` instead, or it would block on the pipe.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *options: str,
        log_file: Path | None = None,
        **settings: str,
    ) -> None:
        self.port = port
        self.log_file = log_file
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medhub", "serve", "--port", str(port), *options],
            env=clean_env(DATA_DIR=str(data_dir), **settings),
            stdout=subprocess.PIPE if log_file is None else log_file.open("w", encoding="utf-8"),
            stderr=subprocess.STDOUT,
            text=True,
        )

    @classmethod
    def on_test_database(
        cls,
        data_dir: Path,
        database_urls: DatabaseUrls,
        *,
        log_file: Path | None = None,
        **settings: str,
    ) -> Served:
        """`medhub serve` on a test's database with the tests' keys, no job worker and
        console email; `settings` add to or override those."""
        values = {
            "DATABASE_URL": database_urls.app,
            "DATABASE_ADMIN_URL": database_urls.admin,
            "DATABASE_POOL_SIZE": "2",
            "JWT_SECRET": TEST_SECRET,
            "FIELD_ENCRYPTION_KEYS": TEST_FIELD_KEYS,
            "FIELD_INDEX_KEY": TEST_FIELD_INDEX_KEY,
            "PRESCRIPTION_SIGNING_KEY": TEST_PRESCRIPTION_KEY,
            "RUN_WORKER": "false",
            "EMAIL_BACKEND": "console",
            **settings,
        }
        return cls(data_dir, free_port(), log_file=log_file, **values)

    def output(self) -> str:
        """What it has logged so far (a `log_file` server only)."""
        assert self.log_file is not None
        return self.log_file.read_text(encoding="utf-8")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> float:
        started = time.monotonic()
        eventually_sync(self._ready, seconds=timeout, message="medhub serve was not ready")
        return time.monotonic() - started

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            out = self.process.stdout.read() if self.process.stdout else self.output()
            pytest.fail(f"medhub serve exited early with {self.process.returncode}:\n{out}")
        try:
            return httpx.get(f"{self.base}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, sig: signal.Signals = signal.SIGINT) -> tuple[int, str]:
        self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=40)
        return self.process.returncode, out if self.log_file is None else self.output()


def postgres_running_for(pgdata: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("name") == "postgres" and str(pgdata.resolve()) in " ".join(cmdline):
            return True
    return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path / "data", free_port())
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)


def test_serve_starts_embedded_database_and_stops_it_on_ctrl_c(
    served: Served, tmp_path: Path
) -> None:
    elapsed = served.wait_ready()
    assert elapsed < 30
    pgdata = tmp_path / "data" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert postgres_running_for(pgdata)
    docs = httpx.get(f"{served.base}/docs", timeout=5)
    assert docs.status_code == 200
    assert "/static/docs/swagger-ui-bundle.js" in docs.text
    code, output = served.stop(signal.SIGINT)
    assert code == 0, output
    assert "Traceback" not in output
    eventually_sync(
        lambda: not postgres_running_for(pgdata),
        seconds=10,
        message="the embedded server did not stop with the last process",
    )


def test_sigterm_finishes_in_flight_requests_and_exits_zero(served: Served) -> None:
    served.wait_ready()
    with httpx.Client(base_url=served.base, timeout=10) as http:
        assert http.get("/health/ready").status_code == 200
    code, output = served.stop(signal.SIGTERM)
    assert code == 0, output
    assert "Application shutdown complete" in output


def test_two_processes_share_one_embedded_server(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    first = Served(data, free_port())
    second: Served | None = None
    try:
        first.wait_ready()
        second = Served(data, free_port())
        second.wait_ready()
        pids = {
            p.pid
            for p in psutil.process_iter(attrs=["name", "cmdline"])
            if p.info.get("name") == "postgres"
            and str((data / "pgdata").resolve()) in " ".join(p.info.get("cmdline") or [])
        }
        assert len(pids) == 1, "one postmaster for both processes"
        code, _ = first.stop()
        assert code == 0
        # The second process still has its database after the first one left.
        assert httpx.get(f"{second.base}/health/ready", timeout=5).status_code == 200
        code, _ = second.stop()
        assert code == 0
        eventually_sync(
            lambda: not postgres_running_for(data / "pgdata"),
            seconds=10,
            message="the embedded server did not stop with the last process",
        )
    finally:
        for server in (first, second):
            if server is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=10)


def test_production_without_secrets_refuses_to_start(tmp_path: Path) -> None:
    result = medhub("serve", env=clean_env(ENV="production", DATA_DIR=str(tmp_path)))
    assert result.returncode != 0
    assert "Refusing to start" in result.stderr
    assert "JWT_SECRET must be set in production" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    result = medhub(
        "serve",
        env=clean_env(
            DATA_DIR=str(tmp_path),
            DATABASE_URL="postgresql://medhub_app@127.0.0.1:9/medhub",
            DATABASE_STARTUP_TIMEOUT="1",
        ),
    )
    assert result.returncode == 1
    assert "cannot reach the database at postgresql://medhub_app@127.0.0.1:9/medhub" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_unwritable_data_dir_is_a_clear_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = medhub("serve", env=clean_env(DATA_DIR=str(blocker / "data")))
    assert result.returncode == 1
    assert "is not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_superuser_database_url_is_refused(tmp_path: Path, database_urls: DatabaseUrls) -> None:
    result = medhub(
        "serve", env=clean_env(DATA_DIR=str(tmp_path), DATABASE_URL=database_urls.admin)
    )
    assert result.returncode == 1
    assert "superuser or has BYPASSRLS" in result.stderr


def test_db_upgrade_is_idempotent_and_current_reports_head(
    tmp_path: Path, database_urls: DatabaseUrls
) -> None:
    env = clean_env(
        DATA_DIR=str(tmp_path),
        DATABASE_URL=database_urls.app,
        DATABASE_ADMIN_URL=database_urls.admin,
    )
    for _ in range(2):
        upgraded = medhub("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        assert f"database at revision {head_revision()}" in upgraded.stdout
    current = medhub("db", "current", env=env)
    assert current.returncode == 0, current.stderr
    assert f"current: {head_revision()}" in current.stdout
    assert "(at head)" in current.stdout


def test_version_prints_the_package_version() -> None:
    from medhub import __version__  # noqa: PLC0415

    result = medhub("version", env=clean_env())
    assert result.returncode == 0
    assert result.stdout.strip() == __version__
