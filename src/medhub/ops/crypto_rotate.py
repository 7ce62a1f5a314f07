"""Re-encrypting the encrypted columns under the newest field key (`medhub crypto rotate`).

Every column whose type is `EncryptedText` or `EncryptedJSON` in `Base.metadata` is
covered, so a new table needs no change here. Per column, the values whose version
byte (field_crypto: `version || nonce || ciphertext`) is not the current key's are
read in batches of the primary key's order (keyset, never OFFSET), decrypted under
the column's context and sealed again under the current key. Each batch is one short
transaction under the system context (row-level security would otherwise show no
rows), and each value is written back only if it is still the one that was read
(`UPDATE ... WHERE pk = :pk AND col = :old`): a value the application wrote meanwhile
is left as written. No row is locked while reading, and a batch's writes hold their
row locks until its commit only, so the rotation runs beside the application.

The values are read and written as bytes (not through the column types), so nothing
but the ciphertext changes: not `updated_at`, not the blind indexes (their key is
another one). A run after a complete one finds nothing to do; a run that stopped
half-way (an error, Ctrl-C) resumes where the committed batches end, because what is
done no longer matches the query.

A value sealed under a version the keyring does not hold, or that does not decrypt,
is not touched: it is counted per column, and the run goes on with the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    MetaData,
    Table,
    TableClause,
    and_,
    case,
    column,
    func,
    literal,
    select,
    table,
    tuple_,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.field_crypto import EncryptedJSON, EncryptedText, FieldCryptoError, Keyring, keyring
from medhub.kit.db import Database
from medhub.kit.tenancy import set_system_context
from medhub.models import Base

DEFAULT_BATCH_SIZE = 500
# The version of an empty value (which no key sealed): never a key's version.
NO_VERSION = -1


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted column, seen as the bytes it stores."""

    table_name: str
    schema: str | None
    name: str
    context: str
    primary_key: tuple[str, ...]
    # The primary key's own columns, whose types convert keys (a UUID) as the ORM does.
    key_types: tuple[Any, ...]

    @property
    def label(self) -> str:
        return f"{self.table_name}.{self.name}"

    def raw(self) -> TableClause:
        """The table with the primary key and this column as plain `bytea`, so that
        neither reading nor writing goes through `EncryptedText`/`EncryptedJSON`."""
        columns = [
            column(name, type_)
            for name, type_ in zip(self.primary_key, self.key_types, strict=True)
        ]
        return table(
            self.table_name, *columns, column(self.name, LargeBinary()), schema=self.schema
        )


def encrypted_columns(metadata: MetaData | None = None) -> list[EncryptedColumn]:
    """Every encrypted column of the models, in table then column order."""
    found: list[EncryptedColumn] = []
    for model_table in (metadata or Base.metadata).sorted_tables:
        for model_column in model_table.columns:
            if isinstance(model_column.type, EncryptedText | EncryptedJSON):
                found.append(_describe(model_table, model_column.name, model_column.type.context))
    return found


def _describe(model_table: Table, name: str, context: str) -> EncryptedColumn:
    key = list(model_table.primary_key.columns)
    if not key:
        raise ValueError(f"{model_table.name} has no primary key: its values cannot be rotated")
    return EncryptedColumn(
        table_name=model_table.name,
        schema=model_table.schema,
        name=name,
        context=context,
        primary_key=tuple(c.name for c in key),
        key_types=tuple(c.type for c in key),
    )


@dataclass(frozen=True)
class StoredValue:
    key: tuple[Any, ...]
    stored: bytes


@dataclass(frozen=True)
class Resealed:
    key: tuple[Any, ...]
    old: bytes
    new: bytes


@dataclass
class ResealedBatch:
    values: list[Resealed] = field(default_factory=list)
    # Values left as they are: sealed under a version the keyring lacks, by version...
    unknown_versions: Counter[int] = field(default_factory=Counter)
    # ...or under a known version, but they do not decrypt (damaged, or another key).
    undecryptable: int = 0


