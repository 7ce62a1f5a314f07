"""`python -m bench.email_burst`: the email-burst measurement (the runner starts it; see
bench/burst.py and bench/README.md).

In one process: a fresh embedded PostgreSQL under --data-dir, MedHub's
`queue_email` for N messages in batches (committed), then `run_worker` N times
at once (wait=False: they stop when the queue is empty) with EMAIL_BACKEND=smtp
against an SMTP sink. The sink (aiosmtpd) runs in a process of its own, so it
does not share the GIL with the workers; it counts messages and distinct
Message-IDs. The baseline sends the same number of prebuilt messages with
`aiosmtplib.send` (one connection per message, as MedHub's SMTP transport does)
from as many coroutines as MedHub runs jobs at once. Rounds alternate medhub,
baseline. The rounds go to stdout as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller
from sqlalchemy import text

from bench.burst import JSON_MARKER, BurstConfig, BurstRound
from medhub.config import Settings  # type: ignore[import-untyped]
from medhub.kit.db import Database  # type: ignore[import-untyped]
from medhub.kit.email import (  # type: ignore[import-untyped]
    TemplateRenderer,
    build_message,
    sample_context,
)
from medhub.kit.jobs import JobRuntime, run_worker  # type: ignore[import-untyped]
from medhub.kit.logging import configure_logging  # type: ignore[import-untyped]
from medhub.mail.service import queue_email  # type: ignore[import-untyped]
from medhub.ops.provision import prepare_database  # type: ignore[import-untyped]

HOST = "127.0.0.1"
TEMPLATE = "welcome"
SEND_TIMEOUT_S = 30.0
SINK_START_TIMEOUT_S = 30.0
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


# --- the SMTP sink, in its own process ---------------------------------------------------------


class CountingHandler:
    """Accepts every message; counts them and their distinct Message-IDs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.ids: set[bytes] = set()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        content = bytes(envelope.original_content or envelope.content)
        header = content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(header)
        with self._lock:
            self.count += 1
            self.ids.add(found.group(1) if found else uuid.uuid4().bytes)
        return "250 Message accepted for delivery"

    def reset(self) -> None:
        with self._lock:
            self.count = 0
            self.ids = set()

    def stats(self) -> tuple[int, int]:
        with self._lock:
            return self.count, len(self.ids)


def _sink_main(port: int, control: Connection) -> None:
    handler = CountingHandler()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    control.send("ready")
    try:
        while True:
            command = control.recv()
            if command == "reset":
                handler.reset()
                control.send("ok")
            elif command == "stats":
                control.send(handler.stats())
            else:
                break
    finally:
        controller.stop()


class Sink:
    """The sink process and its control pipe."""

    def __init__(self) -> None:
        self.port = _free_port()
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=_sink_main, args=(self.port, child), name="smtp-sink", daemon=True
        )

    def start(self) -> None:
        self._process.start()
        if not self._control.poll(SINK_START_TIMEOUT_S):
            raise RuntimeError("the SMTP sink did not start")
        self._control.recv()

    def reset(self) -> None:
        self._control.send("reset")
        self._control.recv()

    def stats(self) -> tuple[int, int]:
        self._control.send("stats")
        count, unique = self._control.recv()
        return int(count), int(unique)

    def stop(self) -> None:
        if self._process.is_alive():
            self._control.send("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --- the two targets ---------------------------------------------------------------------------


async def medhub_round(
    settings: Any, database: Any, config: BurstConfig, number: int, sink: Sink
) -> BurstRound:
    sink.reset()
    prefix = f"burst{number}-"
    context = sample_context(TEMPLATE)
    started = time.perf_counter()
    for start in range(0, config.emails, config.batch):
        async with database.unit_of_work() as session:
            for index in range(start, min(start + config.batch, config.emails)):
                await queue_email(session, TEMPLATE, f"{prefix}{index}@example.org", context)
    defer_seconds = time.perf_counter() - started

    runtime = JobRuntime(settings=settings, database=database)
    started = time.perf_counter()
    await asyncio.gather(
        *(
            run_worker(
                runtime,
                concurrency=config.concurrency,
                wait=False,
                install_signal_handlers=False,
                name=f"burst-{worker}",
            )
            for worker in range(config.workers)
        )
    )
    seconds = time.perf_counter() - started
    delivered, unique = sink.stats()

    async with database.unit_of_work() as session:
        rows_sent = await session.scalar(
            text(
                "SELECT count(*) FROM email_messages WHERE status = 'sent' AND to_address LIKE :p"
            ),
            {"p": prefix + "%"},
        )
        leftover = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs j JOIN email_messages e"
                " ON e.job_id = j.id WHERE e.to_address LIKE :p AND j.status <> 'succeeded'"
            ),
            {"p": prefix + "%"},
        )
    return BurstRound(
        target="medhub",
        number=number,
        emails=config.emails,
        seconds=seconds,
        delivered=delivered,
        unique=unique,
        rows_sent=int(rows_sent or 0),
        jobs_not_succeeded=int(leftover or 0),
        defer_seconds=defer_seconds,
    )


