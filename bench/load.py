"""Drive load from a separate process: wrk when it is installed, else bench/driver.py."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench import REPO_ROOT
from bench.driver import is_loopback_url
from bench.scenarios import RequestSpec

# wrk's done() prints this prefix and one JSON object; the rest of its output is prose.
JSON_MARKER = "BENCH_JSON "
# Enough for start-up and a slow final request; the load itself is bounded by --duration.
PROCESS_SLACK_S = 60.0
REQUEST_TIMEOUT_S = 10


class LoadError(Exception):
    """The load generator failed; the message carries its output."""


@dataclass(frozen=True)
class LoadSettings:
    driver: str  # "wrk" or "httpx"
    connections: int
    duration: float
    warmup: float
    wrk_threads: int


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    duration_s: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    # Answers with one of the spec's `accept_statuses` (neither expected nor errors).
    accepted: int = 0


def resolve_driver(requested: str) -> str:
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    if requested == "wrk" and shutil.which("wrk") is None:
        raise LoadError("--driver wrk: wrk is not on PATH (Debian: apt-get install -y wrk)")
    return requested


def run_load(base_url: str, spec: RequestSpec, settings: LoadSettings) -> LoadResult:
    url = base_url + spec.path
    # The runner only builds 127.0.0.1 URLs; this guards against a scenario that builds others.
    if not is_loopback_url(url):
        raise LoadError(f"refusing to send load to a non-loopback address: {url}")
    if settings.driver == "wrk":
        return _run_wrk(url, spec, settings)
    return _run_httpx_driver(url, spec, settings)


def _run(argv: list[str], timeout: float) -> str:
    try:
        completed = subprocess.run(
            argv,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"{argv[0]} did not finish within {timeout:.0f} s") from exc
    if completed.returncode != 0:
        raise LoadError(
            f"{' '.join(argv)} exited with {completed.returncode}:\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    return completed.stdout


# --- httpx driver -------------------------------------------------------------------------


def _run_httpx_driver(url: str, spec: RequestSpec, settings: LoadSettings) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="medhub-bench-driver-") as scratch:
        argv = [
            sys.executable,
            "-m",
            "bench.driver",
            "--url",
            url,
            "--method",
            spec.method,
            "--expect-status",
            str(spec.expect_status),
            *(f"--accept-status={status}" for status in spec.accept_statuses),
            "--connections",
            str(settings.connections),
            "--duration",
            str(settings.duration),
            "--warmup",
            str(settings.warmup),
        ]
        for name, value in spec.headers.items():
            argv += ["--header", f"{name}: {value}"]
        if spec.body is not None:
            body_file = Path(scratch) / "body"
            body_file.write_bytes(spec.body)
            argv += ["--body-file", str(body_file)]
        if spec.variants:
            variants_file = Path(scratch) / "variants.json"
            variants = [
                {
                    "headers": dict(variant.headers),
                    "body": None
                    if variant.body is None
                    else base64.b64encode(variant.body).decode(),
                    "path": variant.path,
                }
                for variant in spec.variants
            ]
            variants_file.write_text(json.dumps(variants))
            argv += ["--variants-file", str(variants_file)]
        output = _run(argv, settings.warmup + settings.duration + PROCESS_SLACK_S)
    data = json.loads(output.strip().splitlines()[-1])
    return LoadResult(
        requests=int(data["requests"]),
        errors=int(data["errors"]),
        duration_s=float(data["duration_s"]),
        rps=float(data["rps"]),
        p50_ms=data["p50_ms"],
        p95_ms=data["p95_ms"],
        p99_ms=data["p99_ms"],
        accepted=int(data.get("accepted", 0)),
    )


# --- wrk ----------------------------------------------------------------------------------


def _lua_string(data: bytes) -> str:
    # Printable ASCII as is; quotes, backslashes and every other byte as three-digit
    # decimal escapes (three digits, so a following digit is never read into the escape).
    return (
        '"'
        + "".join(
            chr(byte) if 32 <= byte < 127 and byte not in b'"\\' else f"\\{byte:03d}"
            for byte in data
        )
        + '"'
    )


DONE_FUNCTION = """
done = function(summary, latency, requests)
  local e = summary.errors
  local accepted = 0
  for _, thread in ipairs(THREADS) do
    accepted = accepted + (thread:get("accepted") or 0)
  end
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"accepted":%d,'
    .. '"p50_us":%.1f,"p95_us":%.1f,"p99_us":%.1f}\\n',
    MARKER, summary.requests, summary.duration, e.connect, e.read, e.write,
    e.status, e.timeout, accepted,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""

# setup() runs once per thread in the main Lua state: it keeps the threads (done()
# adds up their `accepted` counts) and gives each its own offset into the variants.
SETUP_FUNCTION = """
THREADS = {}
setup = function(thread)
  thread:set("first", #THREADS * 7919)
  table.insert(THREADS, thread)
end
"""

# Statuses that are answers but not 2xx/3xx: wrk counts them as errors (summary.errors
# .status); each thread counts them too, and done() reports them apart.
ACCEPT_FUNCTION = """
accepted = 0
response = function(status, headers, body)
  if ACCEPTED[status] then
    accepted = accepted + 1
  end
end
"""


