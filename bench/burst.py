"""The `email-burst` scenario's settings and results, and the runner side that starts it.

Not an HTTP-load scenario: the measurement runs in a child process
(`python -m bench.email_burst`, see that module) against a fresh embedded
database of its own and a local SMTP sink, and prints its rounds as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import REPO_ROOT

# Variables that would point the child at another database than its fresh embedded one.
DATABASE_VARIABLES = ("DATABASE_URL", "DATABASE_ADMIN_URL", "DATABASE_READ_URL")
JSON_MARKER = "BENCH_BURST_JSON "
# Start-up (initdb, migrations) plus every round; a stuck round fails the run.
CHILD_TIMEOUT_S = 900.0
TARGETS = ("medhub", "baseline")

# Scenarios that are not HTTP load: name -> what it measures (the runner knows how to run each).
JOB_SCENARIOS: dict[str, str] = {
    "email-burst": (
        "Defer N emails with MedHub's queue_email (committed in batches), then drain them "
        "with in-process job workers (EMAIL_BACKEND=smtp) into a local SMTP sink; the "
        "baseline sends as many prebuilt messages with raw aiosmtplib at the same concurrency"
    ),
}


class BurstError(Exception):
    """The email-burst child failed; the message carries its output."""


@dataclass(frozen=True)
class BurstConfig:
    emails: int = 2000
    workers: int = 2  # run_worker calls in the one process
    concurrency: int = 8  # jobs each worker runs at once
    batch: int = 100  # queue_email calls per transaction
    rounds: int = 2  # per target, interleaved

    @property
    def senders(self) -> int:
        """Messages in flight at once, on each side."""
        return self.workers * self.concurrency

    def argv(self) -> list[str]:
        return [
            f"--emails={self.emails}",
            f"--workers={self.workers}",
            f"--concurrency={self.concurrency}",
            f"--batch={self.batch}",
            f"--rounds={self.rounds}",
        ]


@dataclass(frozen=True)
class BurstRound:
    target: str  # "medhub" or "baseline"
    number: int
    emails: int  # messages asked for
    seconds: float  # from the first send (medhub: workers started) to the last delivered
    delivered: int  # messages the sink accepted in this round
    unique: int  # distinct Message-IDs among them
    rows_sent: int | None = None  # medhub: email_messages rows of this round marked sent
    jobs_not_succeeded: int | None = None  # medhub: delivery jobs of this round left over
    defer_seconds: float | None = None  # medhub: queue_email for all of them, committed

    @property
    def per_second(self) -> float:
        return self.unique / self.seconds if self.seconds > 0 else 0.0

    @property
    def lost(self) -> int:
        return self.emails - self.unique

    @property
    def duplicates(self) -> int:
        return self.delivered - self.unique

    @property
    def complete(self) -> bool:
        """Every message arrived once and (for MedHub) every row says so."""
        rows_ok = self.rows_sent is None or self.rows_sent == self.emails
        jobs_ok = not self.jobs_not_succeeded
        return self.lost == 0 and self.duplicates == 0 and rows_ok and jobs_ok

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": round(self.per_second, 2)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BurstRound:
        fields = {key: value for key, value in data.items() if key != "per_second"}
        return cls(**fields)


def run_email_burst(config: BurstConfig, work_dir: Path) -> list[BurstRound]:
    """Run the child in `work_dir` (its DATA_DIR); its rounds, or BurstError with its log."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key not in DATABASE_VARIABLES}
    # The child imports the bench package from the project; it runs in its own directory
    # so that a developer's .env cannot point it at another database.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    log_path = work_dir / "email-burst.log"
    argv = [sys.executable, "-m", "bench.email_burst", f"--data-dir={work_dir}", *config.argv()]
    with log_path.open("wb") as log:
        try:
            completed = subprocess.run(
                argv,
                cwd=work_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                timeout=CHILD_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BurstError(
                f"email-burst did not finish within {CHILD_TIMEOUT_S:.0f} s:\n{_tail(log_path)}"
            ) from exc
    output = completed.stdout.decode(errors="replace")
    lines = [line for line in output.splitlines() if line.startswith(JSON_MARKER)]
    if completed.returncode != 0 or not lines:
        raise BurstError(
            f"email-burst exited with {completed.returncode}:\n{output[-2000:]}{_tail(log_path)}"
        )
    data = json.loads(lines[-1].removeprefix(JSON_MARKER))
    return [BurstRound.from_json(item) for item in data["rounds"]]


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""