def _version(raw_value: ColumnElement[Any]) -> ColumnElement[int]:
    # get_byte() of an empty value is an error, which would stop the whole run.
    return case(
        (func.octet_length(raw_value) == 0, literal(NO_VERSION)),
        else_=func.get_byte(raw_value, 0),
    )


def _key_of(raw: TableClause, target: EncryptedColumn) -> list[ColumnElement[Any]]:
    return [raw.c[name] for name in target.primary_key]


def _key_after(keys: list[ColumnElement[Any]], after: tuple[Any, ...]) -> ColumnElement[bool]:
    if len(keys) == 1:
        first: ColumnElement[bool] = keys[0] > after[0]
        return first
    return tuple_(*keys) > tuple_(
        *(literal(v, type_=k.type) for k, v in zip(keys, after, strict=True))
    )


def _key_is(keys: list[ColumnElement[Any]], key: tuple[Any, ...]) -> ColumnElement[bool]:
    return and_(*(k == v for k, v in zip(keys, key, strict=True)))


async def count_by_version(
    session: AsyncSession, target: EncryptedColumn, *, current_version: int
) -> dict[int, int]:
    """How many values of the column are sealed under each version but the current one
    (an empty value counts under NO_VERSION). Needs the system context."""
    raw = target.raw()
    value = raw.c[target.name]
    version = _version(value).label("version")
    rows = await session.execute(
        select(version, func.count())
        .where(value.is_not(None), _version(value) != current_version)
        .group_by(version)
    )
    return {int(v): int(n) for v, n in rows}


async def read_batch(
    session: AsyncSession,
    target: EncryptedColumn,
    *,
    current_version: int,
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[StoredValue]:
    """The next `limit` values (by primary key, after `after`) not sealed under
    `current_version`. Plain reads: no row is locked."""
    raw = target.raw()
    keys = _key_of(raw, target)
    value = raw.c[target.name]
    query = select(*keys, value).where(value.is_not(None), _version(value) != current_version)
    if after is not None:
        query = query.where(_key_after(keys, after))
    rows = await session.execute(query.order_by(*keys).limit(limit))
    width = len(keys)
    return [StoredValue(key=tuple(row)[:width], stored=bytes(row[width])) for row in rows]


def reseal(target: EncryptedColumn, values: Sequence[StoredValue], ring: Keyring) -> ResealedBatch:
    """Decrypt each value under the column's context and seal it under the current key."""
    batch = ResealedBatch()
    for value in values:
        version = value.stored[0] if value.stored else NO_VERSION
        if version not in ring.keys:
            batch.unknown_versions[version] += 1
            continue
        try:
            plaintext = ring.decrypt(value.stored, target.context)
        except FieldCryptoError:
            batch.undecryptable += 1
            continue
        batch.values.append(
            Resealed(key=value.key, old=value.stored, new=ring.encrypt(plaintext, target.context))
        )
    return batch


async def write_batch(
    session: AsyncSession, target: EncryptedColumn, values: Sequence[Resealed]
) -> int:
    """Write the resealed values back, each only where the row still holds the value
    that was read; how many were written (the others changed meanwhile)."""
    raw = target.raw()
    keys = _key_of(raw, target)
    value = raw.c[target.name]
    written = 0
    for resealed in values:
        result = await session.execute(
            update(raw)
            .where(_key_is(keys, resealed.key), value == resealed.old)
            .values({target.name: resealed.new})
        )
        written += cast("CursorResult[Any]", result).rowcount
    return written


class RotationProgress(Protocol):
    """What a caller (the CLI's progress bar) hears while a rotation runs."""

    def column_started(self, target: EncryptedColumn, pending: int) -> None: ...

    def advanced(self, target: EncryptedColumn, rows: int) -> None: ...


class _Silent:
    def column_started(self, target: EncryptedColumn, pending: int) -> None:
        pass

    def advanced(self, target: EncryptedColumn, rows: int) -> None:
        pass


@dataclass
class ColumnReport:
    target: EncryptedColumn
    # Values not under the current key when the column's turn came, by version.
    before: dict[int, int]
    rotated: int = 0
    # Read, resealed, but the application changed the row before the write: left alone.
    changed_concurrently: int = 0
    unknown_versions: Counter[int] = field(default_factory=Counter)
    undecryptable: int = 0
    # Values still not under the current key after the pass, by version (None: dry run).
    after: dict[int, int] | None = None

    @property
    def pending(self) -> int:
        return sum(self.before.values())

    @property
    def unreadable(self) -> int:
        return sum(self.unknown_versions.values()) + self.undecryptable

    @property
    def remaining(self) -> int:
        return sum((self.before if self.after is None else self.after).values())


@dataclass
class RotationReport:
    current_version: int
    known_versions: frozenset[int]
    dry_run: bool
    columns: list[ColumnReport] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(c.rotated for c in self.columns)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.columns)

    @property
    def changed_concurrently(self) -> int:
        return sum(c.changed_concurrently for c in self.columns)

    @property
    def unreadable(self) -> int:
        return sum(c.unreadable for c in self.columns)

    @property
    def remaining(self) -> int:
        """Values not under the current key once the run is over (a dry run changes none)."""
        return sum(c.remaining for c in self.columns)

    @property
    def complete(self) -> bool:
        """Every value of every column is sealed under the current key."""
        return self.remaining == 0

    def retirable_versions(self) -> list[int]:
        """Older keys no value needs any more (after a complete run: all of them)."""
        still_used: set[int] = set()
        for report in self.columns:
            counts = report.before if report.after is None else report.after
            still_used.update(v for v, n in counts.items() if n)
        return sorted(self.known_versions - still_used - {self.current_version})


