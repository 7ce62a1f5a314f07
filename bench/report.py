"""Summaries (median round per target), the markdown tables, and the files under results/."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.burst import TARGETS as BURST_TARGETS
from bench.burst import BurstConfig, BurstRound
from bench.load import LoadResult, LoadSettings
from bench.scenarios import TARGETS

METRICS = ("rps", "p50_ms", "p95_ms", "p99_ms")


@dataclass(frozen=True)
class Round:
    target: str
    number: int
    result: LoadResult


@dataclass(frozen=True)
class Summary:
    """Each metric is the median over the rounds on its own; errors and requests are totals."""

    rounds: int
    requests: int
    errors: int
    rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass
class ScenarioReport:
    name: str
    description: str
    method: str
    path: str
    # Server processes of each target: `medhub serve --workers N`, uvicorn --workers N.
    workers: int = 1
    rounds: list[Round] = field(default_factory=list)
    # Lines printed under the table: what bounds the scenario, comparisons across scenarios.
    notes: list[str] = field(default_factory=list)
    # The same as numbers, for the JSON (e.g. the raw hashes/s next to login).
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self, target: str) -> Summary:
        results = [r.result for r in self.rounds if r.target == target]
        medians: dict[str, float | None] = {}
        for metric in METRICS:
            values = [v for v in (getattr(r, metric) for r in results) if v is not None]
            medians[metric] = round(statistics.median(values), 3) if values else None
        return Summary(
            rounds=len(results),
            requests=sum(r.requests for r in results),
            errors=sum(r.errors for r in results),
            rps=medians["rps"],
            p50_ms=medians["p50_ms"],
            p95_ms=medians["p95_ms"],
            p99_ms=medians["p99_ms"],
        )

    @property
    def key(self) -> str:
        """The scenario's key in the JSON: its name, with the worker count when not 1."""
        return self.name if self.workers == 1 else f"{self.name}@workers={self.workers}"

    def ratios(self) -> dict[str, float | None]:
        """medhub / baseline for each metric (throughput: below 1 is slower; latency: above 1)."""
        medhub, baseline = self.summary("medhub"), self.summary("baseline")
        ratios: dict[str, float | None] = {}
        for metric in METRICS:
            ours, theirs = getattr(medhub, metric), getattr(baseline, metric)
            ratios[metric] = round(ours / theirs, 2) if ours is not None and theirs else None
        return ratios


