"""Start, probe and stop the two servers under test: MedHub and the baseline."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis

from bench import REPO_ROOT
from bench.hashing import ENV_NAMES, HashParams
from bench.scenarios import FieldKeys, RequestSpec

# No py.typed in the project package: Settings is Any here; only its field defaults are read.
from medhub.config import Settings  # type: ignore[import-untyped]

HOST = "127.0.0.1"
MEDHUB_READY_TIMEOUT_S = 60.0
BASELINE_READY_TIMEOUT_S = 30.0
# uvicorn's graceful shutdown in `medhub serve` waits up to 30 s, then the embedded server stops.
MEDHUB_STOP_TIMEOUT_S = 60.0
BASELINE_STOP_TIMEOUT_S = 15.0
# Variables that would point MedHub at another database than the fresh embedded one.
DATABASE_VARIABLES = ("DATABASE_URL", "DATABASE_ADMIN_URL", "DATABASE_READ_URL")
EMBEDDED_DATABASE = "medhub"
APP_ROLE = "medhub_app"
# The bench measures the request path, not the rate limiter: with it on, MedHub would
# answer most of the load with 429 (login allows 5 per 15 minutes per IP).
# Access tokens live for the longest TTL MedHub allows, so the token one setup hook
# gets stays valid for every round of a long run.
MEDHUB_BENCH_ENV = {"RATE_LIMIT_ENABLED": "false", "ACCESS_TOKEN_TTL_MINUTES": "1440"}
# More than one MedHub worker process shares its state through Redis (REDIS_URL): this
# local database, emptied (FLUSHDB) before MedHub starts. `--redis-url` picks another.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"


class ServiceError(Exception):
    """A server under test failed to start or answer; the message carries its log tail."""


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log_handle: IO[bytes]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, size: int = 3000) -> str:
        self.log_handle.flush()
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""


def pgdata_dir(data_dir: Path) -> Path:
    return data_dir / "pgdata"


def admin_database_url(data_dir: Path) -> str:
    """The embedded server's superuser over its Unix socket directory (trust auth)."""
    return f"postgresql://postgres@/{EMBEDDED_DATABASE}?host={pgdata_dir(data_dir)}"


def app_database_url(data_dir: Path) -> str:
    return f"postgresql://{APP_ROLE}@/{EMBEDDED_DATABASE}?host={pgdata_dir(data_dir)}"


def resolve_hash_params() -> HashParams:
    """PASSWORD_HASH_* from this environment when set (MedHub would read them), else
    MedHub's defaults; the runner then sets them explicitly for both servers."""
    values: dict[str, int] = {}
    for field_name, env_name in ENV_NAMES.items():
        raw = os.environ.get(env_name)
        values[field_name] = int(raw) if raw else int(Settings.model_fields[env_name].default)
    return HashParams(**values)


def free_port() -> int:
    # The kernel picks an unused port; it stays free for the moment until the server binds it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(name: str, argv: list[str], env: dict[str, str], cwd: Path, log_dir: Path) -> Service:
    port = int(argv[argv.index("--port") + 1])
    log_path = log_dir / f"{name}.log"
    log_handle = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_handle,
        stderr=subprocess.STDOUT,
        # Own session: a Ctrl-C in the terminal reaches only the runner, which then
        # stops each server once, in order, instead of all of them at the same instant.
        start_new_session=True,
    )
    return Service(name=name, port=port, process=process, log_path=log_path, log_handle=log_handle)


