"""Redis, the rate limits' store, goes away: a redis-server process of the test's own is
killed, paused and started again under a real app.

While it is away no request is a 500: RATE_LIMIT_FAIL_OPEN decides (reads pass and limited
writes get 503 by default; `all`; `none`), each failure is counted in
`medhub_rate_limit_store_errors_total` and logged (once per interval, not per request),
and limits apply again as soon as Redis is back, with nothing to restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from medhub.kit.ratelimit import STORE_TIMEOUT_SECONDS
from tests.auth.helpers import MakeSettings, assert_error, login, random_ip, serve
from tests.factories import Factory
from tests.test_cli import free_port
from tests.waiting import eventually

PRODUCTS = "/api/v1/products"


class RedisServer:
    """redis-server on a port of its own, in memory only."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("redis-server is not installed: the Redis fault tests need it")
            # Outside CI (which fails instead): a developer's machine without Redis.
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            assert time.monotonic() < deadline, "redis-server did not start"
            assert self.process.poll() is None, "redis-server exited"
            time.sleep(0.02)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.kill()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def store_errors(metrics_text: str) -> dict[str, float]:
    found = {"allowed": 0.0, "refused": 0.0}
    for family in text_string_to_metric_families(metrics_text):
        if family.name == "medhub_rate_limit_store_errors":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[sample.labels["outcome"]] = sample.value
    return found


def limited_settings(
    make_settings: MakeSettings, redis_server: RedisServer, **overrides: Any
) -> Any:
    return make_settings(RATE_LIMIT_ENABLED=True, REDIS_URL=redis_server.url, **overrides)


async def test_reads_pass_and_limited_writes_get_503_while_redis_is_down_then_limits_return(
    make_settings: MakeSettings, redis_server: RedisServer
) -> None:
    settings = limited_settings(make_settings, redis_server, RATE_LIMIT_LOGIN="3/minute")
    async with serve(settings, peer=random_ip()) as served:
        http = served.client
        account = await Factory(served.app, http).user(login=False)
        up = await http.get(PRODUCTS)
        assert up.status_code == 200, up.text
        assert "x-ratelimit-limit" in up.headers
        assert (await login(http, account.email)).status_code == 200

        redis_server.kill()
        with structlog.testing.capture_logs() as logs:
            reads = [await http.get(PRODUCTS) for _ in range(3)]
            writes = [await login(http, account.email) for _ in range(3)]
        for read in reads:
            assert read.status_code == 200, read.text
            assert "x-ratelimit-limit" not in read.headers
        for write in writes:
            assert_error(write, 503, "SERVICE_UNAVAILABLE")
            assert write.headers["retry-after"] == "5"
        warnings = [entry for entry in logs if entry["event"] == "rate_limit.store_unavailable"]
        assert len(warnings) == 1, logs
        assert warnings[0]["log_level"] == "warning"
        assert warnings[0]["policy"] == "reads"
        # Each read passes two limits (global and anonymous); each login is refused at its
        # first (the global one).
        counted = store_errors((await http.get("/metrics")).text)
        assert counted == {"allowed": 6.0, "refused": 3.0}

        redis_server.start()
        started = time.monotonic()

        async def limits_apply_again() -> bool:
            response = await login(http, account.email)
            return response.status_code == 200 and "x-ratelimit-limit" in response.headers

        await eventually(limits_apply_again, seconds=10, message="limits did not come back")
        recovered = time.monotonic() - started
        assert recovered < 10
        # Counting starts again from the new (empty) store: 3 logins a minute, no more.
        statuses = [(await login(http, account.email)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("policy", "read_status", "write_status"),
    [("all", 200, 200), ("none", 503, 503)],
)
async def test_the_policy_decides_what_passes(
    make_settings: MakeSettings,
    redis_server: RedisServer,
    policy: str,
    read_status: int,
    write_status: int,
) -> None:
    settings = limited_settings(make_settings, redis_server, RATE_LIMIT_FAIL_OPEN=policy)
    async with serve(settings, peer=random_ip()) as served:
        account = await Factory(served.app, served.client).user(login=False)
        redis_server.kill()
        read = await served.client.get(PRODUCTS)
        write = await login(served.client, account.email)
        assert read.status_code == read_status, read.text
        assert write.status_code == write_status, write.text
        if write_status == 503:
            assert_error(write, 503, "SERVICE_UNAVAILABLE")
        counted = store_errors((await served.client.get("/metrics")).text)
        outcome = "allowed" if policy == "all" else "refused"
        assert counted[outcome] >= 2


async def test_a_hung_redis_costs_a_request_its_timeout_not_forever(
    make_settings: MakeSettings, redis_server: RedisServer
) -> None:
    settings = limited_settings(make_settings, redis_server)
    async with serve(settings, peer=random_ip()) as served:
        assert (await served.client.get(PRODUCTS)).status_code == 200
        redis_server.pause()
        try:
            started = time.monotonic()
            response = await served.client.get(PRODUCTS, timeout=30)
            elapsed = time.monotonic() - started
        finally:
            redis_server.resume()
        assert response.status_code == 200, response.text
        # Two limits, each waiting out at most the store's timeout (plus the page itself).
        assert elapsed < 2 * STORE_TIMEOUT_SECONDS + 3, elapsed
        assert store_errors((await served.client.get("/metrics")).text)["allowed"] >= 1
        assert httpx.codes.OK == (await served.client.get(PRODUCTS)).status_code
