"""The password-hashing parameters both servers use, and a raw Argon2id hashes/s measurement.

Every login verifies one Argon2id hash in a small thread pool, so the hashes per
second that pool can do bounds login throughput, whatever the web layers cost.
The runner resolves the parameters once (bench.services.resolve_hash_params: the
environment, else MedHub's setting defaults) and gives the same values to MedHub
and to the baseline.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pwdlib.hashers.argon2 import Argon2Hasher

# MedHub's setting name for each field, read from the same environment variables.
ENV_NAMES = {
    "memory_kib": "PASSWORD_HASH_MEMORY_KIB",
    "iterations": "PASSWORD_HASH_ITERATIONS",
    "parallelism": "PASSWORD_HASH_PARALLELISM",
    "workers": "PASSWORD_HASH_WORKERS",
}


@dataclass(frozen=True)
class HashParams:
    memory_kib: int
    iterations: int
    parallelism: int
    workers: int  # threads hashing at once (MedHub's dedicated executor)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HashParams:
        """What the runner put in a server's environment (the baseline reads this)."""
        return cls(**{field: int(environ[name]) for field, name in ENV_NAMES.items()})

    def as_env(self) -> dict[str, str]:
        return {name: str(getattr(self, field)) for field, name in ENV_NAMES.items()}

    def hasher(self) -> Argon2Hasher:
        return Argon2Hasher(
            memory_cost=self.memory_kib, time_cost=self.iterations, parallelism=self.parallelism
        )

    def describe(self) -> str:
        return (
            f"Argon2id m={self.memory_kib} KiB, t={self.iterations}, p={self.parallelism}, "
            f"{self.workers} thread{'s' if self.workers != 1 else ''}"
        )


@dataclass(frozen=True)
class HashRate:
    params: HashParams
    hashes: int
    seconds: float
    load_average: float | None  # 1-minute, just before: other work on the machine skews it

    @property
    def per_second(self) -> float:
        return self.hashes / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        load = "" if self.load_average is None else f", load average {self.load_average:.2f}"
        return (
            f"Raw password hashing, measured in the runner before the servers started: "
            f"{self.per_second:,.1f} hashes/s ({self.params.describe()}; "
            f"{self.hashes} hashes in {self.seconds:.1f} s{load}). Each login verifies one "
            "hash, so on an otherwise idle machine neither server logs in faster than this."
        )


def measure_hash_rate(params: HashParams, seconds: float = 2.0) -> HashRate:
    """Hash on `params.workers` threads for about `seconds`; argon2 releases the GIL."""
    try:
        load_average: float | None = os.getloadavg()[0]  # before our own threads add to it
    except OSError:
        load_average = None
    hasher = params.hasher()
    password = secrets.token_urlsafe(16)
    hasher.hash(password)  # warm: first-call set-up is not part of the rate
    lock = threading.Lock()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds

    def work() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            hasher.hash(password)
            with lock:
                count += 1

    with ThreadPoolExecutor(max_workers=params.workers, thread_name_prefix="bench-hash") as pool:
        for future in [pool.submit(work) for _ in range(params.workers)]:
            future.result()
    elapsed = time.perf_counter() - started
    return HashRate(params=params, hashes=count, seconds=elapsed, load_average=load_average)
