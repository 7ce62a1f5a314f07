"""Rate limits: shared counters in Redis when REDIS_URL is set, in process memory otherwise.

`RateLimit("5/15minutes", scope="login")` is a FastAPI dependency; the most
restrictive limit a request passed through is reported in `X-RateLimit-*`
headers (the middleware writes them), and a refusal is a 429 envelope with
`Retry-After`.

When Redis cannot be reached (down, or slower than STORE_TIMEOUT_SECONDS), a limit can
be neither counted nor checked: `RATE_LIMIT_FAIL_OPEN` decides. `reads` (the default)
lets reads (GET, HEAD, OPTIONS) through unlimited and answers limited writes 503 with
`Retry-After` — the write limits are the ones that stop password guessing, OTP and
reference-number guessing and prescription floods; `all` lets everything through,
`none` refuses everything limited. Never a 500: every such failure is counted in
`medhub_rate_limit_store_errors_total{outcome}` and logged (at most once per
STORE_ERROR_LOG_SECONDS per process, so an outage does not flood the log).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from medhub.config import Settings
from medhub.kit.errors import RateLimitExceeded, ServiceUnavailable

log = structlog.get_logger("medhub.ratelimit")

STORE_TIMEOUT_SECONDS = 1.0
STORE_ERROR_LOG_SECONDS = 10.0
STORE_RETRY_AFTER_SECONDS = 5
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RateLimitResult:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset_at - time.time()))


class RateLimiter:
    def __init__(
        self, settings: Settings, on_store_error: Callable[[str], None] | None = None
    ) -> None:
        self.enabled = settings.RATE_LIMIT_ENABLED
        self.fail_open = settings.RATE_LIMIT_FAIL_OPEN
        self.on_store_error = on_store_error
        self._logged_at = -math.inf
        self.storage: Storage
        if settings.REDIS_URL:
            url = settings.REDIS_URL.replace("redis://", "async+redis://", 1).replace(
                "rediss://", "async+rediss://", 1
            )
            storage = storage_from_string(
                url,
                implementation="redispy",
                # Every failure of the store is a StorageError, whatever the client raised.
                wrap_exceptions=True,
                # A hung Redis must not hang the requests it limits.
                socket_timeout=STORE_TIMEOUT_SECONDS,
                socket_connect_timeout=STORE_TIMEOUT_SECONDS,
            )
            assert isinstance(storage, Storage)
            self.storage = storage
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    def lets_through(self, method: str) -> bool:
        """Whether a request of `method` passes while the store cannot be reached."""
        return self.fail_open == "all" or (self.fail_open == "reads" and method in READ_METHODS)

    def store_failed(self, error: StorageError, method: str) -> None:
        """Count and log a failure of the store; raise 503 unless the policy lets the
        request through."""
        allowed = self.lets_through(method)
        outcome = "allowed" if allowed else "refused"
        if self.on_store_error is not None:
            self.on_store_error(outcome)
        now = time.monotonic()
        if now - self._logged_at >= STORE_ERROR_LOG_SECONDS:
            self._logged_at = now
            log.warning(
                "rate_limit.store_unavailable",
                error=str(error.storage_error),
                method=method,
                outcome=outcome,
                policy=self.fail_open,
            )
        if not allowed:
            raise ServiceUnavailable(
                "Rate limits cannot be checked right now; please try again shortly.",
                headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)},
            )

    @property
    def backend(self) -> str:
        return "redis" if not isinstance(self.storage, MemoryStorage) else "memory"

    async def hit(self, item: RateLimitItem, *identifiers: str) -> RateLimitResult:
        allowed = await self.strategy.hit(item, *identifiers)
        stats = await self.strategy.get_window_stats(item, *identifiers)
        return RateLimitResult(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_at=math.ceil(stats.reset_time),
        )

    async def would_allow(self, limit: str, *identifiers: str, method: str = "POST") -> bool:
        """Whether one more hit of `limit` would pass, without counting one: for limits
        that count only failures (counted with `count` when one happens). `method` is
        the request's, for the policy when the store cannot be reached."""
        if not self.enabled:
            return True
        try:
            return await self.strategy.test(_parsed(limit), *identifiers)
        except StorageError as error:
            self.store_failed(error, method)
            return True

    async def count(self, limit: str, *identifiers: str, method: str = "POST") -> None:
        if not self.enabled:
            return
        try:
            await self.strategy.hit(_parsed(limit), *identifiers)
        except StorageError as error:
            self.store_failed(error, method)

    async def reset_at(self, limit: str, *identifiers: str, method: str = "POST") -> int:
        """When the oldest hit of `limit`'s window stops counting (unix seconds)."""
        item = _parsed(limit)
        try:
            stats = await self.strategy.get_window_stats(item, *identifiers)
        except StorageError as error:
            self.store_failed(error, method)
            return math.ceil(time.time() + item.get_expiry())
        return math.ceil(stats.reset_time)

    async def reset(self) -> None:
        await self.storage.reset()


@functools.lru_cache(maxsize=256)
def _parsed(limit: str) -> RateLimitItem:
    # A handful of distinct settings strings, parsed once each instead of per request.
    return parse(limit)


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def request_rate_limiter(request: Request) -> RateLimiter:
    """`get_rate_limiter` as a dependency (FastAPI runs a plain `def` one in a thread)."""
    return get_rate_limiter(request)


def record(request: Request, result: RateLimitResult) -> None:
    """Keep the tightest limit for the response headers."""
    current: RateLimitResult | None = getattr(request.state, "rate_limit", None)
    if current is None or result.remaining < current.remaining:
        request.state.rate_limit = result


async def enforce(
    request: Request, limit: str, scope: str, identity: str
) -> RateLimitResult | None:
    limiter = get_rate_limiter(request)
    if not limiter.enabled:
        return None
    try:
        result = await limiter.hit(_parsed(limit), scope, identity)
    except StorageError as error:
        limiter.store_failed(error, request.method)
        return None
    record(request, result)
    if not result.allowed:
        raise RateLimitExceeded(
            "Too many requests, please try again later.",
            headers={
                "Retry-After": str(result.retry_after),
                "X-RateLimit-Limit": str(result.limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(result.reset_at),
            },
        )
    return result


class RateLimit:
    """A dependency limiting one endpoint per client IP."""

    def __init__(self, limit: str | None = None, *, scope: str, setting: str | None = None) -> None:
        self.limit = limit
        self.setting = setting
        self.scope = scope

    def resolve(self, settings: Settings) -> str:
        return self.limit or str(getattr(settings, self.setting or ""))

    async def __call__(self, request: Request) -> None:
        settings: Settings = request.app.state.settings
        identity = getattr(request.state, "client_ip", None) or "unknown"
        await enforce(request, self.resolve(settings), self.scope, identity)
