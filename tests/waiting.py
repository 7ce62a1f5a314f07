"""Waiting for something to become true, with a deadline, instead of sleeping a fixed time.

A fixed sleep is either too long (the suite pays it on every run) or too short (the
test fails, or worse passes, on a slow machine). These helpers return as soon as the
condition holds and fail with a clear message once the deadline passes.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# Short enough that a test waits at most a few milliseconds longer than it must, long
# enough that polling (often a query) does not load the machine.
POLL_SECONDS = 0.02


async def eventually(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    seconds: float = 5.0,
    message: str | Callable[[], str] = "the condition did not become true",
) -> T:
    """Poll `predicate` (sync or async) until it returns something truthy; return that.

    Raises AssertionError with `message` (and the last value) once `seconds` seconds
    have passed; the predicate's own exceptions propagate at once.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} within {seconds} s (last value: {value!r})")
        await asyncio.sleep(POLL_SECONDS)


def eventually_sync(
    predicate: Callable[[], T],
    *,
    seconds: float = 5.0,
    message: str | Callable[[], str] = "the condition did not become true",
) -> T:
    """`eventually` for tests without an event loop (subprocesses, blocking clients)."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} within {seconds} s (last value: {value!r})")
        time.sleep(POLL_SECONDS)
