"""Checkpoints of the audit chain, signed with a key the database never sees.

The hash chain proves that no sealed row was changed *unless* whoever changed it also
recomputed every later hash, which a database superuser can do. A checkpoint closes
that gap: the chain tip (position and hash) signed with AUDIT_ANCHOR_SIGNING_KEY
(Ed25519, outside the database) and appended as one JSON line to
`<AUDIT_ANCHOR_DIR>/anchors-YYYY-MM.jsonl`, or printed for shipping elsewhere:

    {"chain_seq": 1042, "row_id": "…", "tip_hash": "…", "created_at": "…",
     "kid": "…", "jws": "<compact JWS, alg EdDSA, of the same fields>"}

`verify_anchors` checks every line's signature against the configured public keys,
then that the chain in the database still has the signed hash at the signed position:
a rewrite older than a checkpoint changes the hash there, however consistently the
rows after it were re-chained.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import jwt
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from medhub.config import Settings
from medhub.kit.db import Database
from medhub.kit.signing_keys import KeyRing

log = structlog.get_logger(__name__)

ALGORITHM = "EdDSA"
CHECKPOINT_TYPE = "medhub-audit-anchor"
FILE_GLOB = "anchors-*.jsonl"
LOCK_FILE = ".lock"
LOCK_POLL_SECONDS = 0.05
# The fields a line shows and its JWS signs; `kid` is the JWS header's.
SIGNED_FIELDS = ("chain_seq", "row_id", "tip_hash", "created_at")


class AnchorError(Exception):
    """Anchoring cannot go on; the message says why."""


@dataclass(frozen=True)
class ChainTip:
    """The last sealed row: its chain position, id and hash."""

    chain_seq: int
    row_id: uuid.UUID
    tip_hash: str


@dataclass(frozen=True)
class Checkpoint:
    """One signed line, as read back (`source` is `file:line`)."""

    chain_seq: int
    row_id: uuid.UUID
    tip_hash: str
    created_at: str
    key_id: str
    source: str


class AnchorKeys(KeyRing):
    """Signs with the current anchor key; verifies with it and the previous public keys."""

    @classmethod
    def from_settings(cls, settings: Settings) -> AnchorKeys:
        """The keys of AUDIT_ANCHOR_SIGNING_KEY and AUDIT_ANCHOR_PREVIOUS_PUBLIC_KEYS (a
        ConfigurationError when they are missing or malformed)."""
        return cls(
            settings.audit_anchor_signing_key(), settings.audit_anchor_previous_public_keys()
        )

    def sign(self, tip: ChainTip, created_at: datetime) -> dict[str, Any]:
        """The checkpoint line of `tip`: its fields, the key id and their JWS."""
        fields: dict[str, Any] = {
            "chain_seq": tip.chain_seq,
            "row_id": str(tip.row_id),
            "tip_hash": tip.tip_hash,
            "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        }
        token = jwt.encode(
            {"typ": CHECKPOINT_TYPE, **fields},
            self._signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self.key_id, "typ": None},
        )
        return {**fields, "kid": self.key_id, "jws": token}

    def verified(self, line: dict[str, Any], source: str) -> Checkpoint:
        """The checkpoint a line holds, if one of the listed keys signed exactly it;
        otherwise an AnchorError saying what is wrong."""
        token = line.get("jws")
        if not isinstance(token, str):
            raise AnchorError("no signature (`jws`)")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AnchorError("malformed signature") from exc
        # Only EdDSA, decided here and never by the line.
        if header.get("alg") != ALGORITHM:
            raise AnchorError("signature algorithm is not EdDSA")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._public_keys:
            raise AnchorError(f"signed by a key that is not configured (kid {kid})")
        key = self._public_keys[kid]
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError as exc:
            raise AnchorError("signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise AnchorError("malformed signature") from exc
        if payload.get("typ") != CHECKPOINT_TYPE:
            raise AnchorError("the signature is not of an audit checkpoint")
        if any(line.get(name) != payload.get(name) for name in SIGNED_FIELDS) or (
            line.get("kid") != kid
        ):
            raise AnchorError("the line differs from what its signature covers")
        try:
            return Checkpoint(
                chain_seq=int(payload["chain_seq"]),
                row_id=uuid.UUID(str(payload["row_id"])),
                tip_hash=str(payload["tip_hash"]),
                created_at=str(payload["created_at"]),
                key_id=kid,
                source=source,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnchorError("the signed checkpoint lacks a field") from exc


async def _system_session(session: AsyncSession) -> None:
    # The audit tables are read as the platform, not as a tenant.
    await session.execute(text("SELECT set_config('app.system', 'on', true)"))


async def read_tip(session: AsyncSession) -> ChainTip | None:
    """The chain tip, or None while nothing is sealed. Only sealed rows are in it."""
    await _system_session(session)
    row = (
        await session.execute(
            text(
                "SELECT c.last_seq, c.last_hash, a.id FROM activity_log_chain c"
                " LEFT JOIN activity_logs a ON a.chain_seq = c.last_seq"
            )
        )
    ).one()
    if row.last_seq == 0:
        return None
    if row.id is None:
        raise AnchorError(f"the chain tip names chain_seq {row.last_seq}, which is missing")
    return ChainTip(int(row.last_seq), row.id, str(row.last_hash))


async def _hash_at(session: AsyncSession, chain_seq: int) -> str | None:
    result = await session.execute(
        text("SELECT row_hash FROM activity_logs WHERE chain_seq = :seq"), {"seq": chain_seq}
    )
    value = result.scalar_one_or_none()
    return None if value is None else str(value)


def _checkpoint_files(directory: Path) -> list[Path]:
    # anchors-YYYY-MM.jsonl: name order is time order.
    return sorted(path for path in directory.glob(FILE_GLOB) if path.is_file())


def last_line(directory: Path) -> dict[str, Any] | None:
    """The newest checkpoint line written to `directory` (unverified), if any."""
    for path in reversed(_checkpoint_files(directory)):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if lines:
            try:
                value = json.loads(lines[-1])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


@asynccontextmanager
async def _locked(directory: Path) -> AsyncIterator[None]:
    """Serialise the anchorers writing to one directory (workers and command alike)."""
    os.makedirs(directory, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            # Never a blocking wait: two anchor jobs of one worker share its event loop,
            # and the holder must be able to go on.
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)


def _append(path: Path, line: dict[str, Any]) -> None:
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
        # A checkpoint is evidence: it must survive a crash right after it is reported.
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class AnchorResult:
    """What `anchor` did: `written` false when there was nothing new to sign."""

    tip: ChainTip | None
    written: bool
    line: dict[str, Any] | None
    destination: Path | None


def is_due(timestamp: int, interval_minutes: int) -> bool:
    """Whether the periodic run of `timestamp` (a minute's start) is an anchoring one:
    every `interval_minutes` minutes since the epoch, on every worker alike."""
    return (timestamp // 60) % interval_minutes == 0


async def anchor(
    database: Database,
    settings: Settings,
    *,
    keys: AnchorKeys | None = None,
    stdout: bool = False,
    out: TextIO | None = None,
) -> AnchorResult:
    """Sign the sealed chain's tip and append the checkpoint (to stdout when `stdout`
    or AUDIT_ANCHOR_DIR is `-`).

    Into a directory it writes nothing when the newest checkpoint there already holds
    the tip; and it refuses (AnchorError) when the chain no longer has that checkpoint's
    hash at its position: a chain rewritten under the last checkpoint is not signed.
    """
    signer = keys or AnchorKeys.from_settings(settings)
    directory = None if stdout else settings.audit_anchor_dir
    async with AsyncExitStack() as stack:
        if directory is not None:
            # Locked before the tip is read: checkpoints are appended in chain order.
            await stack.enter_async_context(_locked(directory))
        session = await stack.enter_async_context(database.session())
        await stack.enter_async_context(session.begin())
        tip = await read_tip(session)
        if tip is None:
            return AnchorResult(None, False, None, directory)
        if directory is None:
            line = signer.sign(tip, datetime.now(UTC))
            stream = out or sys.stdout
            stream.write(json.dumps(line, separators=(",", ":")) + "\n")
            stream.flush()
            return AnchorResult(tip, True, line, None)
        previous = last_line(directory)
        if previous is not None:
            if (previous.get("chain_seq"), previous.get("tip_hash")) == (
                tip.chain_seq,
                tip.tip_hash,
            ):
                return AnchorResult(tip, False, None, directory)
            await _still_extends(session, previous)
        created_at = datetime.now(UTC)
        line = signer.sign(tip, created_at)
        destination = directory / f"anchors-{created_at:%Y-%m}.jsonl"
        _append(destination, line)
    log.info("audit_anchor_written", chain_seq=tip.chain_seq, path=str(destination))
    return AnchorResult(tip, True, line, destination)


async def _still_extends(session: AsyncSession, previous: dict[str, Any]) -> None:
    seq = previous.get("chain_seq")
    if not isinstance(seq, int):
        return
    current = await _hash_at(session, seq)
    if current != previous.get("tip_hash"):
        log.error("audit_anchor_refused", chain_seq=seq)
        raise AnchorError(
            f"the chain no longer has the last checkpoint's hash at chain_seq {seq}: "
            "run `medhub audit verify --anchors`"
        )


@dataclass(frozen=True)
class AnchorReport:
    """The verdict of `verify_anchors`; on failure, the first bad checkpoint."""

    ok: bool
    checked: int
    last: Checkpoint | None = None
    bad_source: str | None = None
    bad_seq: int | None = None
    bad_row_id: uuid.UUID | None = None
    # The highest checkpoint below the bad one that still matches: the rewrite lies after it.
    matched_below: int | None = None
    problem: str | None = None


def read_lines(location: Path) -> list[tuple[str, str]]:
    """(`file:line`, text) of every checkpoint line under the directory `location`
    (or in the file `location`), oldest first."""
    lines: list[tuple[str, str]] = []
    files = [location] if location.is_file() else _checkpoint_files(location)
    for path in files:
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if raw.strip():
                lines.append((f"{path.name}:{number}", raw))
    return lines


def _parsed(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise AnchorError("not a JSON line") from exc
    if not isinstance(value, dict):
        raise AnchorError("not a checkpoint object")
    return value


async def verify_anchors(
    session: AsyncSession, keys: AnchorKeys, lines: Sequence[tuple[str, str]]
) -> AnchorReport:
    """Check every line's signature, then that the chain in the database has each
    checkpoint's hash at its position; name the first checkpoint that fails.

    Call it after `verify_chain` in the same session (one snapshot): that proves the
    stored hashes are the ones the rows recompute to, so the stored hash at a position
    is where the recomputed chain stands there.
    """
    checkpoints: list[Checkpoint] = []
    for source, raw in lines:
        try:
            checkpoints.append(keys.verified(_parsed(raw), source))
        except AnchorError as exc:
            return AnchorReport(False, len(checkpoints), bad_source=source, problem=str(exc))
    await _system_session(session)
    positions = sorted({checkpoint.chain_seq for checkpoint in checkpoints})
    stored = {
        int(seq): (row_id, str(row_hash))
        for seq, row_id, row_hash in (
            await session.execute(
                text(
                    "SELECT chain_seq, id, row_hash FROM activity_logs"
                    " WHERE chain_seq = ANY(:positions)"
                ),
                {"positions": positions},
            )
        ).all()
    }
    problems = [_position_problem(checkpoint, stored) for checkpoint in checkpoints]
    matching = [
        checkpoint.chain_seq
        for checkpoint, problem in zip(checkpoints, problems, strict=True)
        if problem is None
    ]
    for checked, (checkpoint, problem) in enumerate(zip(checkpoints, problems, strict=True)):
        if problem is None:
            continue
        below = [seq for seq in matching if seq < checkpoint.chain_seq]
        return AnchorReport(
            False,
            checked,
            bad_source=checkpoint.source,
            bad_seq=checkpoint.chain_seq,
            bad_row_id=checkpoint.row_id,
            matched_below=max(below) if below else None,
            problem=problem,
        )
    last = max(checkpoints, key=lambda checkpoint: checkpoint.chain_seq, default=None)
    return AnchorReport(True, len(checkpoints), last=last)


def _position_problem(
    checkpoint: Checkpoint, stored: dict[int, tuple[uuid.UUID, str]]
) -> str | None:
    found = stored.get(checkpoint.chain_seq)
    if found is None:
        return "that position is no longer in the chain (rows deleted)"
    row_id, row_hash = found
    if row_hash != checkpoint.tip_hash:
        return (
            f"the chain reaches hash {row_hash[:16]}… there, the checkpoint signed "
            f"{checkpoint.tip_hash[:16]}…: a row at or before it was rewritten"
        )
    if row_id != checkpoint.row_id:
        return f"row {row_id} stands there, the checkpoint signed another"
    return None
