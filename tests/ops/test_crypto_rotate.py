"""`medhub crypto rotate`: values sealed under older keys are re-encrypted under the newest,
in batches, beside the application, against this test's database."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from medhub import field_crypto
from medhub.cli import app as medhub_app
from medhub.config import Settings
from medhub.field_crypto import Keyring, install_keyring, parse_key_specs
from medhub.kit.db import Database
from medhub.kit.tenancy import set_system_context
from medhub.models.patients import Patient, PatientProfile
from medhub.ops import crypto_rotate
from medhub.ops.crypto_rotate import (
    EncryptedColumn,
    StoredValue,
    encrypted_columns,
    read_batch,
    reseal,
    rotate,
    write_batch,
)
from tests.conftest import TEST_FIELD_INDEX_KEY, TEST_FIELD_KEYS
from tests.factories import Factory

AdminSql = Callable[..., list[tuple[Any, ...]]]

NEW_KEY = "2:" + base64.urlsafe_b64encode(b"n" * 32).decode()
ROTATED_KEYS = f"{NEW_KEY},{TEST_FIELD_KEYS}"
OLD_RING = Keyring.from_specs(TEST_FIELD_KEYS, TEST_FIELD_INDEX_KEY)
NEW_RING = Keyring.from_specs(ROTATED_KEYS, TEST_FIELD_INDEX_KEY)


@pytest.fixture(autouse=True)
def _restore_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The keyring is process-wide, and the apps later tests of this process reuse
    # (conftest's `app`) installed theirs when they were built: whatever this test (or
    # the command) installs, put back the one installed before it, or (none yet: the
    # app built for this test installed one) the tests' own.
    original = field_crypto._keyring
    # The command exports the database URLs it resolved, as `medhub serve` does.
    for name in ("DATABASE_URL", "DATABASE_ADMIN_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    try:
        yield
    finally:
        install_keyring(original or OLD_RING)


def column(context: str) -> EncryptedColumn:
    return next(c for c in encrypted_columns() if c.context == context)


def versions(admin_sql: AdminSql) -> dict[str, dict[int, int]]:
    """Per encrypted column, how many values each key version sealed (raw bytes)."""
    found: dict[str, dict[int, int]] = {}
    for target in encrypted_columns():
        rows = admin_sql(
            f'SELECT get_byte("{target.name}", 0), count(*) FROM "{target.table_name}"'
            f' WHERE "{target.name}" IS NOT NULL GROUP BY 1'
        )
        if rows:
            found[target.context] = dict(rows)
    return found


def patient_values(n: int) -> dict[str, Any]:
    return {
        "phone": f"+49 30 1234-{n:03d}",
        "national_id": f"AB-{n:05d}",
        "insurance_number": None if n % 3 == 0 else f"INS{n}",
        "address": {"line1": f"{n} Main St", "city": "Berlin", "country": "DE"},
        "emergency_contact": None,
        "allergies": ["penicillin", f"pollen {n}"],
        "chronic_conditions": [] if n % 2 else None,
    }


async def add_patients(database: Database, organization_id: uuid.UUID, count: int) -> list[Patient]:
    async with database.unit_of_work() as session:
        await set_system_context(session)
        patients = [
            Patient(
                organization_id=organization_id,
                mrn=f"MRN-{n:06d}",
                first_name="Pat",
                last_name=f"Number{n}",
                date_of_birth=date(1980, 1, 1 + n % 28),
                **patient_values(n),
            )
            for n in range(count)
        ]
        session.add_all(patients)
    return patients


async def read_patients(database: Database) -> dict[uuid.UUID, dict[str, Any]]:
    async with database.unit_of_work() as session:
        await set_system_context(session)
        rows = (await session.scalars(select(Patient))).all()
        return {p.id: {name: getattr(p, name) for name in patient_values(0)} for p in rows}


@pytest.fixture
async def charts(factory: Factory, database: Database) -> list[Patient]:
    """Seven charts and a patient's own profile, sealed under key version 1."""
    organization = await factory.organization()
    patients = await add_patients(database, organization.id, 7)
    account = await factory.user("patient", login=False)
    async with database.unit_of_work() as session:
        await set_system_context(session)
        session.add(
            PatientProfile(
                user_id=account.id,
                phone="+1 555 0199",
                emergency_contact={"name": "Kim", "phone": "+1 555 0100"},
                allergies=None,
            )
        )
    return patients


def test_every_encrypted_column_of_the_models_is_found() -> None:
    found = {c.context: c for c in encrypted_columns()}
    assert {
        "patients.phone",
        "patients.national_id",
        "patients.insurance_number",
        "patients.address",
        "patients.emergency_contact",
        "patients.allergies",
        "patients.chronic_conditions",
        "patient_profiles.phone",
        "patient_profiles.emergency_contact",
        "patient_profiles.allergies",
    } <= set(found)
    assert found["patients.phone"].primary_key == ("id",)
    # Keyset by the primary key, whatever it is called.
    assert found["patient_profiles.allergies"].primary_key == ("user_id",)