@dataclass(frozen=True)
class RunInfo:
    started_at: datetime
    settings: LoadSettings
    rounds: int
    cpus: int | None
    python: str
    commit: str | None
    # One set of tables per worker count, in this order (--workers 1,2).
    workers: tuple[int, ...] = (1,)


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def scenario_markdown(report: ScenarioReport) -> str:
    lines = [
        f"## {report.name}: {report.method} {report.path} ({_workers(report.workers)})",
        "",
        report.description,
        "",
        "| target | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target in TARGETS:
        s = report.summary(target)
        lines.append(
            f"| {target} | {_cell(s.rps, 1)} | {_cell(s.p50_ms, 2)} | {_cell(s.p95_ms, 2)} "
            f"| {_cell(s.p99_ms, 2)} | {s.errors} |"
        )
    ratios = report.ratios()
    lines += [
        "",
        f"ratio = medhub / baseline: req/s {_ratio(ratios['rps'])}, "
        f"p50 {_ratio(ratios['p50_ms'])}, p95 {_ratio(ratios['p95_ms'])}, "
        f"p99 {_ratio(ratios['p99_ms'])}",
    ]
    lines += [line for note in report.notes for line in ("", note)]
    return "\n".join(lines)


def run_header(info: RunInfo, *, http: bool = True, jobs: bool = False) -> str:
    settings = info.settings
    driver = settings.driver
    if driver == "wrk":
        driver += f" ({settings.wrk_threads} thread{'s' if settings.wrk_threads > 1 else ''})"
    lines = [f"# MedHub benchmark, {info.started_at:%Y-%m-%d %H:%M:%S} UTC", ""]
    if http:
        lines.append(
            f"Driver {driver}, {settings.connections} connections, {settings.duration:g} s "
            f"measured after {settings.warmup:g} s warm-up, {info.rounds} round(s) per target "
            "interleaved (medhub, baseline, ...). Each cell is the median round; errors are "
            "the total over the rounds."
        )
    if jobs:
        lines.append(
            f"Job scenarios: {info.rounds} round(s) per target interleaved (medhub, "
            "baseline, ...), each scenario on a fresh embedded PostgreSQL of its own; rates "
            "and times are the median round, counts the total."
        )
    machine = (
        f"Machine: {info.cpus} CPU(s), Python {info.python}, commit {info.commit or 'unknown'}."
    )
    if http:
        machine += (
            " Both servers run one process on the same fresh embedded PostgreSQL."
            if info.workers == (1,)
            else f" Worker processes per server: {', '.join(map(str, info.workers))}, each "
            "set of tables from its own run (fresh embedded PostgreSQL, both servers with "
            "that many workers: `medhub serve --workers N` with REDIS_URL, uvicorn "
            "--workers N for the baseline); the worker count is in each table's title."
        )
    lines.append(machine)
    return "\n".join(lines)


def markdown(
    info: RunInfo, reports: list[ScenarioReport], job_reports: Sequence[JobScenarioReport] = ()
) -> str:
    sections = [
        run_header(info, http=bool(reports), jobs=bool(job_reports)),
        *(scenario_markdown(report) for report in reports),
        *(job_scenario_markdown(report) for report in job_reports),
    ]
    return "\n\n".join(sections) + "\n"


def as_json(
    info: RunInfo, reports: list[ScenarioReport], job_reports: Sequence[JobScenarioReport] = ()
) -> dict[str, Any]:
    return {
        "started_at": info.started_at.isoformat(),
        "settings": asdict(info.settings),
        "rounds": info.rounds,
        "cpus": info.cpus,
        "python": info.python,
        "commit": info.commit,
        "workers": list(info.workers),
        # Keyed by name (`name@workers=N` for N > 1).
        "scenarios": {
            report.key: {
                "name": report.name,
                "workers": report.workers,
                "description": report.description,
                "method": report.method,
                "path": report.path,
                "summary": {target: asdict(report.summary(target)) for target in TARGETS},
                "ratio_medhub_over_baseline": report.ratios(),
                "notes": report.notes,
                **report.extra,
                "rounds": [
                    {"target": r.target, "round": r.number, **asdict(r.result)}
                    for r in report.rounds
                ],
            }
            for report in reports
        },
        "job_scenarios": {report.name: job_scenario_json(report) for report in job_reports},
    }


def write_results(
    results_dir: Path,
    info: RunInfo,
    reports: list[ScenarioReport],
    job_reports: Sequence[JobScenarioReport] = (),
) -> tuple[Path, Path]:
    """Timestamped JSON and markdown, plus latest.md / latest.json; returns the two stamped."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{info.started_at:%Y%m%dT%H%M%SZ}"
    names = "-".join(dict.fromkeys([*(r.name for r in reports), *(r.name for r in job_reports)]))
    if info.workers != (1,):
        names += "-workers" + "+".join(map(str, info.workers))
    text = markdown(info, reports, job_reports)
    data = json.dumps(as_json(info, reports, job_reports), indent=2) + "\n"
    json_path = results_dir / f"{stamp}-{names}.json"
    md_path = results_dir / f"{stamp}-{names}.md"
    json_path.write_text(data)
    md_path.write_text(text)
    (results_dir / "latest.json").write_text(data)
    (results_dir / "latest.md").write_text(text)
    return json_path, md_path


# --- job scenarios (not HTTP load): email-burst ------------------------------------------------


@dataclass(frozen=True)
class BurstSummary:
    """Rates and times are the median round; counts are totals over the rounds."""

    rounds: int
    emails: int
    delivered: int
    lost: int
    duplicates: int
    incomplete_rounds: int
    per_second: float | None
    seconds: float | None
    defer_per_second: float | None


@dataclass
class JobScenarioReport:
    name: str
    description: str
    config: BurstConfig
    rounds: list[BurstRound] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, target: str) -> BurstSummary:
        rounds = [r for r in self.rounds if r.target == target]

        def median(values: list[float]) -> float | None:
            return round(statistics.median(values), 3) if values else None

        return BurstSummary(
            rounds=len(rounds),
            emails=sum(r.emails for r in rounds),
            delivered=sum(r.delivered for r in rounds),
            lost=sum(r.lost for r in rounds),
            duplicates=sum(r.duplicates for r in rounds),
            incomplete_rounds=sum(not r.complete for r in rounds),
            per_second=median([r.per_second for r in rounds]),
            seconds=median([r.seconds for r in rounds]),
            defer_per_second=median(
                [r.emails / r.defer_seconds for r in rounds if r.defer_seconds]
            ),
        )

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.rounds)

    def ratio(self) -> float | None:
        """medhub / baseline emails per second (below 1: MedHub delivers slower)."""
        ours, theirs = self.summary("medhub").per_second, self.summary("baseline").per_second
        return round(ours / theirs, 2) if ours is not None and theirs else None


def job_scenario_markdown(report: JobScenarioReport) -> str:
    config = report.config
    lines = [
        f"## {report.name}: {config.emails:,} emails, {config.workers} workers x "
        f"{config.concurrency} jobs at once",
        "",
        report.description,
        "",
        "| target | emails/s | seconds | emails | delivered | lost | duplicates |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target in BURST_TARGETS:
        s = report.summary(target)
        lines.append(
            f"| {target} | {_cell(s.per_second, 1)} | {_cell(s.seconds, 2)} | {s.emails:,} "
            f"| {s.delivered:,} | {s.lost} | {s.duplicates} |"
        )
    lines += ["", f"ratio = medhub / baseline: emails/s {_ratio(report.ratio())}"]
    lines += [line for note in report.notes for line in ("", note)]
    return "\n".join(lines)


def job_scenario_json(report: JobScenarioReport) -> dict[str, Any]:
    return {
        "kind": "jobs",
        "description": report.description,
        "config": asdict(report.config),
        "summary": {target: asdict(report.summary(target)) for target in BURST_TARGETS},
        "ratio_medhub_over_baseline": {"emails_per_s": report.ratio()},
        "complete": report.complete,
        "notes": report.notes,
        "rounds": [r.as_json() for r in report.rounds],
    }