def flush_redis(url: str) -> None:
    """Empty the Redis database MedHub's workers will share (FLUSHDB: that one only)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        raise ServiceError(
            f"Redis at {mask_redis_url(url)} is needed for more than one MedHub worker "
            f"(REDIS_URL): {exc}"
        ) from exc
    finally:
        client.close()


def mask_redis_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rpartition('@')[2]}"
    return url


def start_medhub(
    data_dir: Path,
    log_dir: Path,
    *,
    jwt_secret: str,
    hash_params: HashParams,
    workers: int = 1,
    redis_url: str = DEFAULT_REDIS_URL,
    extra_env: Mapping[str, str] | None = None,
    field_keys: FieldKeys | None = None,
) -> Service:
    """`medhub serve` on a free port and a fresh embedded database under data_dir.

    With workers > 1, `--workers N` and REDIS_URL (the database is flushed first).
    With `field_keys`, the keys of the encrypted columns and the prescription signing
    key (else development generates them into DATA_DIR/secrets.json)."""
    env = {key: value for key, value in os.environ.items() if key not in DATABASE_VARIABLES}
    env |= {"DATA_DIR": str(data_dir), "ENV": "development", "LOG_LEVEL": "WARNING"}
    # The same signing secret and hash parameters go to the baseline (start_baseline).
    env |= MEDHUB_BENCH_ENV | {"JWT_SECRET": jwt_secret} | hash_params.as_env()
    if field_keys is not None:
        env |= {
            "FIELD_ENCRYPTION_KEYS": field_keys.encryption_keys,
            "FIELD_INDEX_KEY": field_keys.index_key,
        }
        if field_keys.prescription_signing_key:
            env["PRESCRIPTION_SIGNING_KEY"] = field_keys.prescription_signing_key
    env |= dict(extra_env or {})
    argv = [sys.executable, "-m", "medhub", "serve", "--host", HOST, "--port", str(free_port())]
    if workers > 1:
        flush_redis(redis_url)
        env["REDIS_URL"] = redis_url
        argv += ["--workers", str(workers)]
    # cwd is the temporary DATA_DIR so that a developer's .env (which the settings read
    # from the working directory) cannot point this run at another database.
    return _spawn("medhub", argv, env, data_dir, log_dir)


def start_baseline(
    data_dir: Path,
    log_dir: Path,
    *,
    jwt_secret: str,
    hash_params: HashParams,
    workers: int = 1,
    field_keys: FieldKeys | None = None,
) -> Service:
    env = dict(os.environ)
    env["BASELINE_DATABASE_URL"] = app_database_url(data_dir)
    env["BASELINE_JWT_SECRET"] = jwt_secret
    if field_keys is not None:
        # The clinical routes decrypt and search MedHub's encrypted columns.
        env["BASELINE_FIELD_ENCRYPTION_KEYS"] = field_keys.encryption_keys
        env["BASELINE_FIELD_INDEX_KEY"] = field_keys.index_key
        # The prescription routes sign (rx-create) and verify (rx-scan) QR tokens.
        env["BASELINE_PRESCRIPTION_SIGNING_KEY"] = field_keys.prescription_signing_key
    env["ACCESS_TOKEN_TTL_MINUTES"] = MEDHUB_BENCH_ENV["ACCESS_TOKEN_TTL_MINUTES"]
    env |= hash_params.as_env()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline:app",
        "--host",
        HOST,
        "--port",
        str(free_port()),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if workers > 1:
        # Each worker process has its own pool of 20, like each MedHub worker.
        argv += ["--workers", str(workers)]
    return _spawn("baseline", argv, env, REPO_ROOT, log_dir)


def request_status(port: int, spec: RequestSpec, timeout: float = 5.0) -> int | None:
    """One request to 127.0.0.1:port (the first variant, when the spec has several);
    its status, or None when nothing answered."""
    headers, body = spec.resolved()[0]
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(spec.method, spec.first_path(), body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_ready(service: Service, timeout: float) -> float:
    """Poll GET /health/ready until 200; return the seconds it took."""
    probe = RequestSpec(method="GET", path="/health/ready")
    started = time.monotonic()
    while True:
        if service.process.poll() is not None:
            raise ServiceError(
                f"{service.name} exited with {service.process.returncode} before it was ready:\n"
                f"{service.log_tail()}"
            )
        if request_status(service.port, probe, timeout=2.0) == 200:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise ServiceError(
                f"{service.name} was not ready within {timeout:.0f} s:\n{service.log_tail()}"
            )
        time.sleep(0.25)


def stop_service(service: Service, timeout: float) -> None:
    """SIGINT (graceful), then SIGTERM, then SIGKILL: to this one process, by its id."""
    process = service.process
    try:
        for sig, wait_s in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0)):
            if process.poll() is not None:
                return
            process.send_signal(sig)
            try:
                process.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                print(f"bench: {service.name} did not stop after {sig.name}", file=sys.stderr)
        process.kill()
        process.wait()
    finally:
        service.log_handle.close()


def stop_orphaned_postgres(data_dir: Path, timeout: float = 30.0) -> None:
    """Stop the embedded PostgreSQL if MedHub exited without stopping it.

    Removing DATA_DIR under a running server would leave it running on deleted
    files. Its pid is read from its own postmaster.pid and checked against its
    command line, so no other process is ever signalled.
    """
    pid_file = pgdata_dir(data_dir) / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return  # no server running, or not a system where we can check it
    if "postgres" not in cmdline or str(pgdata_dir(data_dir)) not in cmdline:
        return
    print(f"bench: stopping the embedded PostgreSQL left running (pid {pid})", file=sys.stderr)
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