async def test_rotation_reseals_every_value_under_the_new_key_and_then_finds_nothing(
    charts: list[Patient], database: Database, admin_sql: AdminSql
) -> None:
    before = versions(admin_sql)
    assert before["patients.phone"] == {1: 7}
    assert before["patients.insurance_number"] == {1: 4}
    assert before["patient_profiles.phone"] == {1: 1}
    assert "patient_profiles.allergies" not in before  # NULL stays NULL
    plaintext = await read_patients(database)
    updated_at = admin_sql("SELECT id, updated_at FROM patients ORDER BY id")

    install_keyring(NEW_RING)
    # Batches of 3: each column takes several, keyset by primary key.
    report = await rotate(database, batch_size=3)

    total = sum(sum(counts.values()) for counts in before.values())
    assert report.rotated == total
    assert report.changed_concurrently == 0
    assert report.unreadable == 0
    assert report.complete
    assert report.retirable_versions() == [1]
    assert versions(admin_sql) == {
        context: {2: sum(counts.values())} for context, counts in before.items()
    }
    # The same plaintext, through the column types, under the new keyring.
    assert await read_patients(database) == plaintext
    async with database.unit_of_work() as session:
        await set_system_context(session)
        profile = (await session.scalars(select(PatientProfile))).one()
        assert profile.phone == "+1 555 0199"
        assert profile.emergency_contact == {"name": "Kim", "phone": "+1 555 0100"}
    # Only the ciphertext changed.
    assert admin_sql("SELECT id, updated_at FROM patients ORDER BY id") == updated_at
    raw = admin_sql("SELECT phone FROM patients")
    assert all(b"1234" not in bytes(value) for (value,) in raw)

    again = await rotate(database, batch_size=3)
    assert (again.pending, again.rotated) == (0, 0)
    assert again.complete
    assert versions(admin_sql) == {
        context: {2: sum(counts.values())} for context, counts in before.items()
    }


async def test_a_dry_run_counts_by_version_and_changes_nothing(
    charts: list[Patient], database: Database, admin_sql: AdminSql
) -> None:
    raw = admin_sql("SELECT id, phone, address, allergies FROM patients ORDER BY id")
    install_keyring(NEW_RING)
    report = await rotate(database, dry_run=True)
    by_context = {c.target.context: c for c in report.columns}
    assert by_context["patients.phone"].before == {1: 7}
    assert by_context["patient_profiles.emergency_contact"].before == {1: 1}
    assert report.pending == sum(sum(c.values()) for c in versions(admin_sql).values())
    assert report.rotated == 0
    assert not report.complete
    assert admin_sql("SELECT id, phone, address, allergies FROM patients ORDER BY id") == raw


