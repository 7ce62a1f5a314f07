"""Benchmark runner: MedHub against a minimal Starlette + psycopg baseline on one fresh database.

Run `python -m bench [scenario ...]`; see bench/README.md.
"""

from __future__ import annotations

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# The project root: child processes run `-m bench.*` from here so the package imports.
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
