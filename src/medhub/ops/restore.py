"""`medhub restore`: put an archive of `medhub backup` back into a database and DATA_DIR.

The target must be empty (no tables, views, sequences, functions or types outside the
system schemas; no stored file) unless the caller forces it. Nothing is changed before
every member of the archive has been extracted to a staging directory and matched its
checksum. Then, with force, the database's schemas are dropped; pg_restore runs as the
admin in one transaction (a failure leaves no half-restored schema), owning every
object itself; the application role gets its privileges as `medhub db upgrade` gives
them; the row counts are compared with the manifest's; and the staged files replace
the storage directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from medhub.config import Settings
from medhub.kit.storage import InvalidStorageKey, validate_key
from medhub.ops import pg_tools
from medhub.ops.backup import (
    DUMP_NAME,
    FILES_PREFIX,
    SILENT,
    BackupFailed,
    BackupProgress,
    BackupRefused,
    Manifest,
    check_member,
    copy_member,
    count_rows,
    files_root,
    iter_members,
    open_archive,
    read_manifest,
    stored_files,
)
from medhub.ops.provision import DatabaseTarget, ensure_app_role, grant_app_privileges

# Objects a restore would collide with, outside the system schemas; those of
# extensions come and go with them.
_OCCUPIED = """
SELECT
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')),
  (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')),
  (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      AND t.typtype IN ('e', 'd', 'r')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                      AND d.objid = t.oid AND d.deptype = 'e'))
"""
_SCHEMAS = (
    "SELECT nspname FROM pg_namespace"
    " WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
)


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    files: int
    replaced: list[str]


def occupied(target: DatabaseTarget, root: Path) -> list[str]:
    """What is in the way of a restore, in words; [] when the target is empty."""
    found: list[str] = []
    with psycopg.connect(target.admin_url) as conn:
        row = conn.execute(_OCCUPIED).fetchone()
        database = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    assert database is not None
    relations, functions, types = (int(value) for value in row)
    if relations or functions or types:
        found.append(
            f"the database {database[0]} holds {relations} tables, views or sequences,"
            f" {functions} functions and {types} types"
        )
    files = stored_files(root)
    if files:
        found.append(f"the file storage {root} holds {len(files)} files")
    return found


def clear_database(admin_url: str) -> None:
    """Drop every schema outside the system ones, and give back an empty `public` as
    CREATE DATABASE makes it."""
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.transaction():
        schemas = conn.execute(_SCHEMAS).fetchall()
        for (schema,) in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
        conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")


def _extract(archive: Path, staging: Path, progress: BackupProgress) -> tuple[Manifest, Path, int]:
    """Every member into `staging`, checked against the manifest (BackupFailed if not)."""
    with open_archive(archive) as tar:
        manifest, problems = read_manifest(tar)
        if manifest is None or problems:
            raise BackupFailed("the archive is damaged: " + "; ".join(problems))
        members = list(iter_members(tar, manifest))
        progress.started("extract", sum(member.size for _, member in members))
        dump_file = staging / DUMP_NAME
        files = 0
        for entry, member in members:
            if entry.path == DUMP_NAME:
                destination = dump_file
            elif entry.path.startswith(FILES_PREFIX):
                try:
                    key = validate_key(entry.path.removeprefix(FILES_PREFIX))
                except InvalidStorageKey as exc:
                    raise BackupFailed(f"{entry.path}: not a storage key ({exc})") from exc
                destination = staging / "files" / key
                destination.parent.mkdir(parents=True, exist_ok=True)
                files += 1
            else:
                raise BackupFailed(f"{entry.path}: not a member this MedHub restores")
            with destination.open("wb") as sink:
                sha256 = copy_member(tar, member, sink, progress, "extract")
            problem = check_member(entry, member, sha256)
            if problem:
                raise BackupFailed(f"the archive is damaged: {problem}")
    if not dump_file.is_file():
        raise BackupFailed(f"the archive holds no {DUMP_NAME}")
    return manifest, dump_file, files


def _restore_database(
    target: DatabaseTarget, tools: pg_tools.PgTools, dump_file: Path, progress: BackupProgress
) -> None:
    app_role = make_url(target.app_url).username
    admin_role = make_url(target.admin_url).username
    if app_role and app_role != admin_role:
        # The dump's privileges name the application role.
        ensure_app_role(target.admin_url, app_role)
    progress.started("restore database", None)
    result = pg_tools.run_tool(
        [
            str(tools.pg_restore),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            str(dump_file),
        ],
        target.admin_url,
    )
    if result.returncode != 0:
        raise BackupFailed(
            f"pg_restore failed (the restore was rolled back): {result.stderr.strip()}"
        )
    if app_role and app_role != admin_role:
        grant_app_privileges(target.admin_url, app_role)
    with psycopg.connect(target.admin_url, autocommit=True) as conn:
        # Planner statistics are not part of every dump.
        conn.execute("ANALYZE")


def _check_counts(target: DatabaseTarget, manifest: Manifest) -> None:
    with psycopg.connect(target.admin_url) as conn, conn.transaction():
        counts = count_rows(conn)
    wrong = [
        f"{table}: {counts.get(table)} rows, the manifest says {expected}"
        for table, expected in manifest.tables.items()
        if counts.get(table) != expected
    ]
    if wrong:
        raise BackupFailed("the restored database differs from the archive: " + "; ".join(wrong))


def _replace_files(staged: Path, root: Path) -> None:
    root.parent.mkdir(parents=True, exist_ok=True)
    replaced = root.with_name(f".{root.name}-replaced")
    shutil.rmtree(replaced, ignore_errors=True)
    if root.exists():
        os.replace(root, replaced)
    if staged.is_dir():
        os.replace(staged, root)
    else:
        root.mkdir()
    shutil.rmtree(replaced, ignore_errors=True)


def restore_backup(
    settings: Settings,
    target: DatabaseTarget,
    archive: Path,
    *,
    force: bool = False,
    progress: BackupProgress = SILENT,
) -> RestoreReport:
    """Restore `archive` into the target's database and DATA_DIR/files."""
    with open_archive(archive) as tar:
        manifest, problems = read_manifest(tar)
    if manifest is None or problems:
        raise BackupFailed("the archive is damaged: " + "; ".join(problems))
    if settings.STORAGE_BACKEND != "local":
        raise BackupRefused(
            f"STORAGE_BACKEND is {settings.STORAGE_BACKEND!r}: medhub restore writes local"
            " storage only"
        )
    root = files_root(settings)
    try:
        tools = pg_tools.tools_for_server(pg_tools.server_major(target.admin_url))
    except pg_tools.ToolsUnavailable as exc:
        raise BackupRefused(str(exc)) from exc
    if manifest.dump_major > tools.major:
        raise BackupRefused(
            f"the archive was dumped from PostgreSQL {manifest.dump_major}; this server is"
            f" {tools.major}. Restore it into a server of version {manifest.dump_major}"
            " or newer."
        )
    in_the_way = occupied(target, root)
    if in_the_way and not force:
        raise BackupRefused(
            "the target is not empty: "
            + "; ".join(in_the_way)
            + ". Restore into an empty database and DATA_DIR, or give --force to replace"
            " them (stop the application first)."
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".restore-") as work:
        staging = Path(work)
        manifest, dump_file, files = _extract(archive, staging, progress)
        if in_the_way:
            clear_database(target.admin_url)
        _restore_database(target, tools, dump_file, progress)
        _check_counts(target, manifest)
        _replace_files(staging / "files", root)
    return RestoreReport(manifest=manifest, files=files, replaced=in_the_way)
