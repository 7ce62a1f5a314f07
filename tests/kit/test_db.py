"""Unit of work, repository base and the application's database role, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import APIRouter
from sqlalchemy import Integer, String, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from medhub.app import create_app
from medhub.config import ConfigurationError, Settings
from medhub.kit.db import Database, DbSession
from medhub.kit.envelope import JSONResponse, ok
from medhub.kit.errors import Conflict
from medhub.kit.pagination import PageParams
from medhub.kit.repository import Repository
from medhub.ops.provision import check_app_role
from tests.conftest import DatabaseUrls, running

AdminSql = Callable[..., list[tuple[Any, ...]]]


class ScratchBase(DeclarativeBase):
    pass


class Note(ScratchBase):
    """A table that exists only in these tests' databases."""

    __tablename__ = "scratch_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(String(200))


class NoteRepository(Repository[Any]):
    model = Note


@pytest.fixture
def scratch_table(admin_sql: AdminSql) -> None:
    admin_sql("CREATE TABLE scratch_notes (id integer PRIMARY KEY, body varchar(200) NOT NULL)")
    admin_sql("GRANT SELECT, INSERT, UPDATE, DELETE ON scratch_notes TO medhub_app")


notes = APIRouter(prefix="/api/v1/_notes")


@notes.post("/{note_id}")
async def write_note(note_id: int, session: DbSession, fail: bool = False) -> JSONResponse:
    await NoteRepository(session).add(Note(id=note_id, body=f"note {note_id}"))
    if fail:
        raise Conflict("refused after the write")
    return ok({"id": note_id})


@notes.post("/{note_id}/crash")
async def write_then_crash(note_id: int, session: DbSession) -> JSONResponse:
    await NoteRepository(session).add(Note(id=note_id, body="doomed"))
    raise RuntimeError("boom")


@pytest.fixture
async def notes_client(settings: Settings, scratch_table: None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, configure_logs=False)
    app.include_router(notes)
    async with running(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_request_commits_once_on_success(
    notes_client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await notes_client.post("/api/v1/_notes/1")
    assert response.status_code == 200
    assert admin_sql("SELECT id, body FROM scratch_notes") == [(1, "note 1")]


async def test_domain_error_rolls_back_the_write(
    notes_client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await notes_client.post("/api/v1/_notes/2?fail=true")
    assert response.status_code == 409
    assert admin_sql("SELECT count(*) FROM scratch_notes") == [(0,)]


async def test_unexpected_error_rolls_back_the_write(
    notes_client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await notes_client.post("/api/v1/_notes/3/crash")
    assert response.status_code == 500
    assert admin_sql("SELECT count(*) FROM scratch_notes") == [(0,)]


async def test_failed_commit_is_reported_as_conflict_not_hidden(
    notes_client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    # A deferred constraint fails only at COMMIT: the client must learn of it.
    admin_sql(
        "ALTER TABLE scratch_notes ADD CONSTRAINT body_not_doomed "
        "EXCLUDE USING btree (body WITH =) DEFERRABLE INITIALLY DEFERRED"
    )
    admin_sql("INSERT INTO scratch_notes VALUES (99, 'note 4')")
    response = await notes_client.post("/api/v1/_notes/4")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert "scratch_notes" not in response.text
    assert admin_sql("SELECT id FROM scratch_notes ORDER BY id") == [(99,)]


async def test_unit_of_work_for_background_code(
    database: Database, scratch_table: None, admin_sql: AdminSql
) -> None:
    async with database.unit_of_work() as session:
        await NoteRepository(session).add(Note(id=10, body="job"))

    async def write_then_fail() -> None:
        async with database.unit_of_work() as session:
            await NoteRepository(session).add(Note(id=11, body="half"))
            raise ValueError("half-way")

    with pytest.raises(ValueError, match="half-way"):
        await write_then_fail()
    assert admin_sql("SELECT id FROM scratch_notes ORDER BY id") == [(10,)]


async def test_repository_never_commits(
    database: Database, scratch_table: None, admin_sql: AdminSql
) -> None:
    async with database.sessionmaker() as session:
        repo = NoteRepository(session)
        await repo.add(Note(id=20, body="flushed only"))
        assert (await repo.get(20)) is not None  # visible inside the transaction
        assert admin_sql("SELECT count(*) FROM scratch_notes") == [(0,)]
        await session.rollback()
    assert admin_sql("SELECT count(*) FROM scratch_notes") == [(0,)]


async def test_repository_paginates_with_total(database: Database, scratch_table: None) -> None:
    async with database.unit_of_work() as session:
        repo = NoteRepository(session)
        await repo.add_all([Note(id=i, body=f"n{i}") for i in range(1, 26)])
        items, total = await repo.paginate(
            select(Note).order_by(Note.id), PageParams(page=2, limit=10)
        )
        assert total == 25
        assert [note.id for note in items] == list(range(11, 21))
        empty, none = await repo.paginate(
            select(Note).where(Note.id > 100), PageParams(page=1, limit=10)
        )
        assert (list(empty), none) == ([], 0)


async def test_duplicate_key_is_409_and_leaves_the_first_row(
    notes_client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    assert (await notes_client.post("/api/v1/_notes/7")).status_code == 200
    again = await notes_client.post("/api/v1/_notes/7")
    assert again.status_code == 409
    assert admin_sql("SELECT id, body FROM scratch_notes") == [(7, "note 7")]


async def test_concurrent_requests_each_get_their_own_transaction(
    notes_client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    responses = await asyncio.gather(
        *(
            notes_client.post(f"/api/v1/_notes/{i}?fail={'true' if i % 2 else 'false'}")
            for i in range(30)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 15 + [409] * 15
    committed = [row[0] for row in admin_sql("SELECT id FROM scratch_notes ORDER BY id")]
    assert committed == list(range(0, 30, 2))


async def test_app_runs_as_a_role_without_superuser_or_bypassrls(database: Database) -> None:
    async with database.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            )
        ).one()
    assert row == ("medhub_app", False, False)


async def test_app_role_cannot_change_the_schema(database: Database) -> None:
    async with database.engine.connect() as conn:
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(text("CREATE TABLE sneaky (id int)"))


def test_start_up_refuses_a_superuser_url(database_urls: DatabaseUrls) -> None:
    with pytest.raises(ConfigurationError, match="superuser or has BYPASSRLS"):
        check_app_role(database_urls.admin)
    check_app_role(database_urls.app)  # the application role passes


def test_app_role_sees_migrated_schema(database_urls: DatabaseUrls) -> None:
    with psycopg.connect(database_urls.app) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version is not None
