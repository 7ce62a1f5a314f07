"""`medhub backup`, `medhub backup verify` and `medhub restore` against real databases: a
seeded instance goes into an archive and comes back in a fresh database and DATA_DIR,
the same rows, files and audit chain, usable by the application's own role."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql
from typer.testing import CliRunner, Result

from medhub.app import create_app
from medhub.audit.service import ChainReport, seal_pending, verify_chain
from medhub.cli import app as medhub_app
from medhub.config import Settings
from medhub.demo.data import DEMO_DOCTOR, DEMO_PASSWORD, DOCTORS
from medhub.demo.service import seed_demo
from medhub.kit.db import Database
from medhub.ops import pg_tools
from medhub.ops.backup import DUMP_NAME, MANIFEST_NAME, MANIFEST_SUM_NAME
from medhub.ops.provision import app_url_for, database_url_with
from tests import commerce
from tests.conftest import APP_ROLE, DatabaseUrls, running
from tests.documents import samples
from tests.documents.helpers import uploaded
from tests.factories import Factory

MakeSettings = Callable[..., Settings]


def medhub(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(medhub_app, list(args), obj=settings)


@pytest.fixture
def fresh_database(admin_server_url: str) -> Iterator[DatabaseUrls]:
    """An empty database of this test's own (CREATE DATABASE, no migrations), dropped after."""
    name = f"medhub_bk_{uuid.uuid4().hex[:12]}"
    maintenance = database_url_with(admin_server_url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin = database_url_with(admin_server_url, name)
    try:
        yield DatabaseUrls(admin=admin, app=app_url_for(admin, APP_ROLE), name=name)
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def restored_settings(
    make_settings: MakeSettings, fresh_database: DatabaseUrls, tmp_path: Path
) -> Settings:
    """Settings of an instance on the fresh database and an empty DATA_DIR of its own."""
    return make_settings(
        DATABASE_URL=fresh_database.app,
        DATABASE_ADMIN_URL=fresh_database.admin,
        DATA_DIR=tmp_path / "restored",
    )


def row_counts(admin_url: str) -> dict[str, int]:
    with psycopg.connect(admin_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {
            f"{schema}.{table}": conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            ).fetchone()[0]  # type: ignore[index]
            for schema, table in tables
        }


def file_digests(settings: Settings) -> dict[str, str]:
    root = settings.data_dir / "files"
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


def store_files(settings: Settings, files: dict[str, bytes]) -> None:
    for key, content in files.items():
        path = settings.data_dir / "files" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


async def chain_of(settings: Settings) -> ChainReport:
    assert settings.DATABASE_URL is not None
    database = Database(settings, settings.DATABASE_URL)
    try:
        async with database.session() as session:
            return await verify_chain(session)
    finally:
        await database.dispose()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings, configure_logs=False)
    async with running(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def doctors_consultations(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """What the demo doctor sees of their completed consultations (decrypted notes, under
    row-level security as the application role)."""
    doctor = next(d for d in DOCTORS if d.key == DEMO_DOCTOR)
    login = await client.post(
        "/api/v1/auth/login", json={"email": doctor.email, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
    response = await client.get("/api/v1/consultations?status=completed", headers=headers)
    assert response.status_code == 200, response.text
    visits: list[dict[str, Any]] = response.json()["data"]["consultations"]
    return visits


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def write_archive(archive: Path, contents: dict[str, bytes]) -> None:
    with tarfile.open(archive, "w") as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def resealed_manifest(contents: dict[str, bytes], name: str) -> None:
    """Make the manifest agree with a changed member, as a careful forger would."""
    manifest = json.loads(contents[MANIFEST_NAME])
    for entry in manifest["files"]:
        if entry["path"] == name:
            entry["sha256"] = hashlib.sha256(contents[name]).hexdigest()
            entry["size"] = len(contents[name])
    body = json.dumps(manifest).encode()
    contents[MANIFEST_NAME] = body
    contents[MANIFEST_SUM_NAME] = f"{hashlib.sha256(body).hexdigest()}  {MANIFEST_NAME}\n".encode()


# --- the round trip ------------------------------------------------------------------------


async def test_a_seeded_instance_comes_back_whole_from_its_archive(  # noqa: PLR0917
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    factory: Factory,
    restored_settings: Settings,
    tmp_path: Path,
) -> None:
    # The demo (organizations, catalog, orders, charts, appointments, consultations,
    # prescriptions, the audit trail) plus uploaded documents on local storage.
    await seed_demo(database, settings, app.state.auth_runtime.hasher, charts_per_organization=0)
    supplier = await commerce.supplier(factory)
    product = await commerce.product(client, supplier.admin)
    documents = [
        await uploaded(
            client,
            supplier.admin,
            entity_type="product",
            entity_id=product["id"],
            document_type="datasheet",
            content=samples.pdf(f"Datasheet {n}", pages=n),
            file_name=f"datasheet-{n}.pdf",
        )
        for n in (1, 30)
    ]
    original_visits = await doctors_consultations(client)
    assert original_visits
    assert await seal_pending(database) > 0
    original_chain = await chain_of(settings)
    assert original_chain.ok
    original_counts = row_counts(settings.DATABASE_ADMIN_URL or "")
    original_files = file_digests(settings)
    assert len(original_files) == len(documents)

    archive = tmp_path / "medhub.tar"
    backed_up = medhub(settings, "backup", str(archive))
    assert backed_up.exit_code == 0, backed_up.output
    assert f"wrote {archive}" in backed_up.output
    manifest = json.loads(members(archive)[MANIFEST_NAME])
    assert manifest["tables"] == original_counts
    assert manifest["alembic_revision"]
    assert manifest["server_major"] == pg_tools.server_major(settings.DATABASE_ADMIN_URL or "")
    assert {e["path"]: e["sha256"] for e in manifest["files"] if e["path"] != DUMP_NAME} == {
        f"files/{key}": digest for key, digest in original_files.items()
    }

    verified = medhub(settings, "backup", "verify", str(archive))
    assert verified.exit_code == 0, verified.output

    restored = medhub(restored_settings, "restore", str(archive))
    assert restored.exit_code == 0, restored.output

    assert row_counts(restored_settings.DATABASE_ADMIN_URL or "") == original_counts
    assert file_digests(restored_settings) == original_files
    restored_chain = await chain_of(restored_settings)
    assert restored_chain.ok, restored_chain.problem
    assert restored_chain.rows_checked == original_chain.rows_checked > 0

    # The application, as its own role under row-level security, reads the restored
    # instance: a login, clinical rows with decrypted notes, a stored document.
    async with serving(restored_settings) as restored_client:
        assert await doctors_consultations(restored_client) == original_visits
        for document in documents:
            download = await restored_client.get(document["download_url"])
            assert download.status_code == 200, download.text
            assert hashlib.sha256(download.content).hexdigest() == document["sha256"]
    with psycopg.connect(restored_settings.DATABASE_URL or "") as conn:
        # Row-level security holds for the application role: no tenant context, no charts.
        assert conn.execute("SELECT count(*) FROM patients").fetchone() == (0,)


# --- refusing a target that is not empty -----------------------------------------------------


@pytest.fixture
def small_archive(settings: Settings, tmp_path: Path) -> Path:
    """An archive of this test's (migrated, nearly empty) database and two stored files."""
    store_files(settings, {"documents/a/one.pdf": b"%PDF-1 one", "documents/b/two.pdf": b"two"})
    archive = tmp_path / "small.tar"
    result = medhub(settings, "backup", str(archive))
    assert result.exit_code == 0, result.output
    return archive


def organizations(admin_url: str) -> int:
    with psycopg.connect(admin_url) as conn:
        return int(conn.execute("SELECT count(*) FROM organizations").fetchone()[0])  # type: ignore[index]


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(
    settings: Settings, small_archive: Path, restored_settings: Settings
) -> None:
    admin_url = restored_settings.DATABASE_ADMIN_URL or ""
    first = medhub(restored_settings, "restore", str(small_archive))
    assert first.exit_code == 0, first.output
    archived = organizations(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug, kind, status)"
            " VALUES (gen_random_uuid(), 'Late', 'late', 'clinic', 'active')"
        )

    refused = medhub(restored_settings, "restore", str(small_archive))

    assert refused.exit_code == 2, refused.output
    assert f"the database {restored_settings.DATABASE_ADMIN_URL.rsplit('/', 1)[1]}" in (  # type: ignore[union-attr]
        refused.output
    )
    assert "--force" in refused.output
    assert organizations(admin_url) == archived + 1  # untouched

    forced = medhub(restored_settings, "restore", "--force", str(small_archive))

    assert forced.exit_code == 0, forced.output
    assert organizations(admin_url) == archived
    assert row_counts(admin_url) == row_counts(settings.DATABASE_ADMIN_URL or "")
    assert file_digests(restored_settings) == file_digests(settings)


def test_restore_refuses_file_storage_that_is_not_empty_unless_forced(
    settings: Settings, small_archive: Path, restored_settings: Settings
) -> None:
    store_files(restored_settings, {"documents/old/left.pdf": b"left over"})

    refused = medhub(restored_settings, "restore", str(small_archive))

    assert refused.exit_code == 2, refused.output
    assert "holds 1 files" in refused.output
    assert row_counts(restored_settings.DATABASE_ADMIN_URL or "") == {}

    forced = medhub(restored_settings, "restore", "--force", str(small_archive))

    assert forced.exit_code == 0, forced.output
    assert file_digests(restored_settings) == file_digests(settings)


# --- verify ----------------------------------------------------------------------------------


def test_verify_names_a_tampered_file(settings: Settings, small_archive: Path) -> None:
    contents = members(small_archive)
    contents["files/documents/b/two.pdf"] = b"tw0"
    write_archive(small_archive, contents)

    result = medhub(settings, "backup", "verify", str(small_archive))

    assert result.exit_code == 1, result.output
    assert "files/documents/b/two.pdf: sha256" in result.output
    assert "one.pdf" not in result.output


def test_verify_names_a_tampered_dump(settings: Settings, small_archive: Path) -> None:
    contents = members(small_archive)
    contents[DUMP_NAME] = flip_byte(contents[DUMP_NAME], len(contents[DUMP_NAME]) // 2)
    write_archive(small_archive, contents)

    result = medhub(settings, "backup", "verify", str(small_archive))

    assert result.exit_code == 1, result.output
    assert f"{DUMP_NAME}: sha256" in result.output


def test_verify_finds_a_dump_pg_restore_cannot_read_even_with_matching_checksums(
    settings: Settings, small_archive: Path
) -> None:
    contents = members(small_archive)
    contents[DUMP_NAME] = contents[DUMP_NAME][:200]  # cut short
    resealed_manifest(contents, DUMP_NAME)
    write_archive(small_archive, contents)

    result = medhub(settings, "backup", "verify", str(small_archive))

    assert result.exit_code == 1, result.output
    assert f"{DUMP_NAME}: pg_restore" in result.output
    assert "cannot read it" in result.output


def test_verify_names_a_tampered_manifest(settings: Settings, small_archive: Path) -> None:
    contents = members(small_archive)
    contents[MANIFEST_NAME] = contents[MANIFEST_NAME].replace(b'"tables"', b'"tables" ')
    write_archive(small_archive, contents)

    result = medhub(settings, "backup", "verify", str(small_archive))

    assert result.exit_code == 1, result.output
    assert f"{MANIFEST_NAME}: sha256" in result.output


def test_a_damaged_archive_is_not_restored(
    small_archive: Path, restored_settings: Settings
) -> None:
    contents = members(small_archive)
    contents["files/documents/a/one.pdf"] = b"%PDF-1 0ne"
    write_archive(small_archive, contents)

    result = medhub(restored_settings, "restore", str(small_archive))

    assert result.exit_code == 1, result.output
    assert "files/documents/a/one.pdf: sha256" in result.output
    assert row_counts(restored_settings.DATABASE_ADMIN_URL or "") == {}
    assert not (restored_settings.data_dir / "files").exists()


# --- refusals --------------------------------------------------------------------------------


def test_a_missing_archive_is_a_clear_error(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.tar"
    for args in (("backup", "verify", str(missing)), ("restore", str(missing))):
        result = medhub(settings, *args)
        assert result.exit_code == 2, result.output
        assert f"no archive at {missing}" in result.output


def test_backup_refuses_an_existing_path_and_s3_storage(
    settings: Settings, make_settings: MakeSettings, tmp_path: Path
) -> None:
    existing = tmp_path / "there.tar"
    existing.write_bytes(b"keep me")

    result = medhub(settings, "backup", str(existing))

    assert result.exit_code == 2, result.output
    assert f"{existing} exists" in result.output
    assert existing.read_bytes() == b"keep me"

    on_s3 = make_settings(STORAGE_BACKEND="s3", S3_BUCKET="medhub")
    result = medhub(on_s3, "backup", str(tmp_path / "new.tar"))

    assert result.exit_code == 2, result.output
    assert "STORAGE_BACKEND is 's3'" in result.output
    assert not (tmp_path / "new.tar").exists()


def test_the_client_programs_match_the_servers_major_version(settings: Settings) -> None:
    major = pg_tools.server_major(settings.DATABASE_ADMIN_URL or "")
    assert pg_tools.tools_for_server(major).major == major

    with pytest.raises(pg_tools.ToolsUnavailable, match="PostgreSQL 99, and no pg_dump"):
        pg_tools.tools_for_server(99)
