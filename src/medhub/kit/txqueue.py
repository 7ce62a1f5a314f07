"""Work that shares the fate of a session's outermost transaction: audit rows, emails.

Items are queued on the session and handed over only at the real COMMIT (a
savepoint's release is not one). A rollback drops them: the whole queue for the
outer transaction, only the items queued inside it for a savepoint.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

T = TypeVar("T")


class TransactionQueue(Generic[T]):
    _all: ClassVar[list[TransactionQueue[Any]]] = []

    def __init__(self, name: str) -> None:
        self.key = f"medhub.txqueue.{name}"
        self.marks_key = f"{self.key}.savepoints"
        TransactionQueue._all.append(self)

    @classmethod
    def any_pending(cls, session: Session | AsyncSession) -> bool:
        """Whether any queue holds items for this session (it then has work to commit,
        even if nothing was flushed yet)."""
        return any(session.info.get(queue.key) for queue in cls._all)

    def add(self, session: Session | AsyncSession, item: T) -> None:
        session.info.setdefault(self.key, []).append(item)

    def take(self, session: Session) -> list[T]:
        """Everything queued, for the outermost COMMIT; [] while a savepoint is committing."""
        if session.in_nested_transaction():
            return []
        items: list[T] = session.info.pop(self.key, [])
        return items

    def _mark(self, session: Session) -> None:
        marks: list[int] = session.info.setdefault(self.marks_key, [])
        marks.append(len(session.info.get(self.key, [])))

    def _unmark(self, session: Session) -> None:
        marks: list[int] = session.info.get(self.marks_key, [])
        if marks:
            marks.pop()

    def _drop(self, session: Session) -> None:
        marks: list[int] = session.info.get(self.marks_key, [])
        if session.in_nested_transaction() and marks:
            pending: list[T] = session.info.get(self.key, [])
            del pending[marks[-1] :]
        else:
            session.info.pop(self.key, None)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_started(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        for queue in TransactionQueue._all:
            queue._mark(session)


@event.listens_for(Session, "after_transaction_end")
def _savepoint_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        for queue in TransactionQueue._all:
            queue._unmark(session)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    # Fired for the outer transaction, or for the innermost savepoint (which is
    # then still the session's nested transaction).
    for queue in TransactionQueue._all:
        queue._drop(session)