async def baseline_round(settings: Any, config: BurstConfig, number: int, sink: Sink) -> BurstRound:
    rendered = TemplateRenderer(settings).render(TEMPLATE, sample_context(TEMPLATE))
    messages = iter(
        [
            build_message(
                sender=settings.FROM_EMAIL,
                to=f"baseline{number}-{index}@example.org",
                rendered=rendered,
                message_id=f"<{uuid.uuid4()}@bench.local>",
            )
            for index in range(config.emails)
        ]
    )
    sink.reset()

    async def sender() -> None:
        # One shared iterator: each coroutine takes the next message when it is free.
        for message in messages:
            try:
                await aiosmtplib.send(
                    message,
                    hostname=HOST,
                    port=sink.port,
                    use_tls=False,
                    start_tls=False,
                    timeout=SEND_TIMEOUT_S,
                )
            except (aiosmtplib.SMTPException, OSError):
                continue  # counted as lost: the sink never saw it

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(config.senders)))
    seconds = time.perf_counter() - started
    delivered, unique = sink.stats()
    return BurstRound(
        target="baseline",
        number=number,
        emails=config.emails,
        seconds=seconds,
        delivered=delivered,
        unique=unique,
    )


async def run_rounds(
    settings: Any, app_url: str, config: BurstConfig, sink: Sink
) -> list[BurstRound]:
    database = Database(settings, app_url)
    rounds: list[BurstRound] = []
    try:
        for number in range(1, config.rounds + 1):
            rounds.append(await medhub_round(settings, database, config, number, sink))
            rounds.append(await baseline_round(settings, config, number, sink))
    finally:
        await database.dispose()
    return rounds


def settings_for(data_dir: Path, sink_port: int, config: BurstConfig) -> Any:
    return Settings(
        _env_file=None,
        ENV="development",
        DATA_DIR=data_dir,
        DATABASE_URL=None,
        DATABASE_ADMIN_URL=None,
        DATABASE_READ_URL=None,
        EMAIL_BACKEND="smtp",
        SMTP_HOST=HOST,
        SMTP_PORT=sink_port,
        SMTP_TLS="none",
        SMTP_TIMEOUT_SECONDS=SEND_TIMEOUT_S,
        EMAIL_MAX_ATTEMPTS=3,
        EMAIL_RETRY_BASE_SECONDS=1,
        WORKER_CONCURRENCY=config.concurrency,
        RUN_WORKER=False,
        LOG_LEVEL="WARNING",
        LOG_JSON=True,
    )


def parse_args(argv: Sequence[str] | None) -> tuple[Path, BurstConfig]:
    parser = argparse.ArgumentParser(prog="python -m bench.email_burst")
    parser.add_argument("--data-dir", type=Path, required=True)
    defaults = BurstConfig()
    parser.add_argument("--emails", type=int, default=defaults.emails)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    args = parser.parse_args(argv)
    config = BurstConfig(
        emails=args.emails,
        workers=args.workers,
        concurrency=args.concurrency,
        batch=args.batch,
        rounds=args.rounds,
    )
    return args.data_dir.resolve(), config


def main(argv: Sequence[str] | None = None) -> int:
    data_dir, config = parse_args(argv)
    configure_logging("WARNING", json=True)
    sink = Sink()
    sink.start()
    try:
        settings = settings_for(data_dir, sink.port, config)
        target = prepare_database(settings)
        try:
            rounds = asyncio.run(run_rounds(settings, str(target.app_url), config, sink))
        finally:
            if target.embedded is not None:
                target.embedded.stop()
    finally:
        sink.stop()
    print(JSON_MARKER + json.dumps({"rounds": [r.as_json() for r in rounds]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
