"""`python -m bench [scenario ...]`: MedHub against the baseline, on one fresh embedded database.

Per run: a temporary DATA_DIR; `medhub serve` on it (which initialises and
migrates the embedded PostgreSQL); the baseline on the same database as the
application role; then, per scenario, interleaved rounds of load from a
separate process (medhub, baseline, medhub, baseline, ...). Everything started
is stopped, and the directory removed, however the run ends.

Job scenarios (email-burst) are not HTTP load: each runs in a child process on
a fresh embedded database of its own (bench/burst.py), after the HTTP ones.

`--workers 1,2` runs the HTTP scenarios once per worker count, each time on fresh
servers (and database) with that many worker processes each.

`python -m bench load ...` is the 1,000-user load test of MedHub alone (bench/users.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench import REPO_ROOT, RESULTS_DIR
from bench.burst import JOB_SCENARIOS, BurstConfig, BurstError, run_email_burst
from bench.clinical import CLINICAL_SCENARIOS
from bench.driver import MAX_CONNECTIONS, MAX_DURATION_S
from bench.hashing import HashParams, HashRate, measure_hash_rate
from bench.load import LoadError, LoadResult, LoadSettings, resolve_driver, run_load
from bench.prescriptions import PRESCRIPTION_SCENARIOS
from bench.report import (
    JobScenarioReport,
    Round,
    RunInfo,
    ScenarioReport,
    markdown,
    write_results,
)
from bench.scenarios import (
    SCENARIOS,
    TARGETS,
    FieldKeys,
    RequestSpec,
    Scenario,
    SetupContext,
    SetupError,
)
from bench.services import (
    BASELINE_READY_TIMEOUT_S,
    BASELINE_STOP_TIMEOUT_S,
    DEFAULT_REDIS_URL,
    MEDHUB_READY_TIMEOUT_S,
    MEDHUB_STOP_TIMEOUT_S,
    Service,
    ServiceError,
    admin_database_url,
    app_database_url,
    request_status,
    resolve_hash_params,
    start_baseline,
    start_medhub,
    stop_orphaned_postgres,
    stop_service,
    wait_ready,
)

# Every HTTP scenario: MedPharm's and the platform's, the clinical ones, then the
# prescriptions'.
HTTP_SCENARIOS: dict[str, Scenario] = {
    **SCENARIOS,
    **CLINICAL_SCENARIOS,
    **PRESCRIPTION_SCENARIOS,
}
MAX_ROUNDS = 20
MAX_EMAILS = 100_000
MAX_WORKERS = 8
# Scenarios whose requests verify a password: the runner measures raw hashes/s first.
HASHING_SCENARIOS = frozenset({"login"})
HASH_RATE_SECONDS = 2.0


class ScenarioError(Exception):
    """A scenario's request does not get its expected answer before any load is sent."""


def _progress(message: str) -> None:
    # stderr, so stdout carries only the markdown tables.
    print(message, file=sys.stderr, flush=True)


