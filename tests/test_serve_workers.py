"""`medhub serve --workers N`: several API processes behind one port, with shared rate
limits (Redis), metrics summed over the processes, and one elected job worker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from medhub.cli import parse_workers
from medhub.ops.worker_election import APPLICATION_NAME, RETRY_SECONDS, WORKER_LOCK_KEY
from tests.conftest import DatabaseUrls
from tests.test_cli import clean_env, free_port, medhub
from tests.waiting import eventually_sync

REDIS_URL = "redis://127.0.0.1:6379/14"
POOL_SIZE = 3
LIVE_ROUTE = 'medhub_http_requests_total{method="GET",route="/health/live",status="200"}'


def serve_env(**extra: str) -> dict[str, str]:
    env = clean_env(**extra)
    for inherited in ("REDIS_URL", "PROMETHEUS_MULTIPROC_DIR", "RUN_WORKER"):
        if inherited not in extra:
            env.pop(inherited, None)
    return env


def test_workers_is_a_number_or_auto() -> None:
    assert parse_workers("3") == 3
    assert parse_workers(" auto ") == parse_workers("AUTO") >= 1
    for wrong in ("0", "-2", "many", ""):
        with pytest.raises(Exception, match="number"):
            parse_workers(wrong)


def test_several_workers_without_redis_are_refused(tmp_path: Path) -> None:
    result = medhub("serve", "--workers", "2", env=serve_env(DATA_DIR=str(tmp_path)))
    assert result.returncode == 2, result.stderr
    assert "--workers 2 needs REDIS_URL" in result.stderr
    assert "rate limits must be counted in one place" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "pgdata").exists(), "refused before starting anything"


def lock_holders(admin_url: str) -> list[tuple[int, int]]:
    """(backend pid, client port) of each session holding the job worker's lock."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT a.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND (l.classid::bigint << 32 | l.objid::bigint) = %s
            """,
            (WORKER_LOCK_KEY,),
        ).fetchall()
    return [(int(pid), int(port)) for pid, port in rows]


def worker_ids(admin_url: str) -> list[int]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT id FROM procrastinate_workers ORDER BY id").fetchall()
    return [int(row[0]) for row in rows]


def count(admin_url: str, query: str, *params: object) -> int:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def live_requests_by_process(metrics_dir: Path) -> dict[int, float]:
    """How many /health/live requests each API process counted, from its own file."""
    counted: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for metric in MultiProcessCollector.merge([str(path)]):
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels.get("route") == "/health/live":
                    counted[pid] = counted.get(pid, 0) + sample.value
    return counted


def scraped(base: str, name_and_labels: str) -> float | None:
    text = httpx.get(f"{base}/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(name_and_labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


@pytest.fixture
def server(
    tmp_path: Path, database_urls: DatabaseUrls
) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # Left by an earlier run: counting it again would be wrong (and it is not even valid).
    (metrics_dir / "counter_1.db").write_bytes(b"stale")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "medhub", "serve", "--workers", "2", "--port", str(port)],
        env=serve_env(
            DATA_DIR=str(tmp_path / "data"),
            DATABASE_URL=database_urls.app,
            DATABASE_ADMIN_URL=database_urls.admin,
            DATABASE_POOL_SIZE=str(POOL_SIZE),
            REDIS_URL=REDIS_URL,
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            EMAIL_BACKEND="console",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process, f"http://127.0.0.1:{port}", metrics_dir
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait(timeout=10)


def test_two_api_processes_share_metrics_and_elect_one_job_worker(
    server: tuple[subprocess.Popen[str], str, Path], database_urls: DatabaseUrls
) -> None:
    process, base, metrics_dir = server
    admin = database_urls.admin

    def ready() -> bool:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            pytest.fail(f"medhub serve exited early with {process.returncode}:\n{output}")
        try:
            return httpx.get(f"{base}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    eventually_sync(ready, seconds=30, message="medhub serve --workers 2 was not ready")
    assert not (metrics_dir / "counter_1.db").exists(), "the metrics directory was emptied"

    # New connections each time, so the kernel hands them to either process.
    sent = 0

    def send_batch() -> dict[int, float]:
        nonlocal sent
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(
                pool.map(
                    lambda _: httpx.get(f"{base}/health/live", timeout=5).status_code, range(16)
                )
            )
        assert statuses == [200] * 16
        sent += 16
        counted = live_requests_by_process(metrics_dir)
        return counted if len(counted) == 2 else {}

    counted = eventually_sync(
        send_batch, seconds=15, message="both API processes did not answer requests"
    )
    api_processes = {child.pid for child in psutil.Process(process.pid).children()}
    assert set(counted) <= api_processes, "the counts come from the API processes"

    # Whichever process answers the scrape reports the sum over both.
    eventually_sync(
        lambda: scraped(base, LIVE_ROUTE) == sent,
        seconds=5,
        message=lambda: f"/metrics did not count {sent} requests: {scraped(base, LIVE_ROUTE)}",
    )
    assert scraped(base, "medhub_db_pool_size") == 2 * POOL_SIZE, "one pool per process"

    # Both processes stood for election (each keeps its connection), one won, and
    # exactly one job worker runs.
    eventually_sync(
        lambda: (
            count(
                admin,
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database()",
                APPLICATION_NAME,
            )
            == 2
        ),
        seconds=10,
        message="both processes did not stand for election",
    )
    assert len(lock_holders(admin)) == 1
    eventually_sync(
        lambda: len(worker_ids(admin)) == 1,
        seconds=10,
        message="the elected process did not start its job worker",
    )

    # The elected process dies without a word: another takes the worker over within a
    # retry interval, uvicorn replaces the dead one, whose requests still count and
    # whose pool gauges a scrape drops.
    [(_, holder_port)] = lock_holders(admin)
    [holder] = [
        child
        for child in psutil.Process(process.pid).children()
        if any(c.laddr.port == holder_port for c in child.net_connections("tcp"))
    ]
    [dead_worker] = worker_ids(admin)
    holder.kill()

    def new_holder() -> psutil.Process | None:
        holders = lock_holders(admin)
        if len(holders) != 1:
            return None
        [(_, port)] = holders
        owners = [
            child
            for child in psutil.Process(process.pid).children()
            if child.pid != holder.pid
            and any(c.laddr.port == port for c in child.net_connections("tcp"))
        ]
        return owners[0] if owners else None

    # The survivor at its next try, or the replacement uvicorn starts, if it is quicker.
    eventually_sync(new_holder, seconds=RETRY_SECONDS + 5, message="nobody took over")
    eventually_sync(
        lambda: len(worker_ids(admin)) == 2, seconds=5, message="no worker after the takeover"
    )

    def pool_gauges_of_the_living() -> bool:
        total = scraped(base, "medhub_db_pool_size")  # a scrape forgets the dead
        writers = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("gauge_livesum_*")}
        return total == 2 * POOL_SIZE and len(writers) == 2 and holder.pid not in writers

    # A deadline, not a wait: the replacement process starts its app (pool, LISTEN) first,
    # which took over 15 s once under the whole parallel suite on the 2-core CI machine.
    eventually_sync(
        pool_gauges_of_the_living,
        seconds=40,
        message=lambda: f"pool gauges after the restart: {scraped(base, 'medhub_db_pool_size')}",
    )
    assert scraped(base, LIVE_ROUTE) == sent

    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    # Only the killed process's row is left (procrastinate prunes it once stale).
    assert worker_ids(admin) == [dead_worker], "the job worker stopped cleanly"
    assert lock_holders(admin) == []
    assert list(metrics_dir.glob("gauge_live*")) == [], output
