"""The outcome of a login session's check, kept in process memory between requests.

Checking an access token against its session (`auth_context()`: the session is
live, the user and their organization active, the role and tenant as they are
now) is a database round trip. The outcome changes rarely, and the database says
when it does: triggers on `auth_sessions`, `users` and `organizations` NOTIFY
`medhub_auth_changed` with `session:<id>`, `user:<id>` or `org:<id>` at COMMIT
(migration 0009), and every process's notify hub hands those to its cache.

Rules that keep a cached answer from ever granting what the database would refuse:

- An entry is dropped when a notification names its session, user or organization,
  and never outlives its session's expiry nor `max_age` seconds.
- A check that started before an invalidation does not store its (possibly old)
  outcome: `generation` counts invalidations, and `store` refuses an outcome read
  under an older one.
- While the notification path is down, nothing would tell us of a change, so
  entries are trusted for at most `unlistened_max_age` seconds (1 s): that is the
  documented staleness bound, and it applies only then. When the path comes back,
  everything cached is dropped (changes made meanwhile were not announced to us).
- A change made by this process is applied here as soon as its transaction commits
  (`note_change`, automatic for ORM changes), before the response that made it is sent; other
  processes learn of it from the notification, which `poll` picks up on every hit.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from medhub.models.identity import AuthSession, Organization, User

AUTH_CHANGED_CHANNEL = "medhub_auth_changed"


@dataclass(frozen=True, slots=True)
class SessionState:
    """What `auth_context()` said about one login session of one user."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    organization_id: uuid.UUID | None
    is_verified: bool
    is_approved: bool
    expires_at: datetime
    checked_at: float  # time.monotonic() when the database answered


class SessionCache:
    def __init__(
        self,
        *,
        max_age: float = 60.0,
        max_entries: int = 50_000,
        unlistened_max_age: float = 1.0,
    ) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self.unlistened_max_age = unlistened_max_age
        self.generation = 0
        self.listening = False
        self.hits = 0
        self.misses = 0
        self.barriers_seen: list[str] = []
        # Set by the notify hub: reads announcements that already reached this
        # process but were not dispatched yet (a non-blocking socket read).
        self.poll: Callable[[], None] = _nothing
        self._entries: OrderedDict[uuid.UUID, SessionState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime) -> SessionState | None:
        if self.max_age <= 0:
            return None
        self.poll()
        state = self._entries.get(session_id)
        if state is None or state.user_id != user_id:
            self.misses += 1
            return None
        limit = self.max_age if self.listening else min(self.max_age, self.unlistened_max_age)
        if time.monotonic() - state.checked_at > limit or now >= state.expires_at:
            del self._entries[session_id]
            self.misses += 1
            return None
        self.hits += 1
        return state

    def store(self, state: SessionState, generation: int) -> None:
        """Keep `state` unless something was invalidated since it was read."""
        if self.max_age <= 0 or generation != self.generation:
            return
        self._entries[state.session_id] = state
        self._entries.move_to_end(state.session_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, kind: str, entity_id: uuid.UUID) -> None:
        self.generation += 1
        if kind == "session":
            self._entries.pop(entity_id, None)
            return
        attribute = "user_id" if kind == "user" else "organization_id"
        stale = [
            key for key, state in self._entries.items() if getattr(state, attribute) == entity_id
        ]
        for key in stale:
            del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    # -- the notify hub's side ------------------------------------------------------

    def announced(self, payload: str) -> None:
        """One `medhub_auth_changed` payload; an unreadable one drops everything.

        `barrier:<token>` changes nothing: whoever sent it waits until `barriers_seen`
        holds it, and then knows every announcement committed before it was applied
        (a listener receives notifications in commit order).
        """
        kind, _, raw_id = payload.partition(":")
        if kind == "barrier":
            self.barriers_seen.append(raw_id)
            del self.barriers_seen[:-16]
            return
        try:
            entity_id = uuid.UUID(raw_id)
        except ValueError:
            self.clear()
            return
        if kind not in ("session", "user", "org"):
            self.clear()
            return
        self.invalidate(kind, entity_id)

    def listening_changed(self, listening: bool) -> None:
        # Either way, announcements may have been missed: start again from nothing.
        self.listening = listening
        self.clear()


def _nothing() -> None:
    return None


# -- changes made by this process ----------------------------------------------------

CACHE_KEY = "medhub.session_cache"
_PENDING_KEY = "medhub.auth_changes"
_WATCHED: dict[type[object], tuple[str, tuple[str, ...]]] = {
    User: ("user", ("role", "organization_id", "is_active", "is_verified", "is_approved")),
    Organization: ("org", ("status",)),
    AuthSession: ("session", ("revoked_at", "expires_at", "user_id")),
}


def note_change(session: AsyncSession | Session, kind: str, entity_id: uuid.UUID) -> None:
    """Drop the cached checks `kind:entity_id` affects once `session` commits.

    The trigger's notification tells every process, this one included, but it
    travels through the database; the process that made the change applies it
    itself at COMMIT, so its very next request already sees it. Changes to the
    watched ORM objects are noted automatically at flush; bulk UPDATEs call this.
    """
    sync_session = session.sync_session if isinstance(session, AsyncSession) else session
    if CACHE_KEY in sync_session.info:
        sync_session.info.setdefault(_PENDING_KEY, []).append((kind, entity_id))


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _context: object) -> None:
    if CACHE_KEY not in session.info:
        return
    for instance in (*session.dirty, *session.deleted):
        watched = _WATCHED.get(type(instance))
        if watched is None:
            continue
        kind, attributes = watched
        state = inspect(instance)
        if state.deleted or any(state.attrs[name].history.has_changes() for name in attributes):
            note_change(session, kind, state.identity[0] if state.identity else instance.id)


@event.listens_for(Session, "after_commit")
def _apply_noted_changes(session: Session) -> None:
    pending = session.info.pop(_PENDING_KEY, None)
    if pending:
        cache: SessionCache = session.info[CACHE_KEY]
        for kind, entity_id in pending:
            cache.invalidate(kind, entity_id)


@event.listens_for(Session, "after_rollback")
def _forget_noted_changes(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