async def _counts(
    database: Database, target: EncryptedColumn, current_version: int
) -> dict[int, int]:
    async with database.unit_of_work() as session:
        await set_system_context(session)
        return await count_by_version(session, target, current_version=current_version)


async def rotate_column(
    database: Database,
    target: EncryptedColumn,
    ring: Keyring,
    report: ColumnReport,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: RotationProgress | None = None,
) -> None:
    """Reseal one column's older values, one transaction per batch; counts into `report`."""
    listener = progress or _Silent()
    after: tuple[Any, ...] | None = None
    while True:
        async with database.unit_of_work() as session:
            await set_system_context(session)
            values = await read_batch(
                session,
                target,
                current_version=ring.current_version,
                after=after,
                limit=batch_size,
            )
            batch = reseal(target, values, ring)
            written = await write_batch(session, target, batch.values) if batch.values else 0
        if not values:
            return
        after = values[-1].key
        report.rotated += written
        report.changed_concurrently += len(batch.values) - written
        report.unknown_versions.update(batch.unknown_versions)
        report.undecryptable += batch.undecryptable
        listener.advanced(target, len(values))
        if len(values) < batch_size:
            return


async def rotate(
    database: Database,
    *,
    ring: Keyring | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    columns: Sequence[EncryptedColumn] | None = None,
    progress: RotationProgress | None = None,
) -> RotationReport:
    """Reseal every encrypted column's older values under the current key (default: the
    keyring the process installed). A dry run only counts them, by version."""
    if batch_size < 1:
        raise ValueError("the batch size is at least 1")
    ring = ring or keyring()
    listener = progress or _Silent()
    report = RotationReport(
        current_version=ring.current_version, known_versions=frozenset(ring.keys), dry_run=dry_run
    )
    for target in encrypted_columns() if columns is None else columns:
        before = await _counts(database, target, ring.current_version)
        column_report = ColumnReport(target=target, before=before)
        report.columns.append(column_report)
        if dry_run:
            column_report.unknown_versions.update(
                {v: n for v, n in before.items() if v not in ring.keys}
            )
            continue
        listener.column_started(target, column_report.pending)
        if column_report.pending:
            await rotate_column(
                database, target, ring, column_report, batch_size=batch_size, progress=listener
            )
        column_report.after = await _counts(database, target, ring.current_version)
    return report