# Variants: each thread formats every request once (init), then request() hands them
# out in turn, each thread from its own offset (SETUP_FUNCTION), so that two threads do
# not send the same variant together.
VARIANTS_FUNCTIONS = """
local prepared = {}
local turn = 0
init = function(args)
  for i, variant in ipairs(VARIANTS) do
    prepared[i] = wrk.format(nil, variant.path, variant.headers, variant.body)
  end
  turn = (first or 0) % #prepared
end

request = function()
  turn = turn % #prepared + 1
  return prepared[turn]
end
"""


def _lua_headers(headers: dict[str, str]) -> str:
    pairs = (f"[{_lua_string(k.encode())}] = {_lua_string(v.encode())}" for k, v in headers.items())
    return "{" + ", ".join(pairs) + "}"


def wrk_script(spec: RequestSpec) -> str:
    lines = [
        f"MARKER = {_lua_string(JSON_MARKER.encode())}",
        f"wrk.method = {_lua_string(spec.method.encode())}",
    ]
    for name, value in spec.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name.encode())}] = {_lua_string(value.encode())}")
    if spec.body is not None:
        lines.append(f"wrk.body = {_lua_string(spec.body)}")
    lines.append(SETUP_FUNCTION)
    if spec.variants:
        # Whole header tables: wrk.format() sends the table it is given instead of
        # wrk.headers (it adds Host and Content-Length itself); nil path: the URL's.
        lines.append("VARIANTS = {")
        for variant, (headers, body) in zip(spec.variants, spec.resolved(), strict=True):
            lua_body = "nil" if body is None else _lua_string(body)
            lua_path = "nil" if variant.path is None else _lua_string(variant.path.encode())
            lines.append(
                f"  {{headers = {_lua_headers(headers)}, body = {lua_body}, path = {lua_path}}},"
            )
        lines.append("}")
        lines.append(VARIANTS_FUNCTIONS)
    if spec.accept_statuses:
        accepted = ", ".join(f"[{status}] = true" for status in spec.accept_statuses)
        lines.append(f"ACCEPTED = {{{accepted}}}")
        lines.append(ACCEPT_FUNCTION)
    return "\n".join(lines) + "\n" + DONE_FUNCTION


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_RPS_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE_LINE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_NON_2XX_LINE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


def parse_wrk_text(output: str) -> dict[str, float]:
    """The --latency prose: Requests/sec and the 50/75/90/99% lines (in ms)."""
    parsed: dict[str, float] = {}
    if match := _RPS_LINE.search(output):
        parsed["rps"] = float(match.group(1))
    for pct, value, unit in _PERCENTILE_LINE.findall(output):
        parsed[f"p{pct}_ms"] = float(value) * _UNIT_MS[unit]
    if match := _NON_2XX_LINE.search(output):
        parsed["non_2xx"] = float(match.group(1))
    return parsed


def parse_wrk_output(output: str) -> LoadResult:
    text = parse_wrk_text(output)
    for line in output.splitlines():
        if line.startswith(JSON_MARKER):
            data = json.loads(line[len(JSON_MARKER) :])
            seconds = data["duration_us"] / 1_000_000
            errors = sum(data[key] for key in ("connect", "read", "write", "status", "timeout"))
            # Accepted statuses are non-2xx/3xx, so wrk counted them as status errors.
            accepted = int(data.get("accepted", 0))
            return LoadResult(
                requests=int(data["requests"]),
                errors=int(errors) - accepted,
                accepted=accepted,
                duration_s=round(seconds, 3),
                rps=round(data["requests"] / seconds, 1) if seconds > 0 else 0.0,
                p50_ms=round(data["p50_us"] / 1000, 3),
                p95_ms=round(data["p95_us"] / 1000, 3),
                p99_ms=round(data["p99_us"] / 1000, 3),
            )
    # No done() line (a wrk built without Lua output?): fall back to the prose, without p95.
    if "rps" not in text:
        raise LoadError(f"could not read wrk's output:\n{output[-2000:]}")
    return LoadResult(
        requests=0,
        errors=int(text.get("non_2xx", 0)),
        duration_s=0.0,
        rps=text["rps"],
        p50_ms=text.get("p50_ms"),
        p95_ms=None,
        p99_ms=text.get("p99_ms"),
    )


def _wrk_argv(url: str, script: Path, settings: LoadSettings, seconds: float) -> list[str]:
    return [
        "wrk",
        f"--threads={min(settings.wrk_threads, settings.connections)}",
        f"--connections={settings.connections}",
        f"--duration={seconds:g}s",
        f"--timeout={REQUEST_TIMEOUT_S}s",
        "--latency",
        f"--script={script}",
        url,
    ]


def _run_wrk(url: str, spec: RequestSpec, settings: LoadSettings) -> LoadResult:
    if not 200 <= spec.expect_status < 400:
        # wrk counts every non-2xx/3xx response as an error, so it cannot check for one.
        raise LoadError("wrk cannot expect a 4xx/5xx status; use --driver httpx")
    with tempfile.TemporaryDirectory(prefix="medhub-bench-wrk-") as scratch:
        script = Path(scratch) / "bench.lua"
        script.write_text(wrk_script(spec))
        if settings.warmup > 0:
            _run(_wrk_argv(url, script, settings, settings.warmup), settings.warmup + 60)
        output = _run(
            _wrk_argv(url, script, settings, settings.duration),
            settings.duration + PROCESS_SLACK_S,
        )
    return parse_wrk_output(output)