async def test_a_value_written_between_read_and_write_is_not_overwritten(
    charts: list[Patient],
    database: Database,
    admin_sql: AdminSql,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install_keyring(NEW_RING)
    target = column("patients.phone")
    # A process not restarted yet writes under the old key while the batch runs.
    concurrent = OLD_RING.encrypt("+44 20 7946 0000", target.context)
    victim: list[uuid.UUID] = []
    original_reseal = crypto_rotate.reseal

    def reseal_after_a_write(
        target_: EncryptedColumn, values: Sequence[StoredValue], ring: Keyring
    ) -> crypto_rotate.ResealedBatch:
        if target_ == target and not victim:
            victim.append(values[0].key[0])
            admin_sql("UPDATE patients SET phone = %s WHERE id = %s", [concurrent, victim[0]])
        return original_reseal(target_, values, ring)

    monkeypatch.setattr(crypto_rotate, "reseal", reseal_after_a_write)
    report = await rotate(database, batch_size=1, columns=[target])

    [phone] = report.columns
    assert (phone.rotated, phone.changed_concurrently) == (6, 1)
    assert admin_sql("SELECT phone FROM patients WHERE id = %s", [victim[0]]) == [(concurrent,)]
    assert phone.after == {1: 1}  # what the old-key process wrote
    assert not report.complete

    monkeypatch.setattr(crypto_rotate, "reseal", original_reseal)
    again = await rotate(database, columns=[target])
    assert (again.rotated, again.complete) == (1, True)
    assert (await read_patients(database))[victim[0]]["phone"] == "+44 20 7946 0000"


async def test_the_lower_level_steps_skip_a_row_changed_in_between(
    charts: list[Patient], database: Database, admin_sql: AdminSql
) -> None:
    install_keyring(NEW_RING)
    target = column("patients.national_id")
    newer = NEW_RING.encrypt("ZZ-99999", target.context)
    async with database.unit_of_work() as session:
        await set_system_context(session)
        values = await read_batch(session, target, current_version=2, after=None, limit=2)
        assert [v.stored[0] for v in values] == [1, 1]
        # Committed by someone else after the read, before the write (no lock was taken).
        admin_sql("UPDATE patients SET national_id = %s WHERE id = %s", [newer, values[0].key[0]])
        assert await write_batch(session, target, reseal(target, values, NEW_RING).values) == 1
        after = await read_batch(session, target, current_version=2, after=values[-1].key, limit=10)
        assert len(after) == 5
    assert admin_sql("SELECT national_id FROM patients WHERE id = %s", [values[0].key[0]]) == [
        (newer,)
    ]
    [(version,)] = admin_sql(
        "SELECT get_byte(national_id, 0) FROM patients WHERE id = %s", [values[1].key[0]]
    )
    assert version == 2


def insert_chart(admin_sql: AdminSql, organization_id: uuid.UUID, mrn: str, phone: bytes) -> None:
    admin_sql(
        "INSERT INTO patients (id, organization_id, mrn, first_name, last_name,"
        " date_of_birth, sex, phone)"
        " VALUES (gen_random_uuid(), %s, %s, 'Pat', 'Doe', '1980-01-01', 'unknown', %s)",
        [organization_id, mrn, phone],
    )


def test_values_under_an_unknown_key_are_reported_and_the_command_exits_1(
    make_settings: Callable[..., Settings], admin_sql: AdminSql
) -> None:
    [(organization_id,)] = admin_sql(
        "INSERT INTO organizations (id, name, slug, kind, status, settings) VALUES"
        " (gen_random_uuid(), 'Clinic', 'clinic-rotate', 'clinic', 'active', '{}') RETURNING id"
    )
    insert_chart(admin_sql, organization_id, "MRN-1", OLD_RING.encrypt("+1 555", "patients.phone"))
    insert_chart(admin_sql, organization_id, "MRN-2", bytes([9]) + os.urandom(40))
    insert_chart(admin_sql, organization_id, "MRN-3", OLD_RING.encrypt("+1 556", "patients.phone"))
    settings = make_settings(FIELD_ENCRYPTION_KEYS=ROTATED_KEYS)
    runner = CliRunner()

    dry = runner.invoke(medhub_app, ["crypto", "rotate", "--dry-run"], obj=settings)
    assert dry.exit_code == 1, dry.output
    assert "patients.phone: 2 values under key version 1, 1 value under key version 9" in dry.stdout
    assert "dry run: 2 values in 1 of" in dry.stdout
    assert "patients.phone: 1 value sealed under key version 9" in dry.stderr
    assert dict(admin_sql("SELECT mrn, get_byte(phone, 0) FROM patients")) == {
        "MRN-1": 1,
        "MRN-2": 9,
        "MRN-3": 1,
    }

    result = runner.invoke(medhub_app, ["crypto", "rotate", "--batch-size", "1"], obj=settings)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # an exit code, not a crash
    assert "patients.phone" in result.stdout  # its progress bar
    assert "re-encrypted 2 values in 1 of" in result.stdout
    assert (
        "patients.phone: 1 value sealed under key version 9, which FIELD_ENCRYPTION_KEYS"
        " does not hold" in result.stderr
    )
    assert "Traceback" not in result.output
    # The others were re-encrypted around it; it was left as it was.
    assert dict(admin_sql("SELECT mrn, get_byte(phone, 0) FROM patients")) == {
        "MRN-1": 2,
        "MRN-2": 9,
        "MRN-3": 2,
    }

    admin_sql("DELETE FROM patients WHERE mrn = 'MRN-2'")
    done = runner.invoke(medhub_app, ["crypto", "rotate"], obj=settings)
    assert done.exit_code == 0, done.output
    assert "re-encrypted 0 values" in done.stdout
    assert (
        "every encrypted value is under key version 2; key version 1 can be removed" in done.stdout
    )


def test_generate_key_prints_a_new_entry(make_settings: Callable[..., Settings]) -> None:
    runner = CliRunner()
    chosen = runner.invoke(medhub_app, ["crypto", "generate-key", "--version", "7"])
    assert chosen.exit_code == 0, chosen.output
    [(version, key)] = parse_key_specs(chosen.stdout.strip()).items()
    assert (version, len(key)) == (7, 32)
    assert "FIELD_ENCRYPTION_KEYS" in chosen.stderr

    settings = make_settings(FIELD_ENCRYPTION_KEYS=ROTATED_KEYS)
    following = runner.invoke(medhub_app, ["crypto", "generate-key"], obj=settings)
    assert following.exit_code == 0, following.output
    assert list(parse_key_specs(following.stdout.strip())) == [3]
    assert following.stdout != chosen.stdout

    out_of_range = runner.invoke(medhub_app, ["crypto", "generate-key", "--version", "256"])
    assert out_of_range.exit_code == 2
