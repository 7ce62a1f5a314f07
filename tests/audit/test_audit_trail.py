"""The audit trail itself: append-only, hash-chained once sealed, with its request's fate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from medhub.audit import service as audit
from medhub.kit.db import Database
from medhub.kit.errors import AppError, ValidationFailed
from tests.audit.conftest import Seal, Tamper, Verify
from tests.factories import Factory

AdminSql = Callable[..., list[tuple[Any, ...]]]


def actions(admin_sql: AdminSql) -> list[str]:
    return [row[0] for row in admin_sql("SELECT action FROM activity_logs ORDER BY seq")]


def chain_seqs(admin_sql: AdminSql) -> list[int]:
    rows = admin_sql("SELECT chain_seq FROM activity_logs WHERE chain_seq IS NOT NULL ORDER BY 1")
    return [row[0] for row in rows]


async def register_login_logout(client: httpx.AsyncClient) -> None:
    """Four audited actions: user_registered, email_verification_sent?, login, logout."""
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "email": "chain@example.org",
            "password": "SecurePass123!",
            "full_name": "Chain Tester",
            "role": "patient",
        },
    )
    assert registered.status_code == 201, registered.text
    login = await client.post(
        "/api/v1/auth/login", json={"email": "chain@example.org", "password": "SecurePass123!"}
    )
    assert login.status_code == 200, login.text
    token = login.json()["data"]["access_token"]
    out = await client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 200, out.text


# --- append-only ---------------------------------------------------------------------------


async def test_the_app_role_cannot_change_or_remove_rows(
    client: httpx.AsyncClient, database: Database, admin_sql: AdminSql, seal: Seal
) -> None:
    await register_login_logout(client)
    await seal()
    before = admin_sql("SELECT seq, action, row_hash FROM activity_logs ORDER BY seq")
    assert len(before) >= 3
    async with database.engine.connect() as conn:
        # Even with the super admin's cross-tenant context: no policy lets the app see a
        # row to UPDATE or DELETE, and the trigger stands behind the policies.
        await conn.execute(text("SELECT set_config('app.system', 'on', false)"))
        # Nor does claiming to be the sealer: only its function may set the hashes.
        await conn.execute(text("SELECT set_config('medhub.sealing', 'on', false)"))
        updated = await conn.execute(text("UPDATE activity_logs SET action = 'forged'"))
        deleted = await conn.execute(text("DELETE FROM activity_logs"))
        await conn.commit()
    assert updated.rowcount == 0
    assert deleted.rowcount == 0
    async with database.engine.connect() as conn:
        with pytest.raises(Exception, match=r"TRUNCATE|permission denied") as truncated:
            await conn.execute(text("TRUNCATE activity_logs"))
    assert isinstance(getattr(truncated.value, "orig", None), psycopg.errors.InsufficientPrivilege)
    assert admin_sql("SELECT seq, action, row_hash FROM activity_logs ORDER BY seq") == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE activity_logs SET action = 'forged' WHERE seq = 1",
        "DELETE FROM activity_logs WHERE seq = 1",
        "TRUNCATE activity_logs",
    ],
)
async def test_even_the_superuser_is_refused_while_triggers_run(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, statement: str
) -> None:
    await register_login_logout(client)
    await seal()
    before = admin_sql("SELECT seq, action, row_hash FROM activity_logs ORDER BY seq")
    operation = statement.split(maxsplit=1)[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"append-only: {operation}"):
        admin_sql(statement)
    assert admin_sql("SELECT seq, action, row_hash FROM activity_logs ORDER BY seq") == before


# --- the hash chain ------------------------------------------------------------------------


async def test_a_clean_chain_verifies_with_every_row_counted(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    await register_login_logout(client)
    assert {"user_registered", "login", "logout"} <= set(actions(admin_sql))
    count = len(actions(admin_sql))
    assert await seal() == count
    report = await verify()
    assert report.ok, report
    assert report.rows_checked == count
    assert report.first_bad_seq is None
    assert report.unsealed == 0
    assert admin_sql("SELECT last_seq FROM activity_log_chain") == [(count,)]


async def test_an_empty_log_verifies(verify: Verify) -> None:
    report = await verify()
    assert report.ok
    assert report.rows_checked == 0


async def test_an_edited_row_is_named(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    await register_login_logout(client)
    await seal()
    [(row_id,)] = admin_sql("SELECT id FROM activity_logs WHERE chain_seq = 2")
    tamper("UPDATE activity_logs SET action = 'forged' WHERE chain_seq = 2")
    assert admin_sql("SELECT action FROM activity_logs WHERE chain_seq = 2") == [("forged",)]
    report = await verify()
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.first_bad_id == row_id
    assert report.problem == "content does not match its hash"


async def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    await register_login_logout(client)
    await seal()
    tamper(
        'UPDATE activity_logs SET metadata = \'{"role": "admin"}\' WHERE chain_seq = 1',
        "UPDATE activity_logs a SET row_hash = activity_log_digest(a) WHERE chain_seq = 1",
    )
    report = await verify()
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.problem == "link to previous row broken"


async def test_a_deleted_middle_row_leaves_a_named_gap(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    await register_login_logout(client)
    await seal()
    assert len(chain_seqs(admin_sql)) >= 3
    tamper("DELETE FROM activity_logs WHERE chain_seq = 2")
    report = await verify()
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.problem == "row(s) missing before chain_seq 3"
    assert report.rows_checked == 2


async def test_a_deleted_last_row_is_a_truncated_tail(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    await register_login_logout(client)
    await seal()
    last = max(chain_seqs(admin_sql))
    tamper("DELETE FROM activity_logs WHERE chain_seq = %s", params=[last])
    report = await verify()
    assert not report.ok
    assert report.first_bad_seq == last
    assert report.first_bad_id is None
    assert report.problem == f"chain tip is at chain_seq {last}: rows missing"


async def test_a_row_slipped_in_past_the_tip_is_named(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    await register_login_logout(client)
    await seal()
    last = max(chain_seqs(admin_sql))
    forged = uuid.uuid4()
    # A well-formed row with a correct hash, but the chain tip never heard of it.
    tamper(
        "INSERT INTO activity_logs (id, seq, chain_seq, action, metadata, prev_hash, row_hash)"
        " SELECT %(id)s, nextval('activity_log_seq'), %(seq)s, 'forged', '{}', last_hash, ''"
        " FROM activity_log_chain",
        "UPDATE activity_logs a SET row_hash = activity_log_digest(a) WHERE id = %(id)s",
        params={"id": forged, "seq": last + 1},
    )
    report = await verify()
    assert not report.ok
    assert report.first_bad_seq == last + 1
    assert report.first_bad_id == forged
    assert report.problem == f"row past the chain tip (chain_seq {last})"


async def test_a_tip_that_disagrees_with_the_last_row_is_caught(
    client: httpx.AsyncClient, admin_sql: AdminSql, seal: Seal, tamper: Tamper, verify: Verify
) -> None:
    await register_login_logout(client)
    await seal()
    last = max(chain_seqs(admin_sql))
    tamper("UPDATE activity_log_chain SET last_hash = repeat('0', 64)")
    report = await verify()
    assert not report.ok
    assert report.first_bad_seq == last
    assert report.problem == "last row does not match the chain tip"


async def test_concurrent_audited_requests_make_a_gapless_chain(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    accounts = [await factory.user("customer", login=False) for _ in range(20)]

    async def log_in(email: str, password: str) -> int:
        response = await client.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        return response.status_code

    statuses = await asyncio.gather(*(log_in(a.email, a.password) for a in accounts))
    assert statuses == [200] * 20
    await seal()
    rows = admin_sql("SELECT chain_seq, action, user_id FROM activity_logs ORDER BY chain_seq")
    assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1))
    logins = [user_id for _, action, user_id in rows if action == "login"]
    assert sorted(logins) == sorted(a.id for a in accounts)
    report = await verify()
    assert report.ok, report
    assert report.rows_checked == len(rows)


async def test_verify_reads_one_snapshot_while_rows_keep_coming(
    client: httpx.AsyncClient, database: Database, admin_sql: AdminSql, seal: Seal
) -> None:
    await register_login_logout(client)
    before = await seal()

    async def commit_another_row() -> None:
        async with database.unit_of_work() as other:
            audit.record(other, "committed_meanwhile")
        # ...and the sealer chains it: the tip moves while verify walks.
        assert await seal() == 1

    async with database.session() as session:
        execute = session.execute
        calls = 0

        async def execute_then_commit_elsewhere(*args: Any, **kwargs: Any) -> Any:
            # A row is committed by someone else between each of verify's reads.
            nonlocal calls
            result = await execute(*args, **kwargs)
            calls += 1
            await commit_another_row()
            return result

        session.execute = execute_then_commit_elsewhere  # type: ignore[method-assign]
        report = await audit.verify_chain(session)
    assert calls >= 3
    assert report.ok, report
    assert (report.rows_checked, report.unsealed) == (before, 0)
    assert len(chain_seqs(admin_sql)) == before + calls


# --- the row shares its action's fate -------------------------------------------------------


async def test_a_rolled_back_registration_leaves_no_audit_row(
    client: httpx.AsyncClient, admin_sql: AdminSql
) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "weak@example.org", "password": "password", "full_name": "Weak"},
    )
    assert response.status_code == 400
    assert actions(admin_sql) == []
    assert admin_sql("SELECT count(*) FROM users WHERE email = 'weak@example.org'") == [(0,)]


async def test_a_failed_login_is_audited_on_purpose(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql, verify: Verify
) -> None:
    account = await factory.user("customer", login=False)
    response = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "Wrong-Password-1!"}
    )
    assert response.status_code == 401
    rows = admin_sql("SELECT action, user_id, metadata FROM activity_logs ORDER BY seq")
    assert rows == [("login_failed", account.id, {"reason": "wrong_password"})]
    assert (await verify()).ok


async def test_an_audit_row_recorded_before_the_failure_is_rolled_back(
    database: Database, admin_sql: AdminSql
) -> None:
    async def fail_after_recording() -> None:
        async with database.unit_of_work() as session:
            audit.record(session, "doomed_action", metadata={"n": 1})
            await session.execute(text("SELECT 1"))
            raise ValidationFailed("the action failed after it was recorded")

    with pytest.raises(ValidationFailed):
        await fail_after_recording()
    assert actions(admin_sql) == []
    assert admin_sql("SELECT last_seq FROM activity_log_chain") == [(0,)]


class KeptFailure(AppError):
    status_code = 401
    persist_changes = True


async def test_an_error_that_persists_changes_keeps_its_audit_row(
    database: Database, admin_sql: AdminSql
) -> None:
    async def fail_keeping_changes() -> None:
        async with database.unit_of_work() as session:
            audit.record(session, "kept_failure")
            raise KeptFailure()

    with pytest.raises(KeptFailure):
        await fail_keeping_changes()
    assert actions(admin_sql) == ["kept_failure"]


async def test_a_rolled_back_savepoint_drops_only_its_own_rows(
    database: Database, admin_sql: AdminSql, seal: Seal, verify: Verify
) -> None:
    async with database.unit_of_work() as session:
        audit.record(session, "before_savepoint")
        savepoint = await session.begin_nested()
        audit.record(session, "inside_rolled_back_savepoint")
        await savepoint.rollback()
        async with session.begin_nested():
            audit.record(session, "inside_released_savepoint")
        # Releasing a savepoint does not write the rows early.
        assert admin_sql("SELECT count(*) FROM activity_logs") == [(0,)]
        audit.record(session, "after_savepoints")
    assert actions(admin_sql) == [
        "before_savepoint",
        "inside_released_savepoint",
        "after_savepoints",
    ]
    assert await seal() == 3
    assert (await verify()).ok


async def test_an_audit_row_is_written_with_its_request_and_context(
    client: httpx.AsyncClient, factory: Factory, admin_sql: AdminSql
) -> None:
    account = await factory.user("customer", login=False)
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": account.email, "password": account.password},
        headers={"User-Agent": "audit-probe/1.0"},
    )
    assert response.status_code == 200
    [(action, user_id, user_agent, ip, entity_type)] = admin_sql(
        "SELECT action, user_id, user_agent, ip_address, entity_type FROM activity_logs"
    )
    assert (action, user_id, user_agent, entity_type) == (
        "login",
        account.id,
        "audit-probe/1.0",
        "session",
    )
    assert ip == "127.0.0.1"
