"""`medhub backup`: one archive of the database and the stored files, and its check.

The archive is an uncompressed tar (the dump is compressed already, most documents
are too): `database.dump` (pg_dump's custom format), every stored file under
`files/<storage key>`, then `manifest.json` (versions, table row counts, each member's
sha256 and size) and `manifest.json.sha256`. It is written next to its destination
under a temporary name and renamed when complete, so a path that exists holds a
whole archive.

Consistency: the row counts are taken in one exported snapshot and pg_dump dumps that
same snapshot. Files are copied after it; they are written to temporary names and
renamed into place (kit/storage.py), so each is copied whole. A file uploaded
meanwhile is included without its row, harmless; one deleted meanwhile is missing
from the archive, and the manifest lists exactly the files it holds.

Only local storage is backed up: with `STORAGE_BACKEND=s3` the command refuses, as
the bucket is better kept by the store's own versioning or replication.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import psycopg
from psycopg import sql
from pydantic import BaseModel, ValidationError
from sqlalchemy import make_url

from medhub import __version__
from medhub.config import Settings
from medhub.ops import pg_tools
from medhub.ops.provision import DatabaseTarget

FORMAT = "medhub-backup"
FORMAT_VERSION = 1
DUMP_NAME = "database.dump"
FILES_PREFIX = "files/"
MANIFEST_NAME = "manifest.json"
MANIFEST_SUM_NAME = "manifest.json.sha256"
CHUNK = 1024 * 1024
# What LocalStorage writes before renaming: an upload in flight, not a stored file.
IN_FLIGHT_PREFIX = ".upload-"


class BackupRefused(Exception):
    """The command cannot run as asked (exit code 2): nothing was written."""


class BackupFailed(Exception):
    """The command started and failed (exit code 1)."""


class ArchivedFile(BaseModel):
    path: str
    sha256: str
    size: int


class Manifest(BaseModel):
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    created_at: datetime
    medhub_version: str
    alembic_revision: str | None
    server_version: str
    server_major: int
    pg_dump_version: str
    database: str
    tables: dict[str, int]
    files: list[ArchivedFile]

    @property
    def dump_major(self) -> int:
        return int(self.pg_dump_version.split(".")[0])


class BackupProgress(Protocol):
    """What a caller (the CLI's progress bars) hears while an archive is written or read."""

    def started(self, stage: str, total: int | None) -> None: ...

    def advanced(self, stage: str, amount: int) -> None: ...


class _Silent:
    def started(self, stage: str, total: int | None) -> None:
        pass

    def advanced(self, stage: str, amount: int) -> None:
        pass


SILENT: BackupProgress = _Silent()


def default_archive_name(now: datetime | None = None) -> str:
    return f"medhub-backup-{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}.tar"


def quoted(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def user_tables(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(schema, table) of every table outside the system schemas, sorted."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%'"
        " AND n.nspname <> 'information_schema' ORDER BY 1, 2"
    ).fetchall()
    return [(str(schema), str(table)) for schema, table in rows]


def count_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Every table's row count. Row security off: a policy hiding rows from this role makes
    the count fail rather than come out short."""
    conn.execute("SET LOCAL row_security = off")
    counts: dict[str, int] = {}
    for schema, table in user_tables(conn):
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(quoted(schema, table)))
        counts[f"{schema}.{table}"] = int(row.fetchone()[0])  # type: ignore[index]
    return counts


class _Hashing:
    """A file read through while its sha256 is computed and its progress reported."""

    def __init__(self, handle: IO[bytes], progress: BackupProgress, stage: str) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.progress = progress
        self.stage = stage

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.progress.advanced(self.stage, len(data))
        return data


def _add(
    tar: tarfile.TarFile, path: Path, name: str, progress: BackupProgress, stage: str
) -> ArchivedFile:
    with path.open("rb") as handle:
        info = tar.gettarinfo(arcname=name, fileobj=handle)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o600
        reader = _Hashing(handle, progress, stage)
        tar.addfile(info, reader)
    return ArchivedFile(path=name, sha256=reader.digest.hexdigest(), size=info.size)


def stored_files(root: Path) -> list[Path]:
    """The files of the local storage, in a stable order (uploads in flight left out)."""
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(IN_FLIGHT_PREFIX)
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def files_root(settings: Settings) -> Path:
    return settings.data_dir / "files"


def _dump(
    target: DatabaseTarget, tools: pg_tools.PgTools, dump_file: Path, progress: BackupProgress
) -> tuple[dict[str, int], str, str | None]:
    """Dump the database to `dump_file`; the row counts of the same snapshot, the
    server's version and the schema's revision."""
    with psycopg.connect(target.admin_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            progress.started("count rows", None)
            counts = count_rows(conn)
            revision = None
            if "public.alembic_version" in counts:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = str(row[0]) if row else None
            progress.started("dump database", None)
            # pg_dump reads the snapshot this transaction exported; it must stay open.
            result = pg_tools.run_tool(
                [
                    str(tools.pg_dump),
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--file={dump_file}",
                ],
                target.admin_url,
            )
    if result.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {result.stderr.strip()}")
    return counts, version.split(maxsplit=1)[0], revision


def create_backup(
    settings: Settings,
    target: DatabaseTarget,
    destination: Path,
    progress: BackupProgress = SILENT,
) -> Manifest:
    """Write the archive to `destination` (which must not exist); its manifest."""
    if settings.STORAGE_BACKEND != "local":
        raise BackupRefused(
            f"STORAGE_BACKEND is {settings.STORAGE_BACKEND!r}: medhub backup archives local"
            " storage only. Keep the bucket with the store's versioning or replication, and"
            " back up the database alone with pg_dump."
        )
    if destination.exists():
        raise BackupRefused(f"{destination} exists; give a new path (nothing was written)")
    if not destination.parent.is_dir():
        raise BackupRefused(f"{destination.parent} is not a directory")
    try:
        major = pg_tools.server_major(target.admin_url)
        tools = pg_tools.tools_for_server(major)
    except pg_tools.ToolsUnavailable as exc:
        raise BackupRefused(str(exc)) from exc
    with tempfile.TemporaryDirectory(dir=destination.parent, prefix=".medhub-backup-") as work:
        dump_file = Path(work) / DUMP_NAME
        counts, server_version, revision = _dump(target, tools, dump_file, progress)
        partial = Path(work) / destination.name
        root = files_root(settings)
        files = stored_files(root)
        total = sum(_size(path) for path in [dump_file, *files])
        progress.started("archive", total)
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            archived = [_add(tar, dump_file, DUMP_NAME, progress, "archive")]
            for path in files:
                name = FILES_PREFIX + path.relative_to(root).as_posix()
                try:
                    archived.append(_add(tar, path, name, progress, "archive"))
                except FileNotFoundError:
                    continue  # deleted since it was listed: the manifest names what is here
            manifest = Manifest(
                created_at=datetime.now(UTC),
                medhub_version=__version__,
                alembic_revision=revision,
                server_version=server_version,
                server_major=major,
                pg_dump_version=tools.version,
                database=make_url(target.admin_url).database or "",
                tables=counts,
                files=archived,
            )
            body = manifest.model_dump_json(indent=2).encode()
            _add_bytes(tar, MANIFEST_NAME, body)
            _add_bytes(
                tar,
                MANIFEST_SUM_NAME,
                f"{hashlib.sha256(body).hexdigest()}  {MANIFEST_NAME}\n".encode(),
            )
        os.replace(partial, destination)
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


# ------------------------------------------------------------------------------ reading


def open_archive(path: Path) -> tarfile.TarFile:
    if not path.exists():
        raise BackupRefused(f"no archive at {path}")
    if not path.is_file():
        raise BackupRefused(f"{path} is not a file")
    try:
        return tarfile.open(path, "r:")
    except tarfile.TarError as exc:
        raise BackupFailed(
            f"{path} is not a MedHub backup archive (not a tar file: {exc})"
        ) from exc


def read_manifest(tar: tarfile.TarFile) -> tuple[Manifest | None, list[str]]:
    """The manifest, and what is wrong with it (its checksum, its contents)."""
    try:
        body = _member_bytes(tar, MANIFEST_NAME)
    except KeyError:
        return None, [f"{MANIFEST_NAME}: missing from the archive"]
    problems: list[str] = []
    try:
        recorded = _member_bytes(tar, MANIFEST_SUM_NAME).decode().split()[0]
    except (KeyError, IndexError, UnicodeDecodeError):
        problems.append(f"{MANIFEST_SUM_NAME}: missing or unreadable")
    else:
        actual = hashlib.sha256(body).hexdigest()
        if actual != recorded:
            problems.append(
                f"{MANIFEST_NAME}: sha256 {actual} does not match {MANIFEST_SUM_NAME} ({recorded})"
            )
    try:
        manifest = Manifest.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        return None, [*problems, f"{MANIFEST_NAME}: unreadable ({exc})"]
    if manifest.format != FORMAT or manifest.format_version > FORMAT_VERSION:
        problems.append(
            f"{MANIFEST_NAME}: format {manifest.format} version {manifest.format_version};"
            f" this MedHub reads {FORMAT} up to version {FORMAT_VERSION}"
        )
    return manifest, problems


def _member_bytes(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise KeyError(name)
    return handle.read()


def copy_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    sink: IO[bytes] | None,
    progress: BackupProgress,
    stage: str,
) -> str:
    """Stream a member into `sink` (or nowhere); its sha256."""
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupFailed(f"{member.name}: not a regular file")
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
        progress.advanced(stage, len(chunk))
    return digest.hexdigest()


def check_member(entry: ArchivedFile, member: tarfile.TarInfo, sha256: str) -> str | None:
    if member.size != entry.size:
        return f"{entry.path}: {member.size} bytes, the manifest says {entry.size}"
    if sha256 != entry.sha256:
        return f"{entry.path}: sha256 {sha256} does not match the manifest's {entry.sha256}"
    return None


def verify_backup(path: Path, progress: BackupProgress = SILENT) -> list[str]:
    """Every problem of the archive at `path`, each naming its member; [] when intact.

    Recomputes every member's sha256 and size, and has pg_restore list the dump.
    """
    with open_archive(path) as tar, tempfile.TemporaryDirectory(prefix="medhub-verify-") as work:
        manifest, problems = read_manifest(tar)
        if manifest is None:
            return problems
        listed = {entry.path: entry for entry in manifest.files}
        members = {
            m.name: m for m in tar.getmembers() if m.name not in {MANIFEST_NAME, MANIFEST_SUM_NAME}
        }
        problems += [
            f"{name}: in the archive but not in the manifest"
            for name in members.keys() - listed.keys()
        ]
        problems += [
            f"{name}: listed in the manifest, missing from the archive"
            for name in listed.keys() - members.keys()
        ]
        progress.started("verify", sum(m.size for m in members.values()))
        dump_file = Path(work) / DUMP_NAME
        for name, entry in listed.items():
            member = members.get(name)
            if member is None:
                continue
            with dump_file.open("wb") if name == DUMP_NAME else contextlib.nullcontext() as sink:
                sha256 = copy_member(tar, member, sink, progress, "verify")
            problem = check_member(entry, member, sha256)
            if problem:
                problems.append(problem)
        if dump_file.exists():
            problems += _dump_readable(dump_file, manifest.dump_major)
    return problems


def _dump_readable(dump_file: Path, dump_major: int) -> list[str]:
    try:
        tools = pg_tools.tools_reading(dump_major)
    except pg_tools.ToolsUnavailable as exc:
        return [f"{DUMP_NAME}: not checked: {exc}"]
    result = pg_tools.run_tool([str(tools.pg_restore), "--list", str(dump_file)])
    if result.returncode != 0:
        return [f"{DUMP_NAME}: pg_restore {tools.version} cannot read it: {result.stderr.strip()}"]
    return []


def iter_members(
    tar: tarfile.TarFile, manifest: Manifest
) -> Iterator[tuple[ArchivedFile, tarfile.TarInfo]]:
    """The manifest's entries with their members (BackupFailed if one is missing)."""
    for entry in manifest.files:
        try:
            member = tar.getmember(entry.path)
        except KeyError:
            raise BackupFailed(
                f"{entry.path}: listed in the manifest, missing from the archive"
            ) from None
        yield entry, member