def worker_counts(text: str) -> tuple[int, ...]:
    """`--workers 1,2`: the worker counts to run the scenarios with, in order, each once."""
    try:
        counts = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected worker counts like 1 or 1,2, got {text!r}"
        ) from None
    if not counts or not all(1 <= count <= MAX_WORKERS for count in counts):
        raise argparse.ArgumentTypeError(f"worker counts must be between 1 and {MAX_WORKERS}")
    return counts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark MedHub against a minimal Starlette + psycopg baseline. "
        "`python -m bench load --help`: the 1,000-user load test of MedHub alone.",
    )
    parser.add_argument(
        "scenarios",
        nargs="*",
        metavar="scenario",
        help=f"Scenarios to run: {', '.join(ALL_SCENARIOS)} or all (default: all)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="Measured seconds per round")
    parser.add_argument("--warmup", type=float, default=2.0, help="Unmeasured seconds before each")
    parser.add_argument("--connections", type=int, default=64, help="Concurrent connections")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds per target (median shown)")
    parser.add_argument("--driver", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        help="wrk threads (default 1: on 2 cores one thread out-runs a one-worker server "
        "and leaves the other core to it and PostgreSQL)",
    )
    parser.add_argument(
        "--workers",
        type=worker_counts,
        default=(1,),
        help="Worker processes of each server (medhub serve --workers N, uvicorn --workers N "
        "for the baseline); a list such as 1,2 runs the scenarios once per count, each on "
        "fresh servers, and prints a set of tables for each (default: 1)",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="With more than one worker: MedHub's REDIS_URL; this database is flushed "
        f"(FLUSHDB) first (default: {DEFAULT_REDIS_URL})",
    )
    burst = BurstConfig()
    parser.add_argument(
        "--emails", type=int, default=burst.emails, help="email-burst: messages per round"
    )
    parser.add_argument(
        "--email-workers",
        type=int,
        default=burst.workers,
        help="email-burst: job workers (run_worker) in the one process",
    )
    parser.add_argument(
        "--email-concurrency",
        type=int,
        default=burst.concurrency,
        help="email-burst: jobs each worker runs at once (the baseline sends workers x this)",
    )
    parser.add_argument(
        "--email-batch",
        type=int,
        default=burst.batch,
        help="email-burst: queue_email calls per committed transaction",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.emails <= MAX_EMAILS:
        parser.error(f"--emails must be between 1 and {MAX_EMAILS:,}")
    if min(args.email_workers, args.email_concurrency, args.email_batch) < 1:
        parser.error("--email-workers, --email-concurrency and --email-batch must be at least 1")
    if not 0 < args.duration <= MAX_DURATION_S or not 0 <= args.warmup <= MAX_DURATION_S:
        parser.error(f"--duration and --warmup must be at most {MAX_DURATION_S:.0f} s")
    if not 1 <= args.connections <= MAX_CONNECTIONS:
        parser.error(f"--connections must be between 1 and {MAX_CONNECTIONS}")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be between 1 and {MAX_ROUNDS}")
    if args.wrk_threads < 1:
        parser.error("--wrk-threads must be at least 1")
    unknown = [name for name in args.scenarios if name != "all" and name not in ALL_SCENARIOS]
    if "load" in unknown:
        parser.error("`load` is a command of its own, first: python -m bench load [options]")
    if unknown:
        parser.error(
            f"unknown scenario(s): {', '.join(unknown)} "
            f"(choose from {', '.join(ALL_SCENARIOS)}, all)"
        )
    return args


def scenario_names(requested: Sequence[str]) -> list[str]:
    """The scenarios to run, in the order given, each once; "all" (or none) means every one."""
    names: list[str] = []
    for name in requested or ["all"]:
        for expanded in ALL_SCENARIOS if name == "all" else [name]:
            if expanded not in names:
                names.append(expanded)
    return names


def _commit() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if changes else head


def _prepare_requests(
    scenario: Scenario,
    services: dict[str, Service],
    data_dir: Path,
    field_keys: FieldKeys | None = None,
) -> dict[str, RequestSpec]:
    """Run the setup hook for each target, then check each answers as expected once."""
    state: dict[str, object] = {}
    requests: dict[str, RequestSpec] = {}
    for target in TARGETS:
        service = services[target]
        spec = scenario.request()
        if scenario.setup is not None:
            context = SetupContext(
                target=target,
                base_url=service.base_url,
                medhub_url=services["medhub"].base_url,
                admin_database_url=admin_database_url(data_dir),
                app_database_url=app_database_url(data_dir),
                data_dir=data_dir,
                request=spec,
                state=state,
                field_keys=field_keys,
            )
            spec = scenario.setup(context) or spec
        status = request_status(service.port, spec)
        if not spec.answers(status):
            raise ScenarioError(
                f"{target} answered {spec.method} {spec.first_path()} with {status}, "
                f"expected {spec.expect_status}:\n{service.log_tail()}"
            )
        requests[target] = spec
    return requests


def _describe(result: LoadResult) -> str:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    accepted = f", {result.accepted} accepted" if result.accepted else ""
    return (
        f"{result.rps:,.1f} req/s, p50 {ms(result.p50_ms)} ms, p95 {ms(result.p95_ms)} ms, "
        f"p99 {ms(result.p99_ms)} ms, {result.errors} errors{accepted}"
    )


def run_scenario(
    name: str,
    scenario: Scenario,
    services: dict[str, Service],
    data_dir: Path,
    *,
    settings: LoadSettings,
    rounds: int,
    workers: int = 1,
    field_keys: FieldKeys | None = None,
) -> ScenarioReport:
    requests = _prepare_requests(scenario, services, data_dir, field_keys)
    report = ScenarioReport(
        name=name,
        description=scenario.description,
        method=scenario.method,
        path=scenario.path,
        workers=workers,
    )
    label = name if workers == 1 else f"{name}, {workers} workers"
    # Interleaved, so drift over the run (thermal, caches, autovacuum) hits both targets alike.
    for number in range(1, rounds + 1):
        for target in TARGETS:
            result = run_load(services[target].base_url, requests[target], settings)
            report.rounds.append(Round(target=target, number=number, result=result))
            _progress(f"[{label}] round {number}/{rounds} {target}: {_describe(result)}")
    if scenario.accept_statuses:
        _add_accepted(report, scenario)
    return report


def _add_accepted(report: ScenarioReport, scenario: Scenario) -> None:
    """How the answers split between the expected status and the accepted ones (their
    req/s counts both; only other statuses are errors)."""
    accepted = "/".join(map(str, scenario.accept_statuses))
    parts = []
    for target in TARGETS:
        results = [r.result for r in report.rounds if r.target == target]
        extra = sum(r.accepted for r in results)
        expected = sum(r.requests - r.errors - r.accepted for r in results)
        parts.append(f"{target} {expected:,} x {scenario.expect_status} + {extra:,} x {accepted}")
        report.extra[f"{target}_answers"] = {
            str(scenario.expect_status): expected,
            accepted: extra,
        }
    report.notes.append(
        f"Answers over all rounds (req/s counts both, errors are any other status): "
        f"{'; '.join(parts)}."
    )


def _start_services(
    stack: ExitStack,
    data_dir: Path,
    hash_params: HashParams,
    workers: int,
    redis_url: str,
    *,
    field_keys: FieldKeys,
) -> dict[str, Service]:
    log_dir = data_dir / "logs"
    log_dir.mkdir()
    # One signing secret per run, given to both: each verifies the tokens the other signs.
    jwt_secret = secrets.token_urlsafe(48)
    # Callbacks run last-registered first: baseline, then medhub (which stops the
    # embedded PostgreSQL), then the safety net for a PostgreSQL left running.
    stack.callback(stop_orphaned_postgres, data_dir)
    medhub = start_medhub(
        data_dir,
        log_dir,
        jwt_secret=jwt_secret,
        hash_params=hash_params,
        workers=workers,
        redis_url=redis_url,
        field_keys=field_keys,
    )
    stack.callback(stop_service, medhub, MEDHUB_STOP_TIMEOUT_S)
    processes = f"{workers} workers, REDIS_URL flushed, " if workers > 1 else ""
    _progress(f"medhub: starting on {medhub.base_url} ({processes}DATA_DIR={data_dir})")
    seconds = wait_ready(medhub, MEDHUB_READY_TIMEOUT_S)
    _progress(f"medhub: ready after {seconds:.1f} s")
    baseline = start_baseline(
        data_dir,
        log_dir,
        jwt_secret=jwt_secret,
        hash_params=hash_params,
        workers=workers,
        field_keys=field_keys,
    )
    stack.callback(stop_service, baseline, BASELINE_STOP_TIMEOUT_S)
    seconds = wait_ready(baseline, BASELINE_READY_TIMEOUT_S)
    _progress(f"baseline: ready on {baseline.base_url} after {seconds:.1f} s")
    return {"medhub": medhub, "baseline": baseline}


def _measure_hashing(params: HashParams) -> HashRate:
    _progress(f"hashing: {params.describe()} for {HASH_RATE_SECONDS:g} s ...")
    rate = measure_hash_rate(params, HASH_RATE_SECONDS)
    _progress(f"hashing: {rate.per_second:,.1f} hashes/s")
    return rate


def _add_hash_rate(report: ScenarioReport, rate: HashRate) -> None:
    report.notes.append(rate.describe())
    report.extra["hash_rate"] = {
        "hashes_per_s": round(rate.per_second, 2),
        "hashes": rate.hashes,
        "seconds": round(rate.seconds, 3),
        "memory_kib": rate.params.memory_kib,
        "iterations": rate.params.iterations,
        "parallelism": rate.params.parallelism,
        "threads": rate.params.workers,
        "load_average": rate.load_average,
    }


def _p50_and_service_ms(
    me: ScenarioReport, health: ScenarioReport, target: str
) -> tuple[float, float, float, float | None] | None:
    """(me p50, health p50, p50 added, service time added = 1/rps difference) in ms."""
    ours, base = me.summary(target), health.summary(target)
    if ours.p50_ms is None or base.p50_ms is None:
        return None
    service = 1000 / ours.rps - 1000 / base.rps if ours.rps and base.rps else None
    return ours.p50_ms, base.p50_ms, ours.p50_ms - base.p50_ms, service


def _add_me_vs_health(reports: list[ScenarioReport], connections: int) -> None:
    """What authentication and the profile query add to MedHub's cheapest route, at p50.

    Under saturating load p50 is mostly queueing (about connections / req/s), so the
    note also gives the difference in service time per request, 1 / req/s.
    """
    by_name = {report.name: report for report in reports}
    if "me" not in by_name or "health" not in by_name:
        return
    me, health = by_name["me"], by_name["health"]
    added = {target: _p50_and_service_ms(me, health, target) for target in TARGETS}
    ours, theirs = added["medhub"], added["baseline"]
    if ours is None:
        return

    def service(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f} ms"

    line = (
        f"MedHub: token validation + profile query add {ours[2]:.2f} ms at p50 "
        f"(me {ours[0]:.2f} ms vs health {ours[1]:.2f} ms, same run, {connections} "
        f"connections, so mostly queueing) and {service(ours[3])} of service time per "
        "request (1 / req/s)"
    )
    if theirs is not None:
        line += f"; baseline: {theirs[2]:.2f} ms at p50, {service(theirs[3])} per request"
    me.notes.append(line + ".")
    me.extra["added_over_health_ms"] = {
        target: {"p50": round(values[2], 3), "service": _rounded(values[3])}
        for target, values in added.items()
        if values is not None
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _run_with_workers(
    names: list[str],
    settings: LoadSettings,
    rounds: int,
    hash_params: HashParams,
    *,
    workers: int,
    redis_url: str,
) -> list[ScenarioReport]:
    """Every scenario against servers of `workers` processes each, on a fresh database."""
    data_dir = Path(tempfile.mkdtemp(prefix="medhub-bench-"))
    # One set of column keys per run, given to MedHub, the baseline and the setup hooks.
    field_keys = FieldKeys.generate()
    try:
        with ExitStack() as stack:
            services = _start_services(
                stack, data_dir, hash_params, workers, redis_url, field_keys=field_keys
            )
            reports = [
                run_scenario(
                    name,
                    HTTP_SCENARIOS[name],
                    services,
                    data_dir,
                    settings=settings,
                    rounds=rounds,
                    workers=workers,
                    field_keys=field_keys,
                )
                for name in names
            ]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    _add_me_vs_health(reports, settings.connections)
    return reports


def run(
    names: list[str],
    settings: LoadSettings,
    rounds: int,
    *,
    workers: Sequence[int] = (1,),
    redis_url: str = DEFAULT_REDIS_URL,
) -> list[ScenarioReport]:
    names = [name for name in names if name in HTTP_SCENARIOS]
    if not names:
        return []
    hash_params = resolve_hash_params()
    # Before the servers start, so nothing else competes for the cores.
    hash_rate = _measure_hashing(hash_params) if HASHING_SCENARIOS & set(names) else None
    reports: list[ScenarioReport] = []
    for count in workers:
        reports += _run_with_workers(
            names, settings, rounds, hash_params, workers=count, redis_url=redis_url
        )
    for report in reports:
        if hash_rate is not None and report.name in HASHING_SCENARIOS:
            _add_hash_rate(report, hash_rate)
    return reports


def _describe_burst(config: BurstConfig, report: JobScenarioReport) -> list[str]:
    medhub = report.summary("medhub")
    if report.complete:
        check = (
            f"None lost: in every round the sink received each of the {config.emails:,} "
            "messages exactly once (distinct Message-IDs), every MedHub row is `sent` and "
            "every delivery job `succeeded`."
        )
    else:
        check = (
            f"MESSAGES LOST OR DUPLICATED: {report.summary('medhub').lost} lost and "
            f"{medhub.duplicates} duplicated by MedHub, {report.summary('baseline').lost} lost "
            f"by the baseline, {medhub.incomplete_rounds} incomplete MedHub round(s); see the "
            "rounds in the JSON."
        )
    defer = "n/a" if medhub.defer_per_second is None else f"{medhub.defer_per_second:,.0f} emails/s"
    return [
        check,
        f"MedHub: {config.workers} `run_worker` x concurrency {config.concurrency} in one "
        "process (wait=False: timed from their start until the queue is empty), "
        "EMAIL_BACKEND=smtp, one SMTP connection per message; each job reads its row, "
        "builds the MIME message, sends, and records the result. Before that (not in "
        f"emails/s), `queue_email` rendered and deferred them in transactions of "
        f"{config.batch}: {defer} (median round). Baseline: `aiosmtplib.send` from "
        f"{config.senders} coroutines, messages built beforehand. The sink (aiosmtpd) runs in "
        "a process of its own; it is what bounds the baseline.",
    ]


def run_email_burst_scenario(name: str, config: BurstConfig) -> JobScenarioReport:
    work_dir = Path(tempfile.mkdtemp(prefix=f"medhub-bench-{name}-"))
    _progress(f"[{name}] {config.emails:,} emails x {config.rounds} round(s) per target ...")
    try:
        rounds = run_email_burst(config, work_dir)
    finally:
        stop_orphaned_postgres(work_dir)
        shutil.rmtree(work_dir, ignore_errors=True)
    report = JobScenarioReport(
        name=name, description=JOB_SCENARIOS[name], config=config, rounds=rounds
    )
    for item in rounds:
        _progress(
            f"[{name}] round {item.number}/{config.rounds} {item.target}: "
            f"{item.per_second:,.1f} emails/s, {item.seconds:.2f} s, "
            f"{item.unique:,}/{item.emails:,} delivered, {item.duplicates} duplicates"
        )
    report.notes.extend(_describe_burst(config, report))
    return report


# The scenarios that are not HTTP load, each with the function that runs it.
JOB_RUNNERS: dict[str, Callable[[str, BurstConfig], JobScenarioReport]] = {
    "email-burst": run_email_burst_scenario,
}


# In-process scenarios: no servers, a child process each (bench/overhead.py).
IN_PROCESS_SCENARIOS = ("overhead",)

# Every scenario, HTTP load first, then the job scenarios, then the in-process ones.
ALL_SCENARIOS = [*HTTP_SCENARIOS, *JOB_RUNNERS, *IN_PROCESS_SCENARIOS]


def run_in_process_scenarios(names: list[str], rounds: int) -> str:
    """Each in-process scenario in a child process of its own (a fresh embedded
    database, nothing else running); returns their markdown tables."""
    tables: list[str] = []
    for name in names:
        if name not in IN_PROCESS_SCENARIOS:
            continue
        _progress(f"[{name}] {rounds} round(s) in process ...")
        completed = subprocess.run(
            [sys.executable, "-m", f"bench.{name}", "--rounds", str(rounds)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise ScenarioError(f"{name} failed:\n{completed.stderr[-2000:]}")
        tables.append(completed.stdout.strip())
    return "\n\n".join(tables)


def run_job_scenarios(names: list[str], config: BurstConfig) -> list[JobScenarioReport]:
    return [JOB_RUNNERS[name](name, config) for name in names if name in JOB_RUNNERS]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same clean-up path as Ctrl-C.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["load"]:
        # Imported here: the load test is its own command with its own options.
        from bench import users  # noqa: PLC0415

        return users.main(arguments[1:])
    args = parse_args(arguments)
    signal.signal(signal.SIGTERM, _interrupt)
    names = scenario_names(args.scenarios)
    started_at = datetime.now(UTC)
    try:
        settings = LoadSettings(
            driver=resolve_driver(args.driver),
            connections=args.connections,
            duration=args.duration,
            warmup=args.warmup,
            wrk_threads=args.wrk_threads,
        )
        counts = ", ".join(map(str, args.workers))
        _progress(f"driver: {settings.driver}; scenarios: {', '.join(names)}; workers: {counts}")
        reports = run(names, settings, args.rounds, workers=args.workers, redis_url=args.redis_url)
        burst = BurstConfig(
            emails=args.emails,
            workers=args.email_workers,
            concurrency=args.email_concurrency,
            batch=args.email_batch,
            rounds=args.rounds,
        )
        job_reports = run_job_scenarios(names, burst)
        in_process = run_in_process_scenarios(names, args.rounds)
    except KeyboardInterrupt:
        _progress("bench: interrupted; servers stopped and the temporary directory removed")
        return 130
    except (ServiceError, ScenarioError, SetupError, LoadError, BurstError) as exc:
        _progress(f"bench: {exc}")
        return 1
    info = RunInfo(
        started_at=started_at,
        settings=settings,
        rounds=args.rounds,
        cpus=os.cpu_count(),
        python=platform.python_version(),
        commit=_commit(),
        workers=tuple(args.workers),
    )
    print(markdown(info, reports, job_reports))
    if in_process:
        print(in_process)
    json_path, md_path = write_results(RESULTS_DIR, info, reports, job_reports)
    _progress(f"results: {json_path.relative_to(REPO_ROOT)}, {md_path.relative_to(REPO_ROOT)}")
    incomplete = [report.name for report in job_reports if not report.complete]
    if incomplete:
        _progress(f"bench: {', '.join(incomplete)} lost or duplicated messages (see above)")
        return 1
    return 0
