"""Faults injected into real components: an SMTP sink that can stall or refuse, and
`medhub worker` processes that a test can SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    TEST_FIELD_INDEX_KEY,
    TEST_FIELD_KEYS,
    TEST_PRESCRIPTION_KEY,
    TEST_SECRET,
    DatabaseUrls,
)
from tests.mail.smtp import HOST, RecordingHandler, SmtpServer

# Settings a worker process must not inherit from the test run's environment.
_NOT_INHERITED = (
    "DATABASE_",
    "TEST_DATABASE",
    "JWT_",
    "ENV",
    "DATA_DIR",
    "EMAIL_",
    "SMTP_",
    "REDIS_",
    "RUN_WORKER",
    "STALLED_",
    "WORKER_",
    "LOG_",
    "FIELD_",
)


class FaultyHandler(RecordingHandler):
    """Records what it accepts (see RecordingHandler); can also hold every transaction
    at RCPT, before any message is accepted, until released (a mail server that hangs)."""

    def __init__(self) -> None:
        super().__init__()
        self._open = threading.Event()
        self._open.set()
        self.held = 0

    def stall(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._open.is_set():
            with self._lock:
                self.held += 1
            try:
                # Waited for on a thread: the server's loop goes on with other sessions.
                await asyncio.to_thread(self._open.wait)
            finally:
                with self._lock:
                    self.held -= 1
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID arrived."""
        return Counter(str(item.message["Message-ID"]) for item in self.received)

    def recipients(self) -> Counter[str]:
        return Counter(address for item in self.received for address in item.rcpt_tos)


class FaultySmtp(SmtpServer):
    """An aiosmtpd server on a fixed port (stop/start keep it) with a FaultyHandler."""

    def __init__(self) -> None:
        super().__init__()
        self.handler: FaultyHandler = FaultyHandler()


@pytest.fixture
def sink() -> Iterator[FaultySmtp]:
    server = FaultySmtp()
    server.start()
    try:
        yield server
    finally:
        server.handler.release()
        server.stop()


def message_id(email_id: object) -> str:
    return f"<{email_id}@medhub.local>"


def worker_env(
    database_urls: DatabaseUrls, data_dir: Path, smtp: SmtpServer, **extra: str
) -> dict[str, str]:
    """The environment of a `medhub worker` delivering to `smtp` over the test database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": database_urls.app,
            "DATABASE_ADMIN_URL": database_urls.admin,
            "JWT_SECRET": TEST_SECRET,
            "FIELD_ENCRYPTION_KEYS": TEST_FIELD_KEYS,
            "FIELD_INDEX_KEY": TEST_FIELD_INDEX_KEY,
            "PRESCRIPTION_SIGNING_KEY": TEST_PRESCRIPTION_KEY,
            "EMAIL_BACKEND": "smtp",
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(smtp.port),
            "SMTP_TLS": "none",
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "true",
            **extra,
        }
    )
    return env


class WorkerProcess:
    """`medhub worker` in a process (and session) of its own, its output in a file."""

    def __init__(self, name: str, env: dict[str, str], log: Path, concurrency: int) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medhub", "worker", "--concurrency", str(concurrency)],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def sigkill(self) -> None:
        """SIGKILL, no warning, to the worker and anything it started."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log_file.close()

    def stop(self) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it does not exit in time."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.sigkill()
        if not self._log_file.closed:
            self._log_file.close()
        return self.process.returncode


class Workers:
    """Starts worker processes; whatever is still running at the end is killed."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(self, name: str, env: dict[str, str], *, concurrency: int = 4) -> WorkerProcess:
        worker = WorkerProcess(name, env, self.tmp_path / f"{name}.log", concurrency)
        self.started.append(worker)
        return worker

    def kill_all(self) -> None:
        for worker in self.started:
            if worker.alive():
                worker.sigkill()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.kill_all()
