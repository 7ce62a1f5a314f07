"""Rate limits: shared counters in Redis when REDIS_URL is set, in process memory otherwise.

`RateLimit("5/15minutes", scope="login")` is a FastAPI dependency; the most
restrictive limit a request passed through is reported in `X-RateLimit-*`
headers (the middleware writes them), and a refusal is a 429 envelope with
`Retry-After`.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from medhub.config import Settings
from medhub.kit.errors import RateLimitExceeded


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
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.RATE_LIMIT_ENABLED
        self.storage: Storage
        if settings.REDIS_URL:
            url = settings.REDIS_URL.replace("redis://", "async+redis://", 1).replace(
                "rediss://", "async+rediss://", 1
            )
            storage = storage_from_string(url, implementation="redispy")
            assert isinstance(storage, Storage)
            self.storage = storage
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

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

    async def would_allow(self, limit: str, *identifiers: str) -> bool:
        """Whether one more hit of `limit` would pass, without counting one: for limits
        that count only failures (counted with `count` when one happens)."""
        if not self.enabled:
            return True
        return await self.strategy.test(_parsed(limit), *identifiers)

    async def count(self, limit: str, *identifiers: str) -> None:
        if self.enabled:
            await self.strategy.hit(_parsed(limit), *identifiers)

    async def reset(self) -> None:
        await self.storage.reset()


@functools.lru_cache(maxsize=256)
def _parsed(limit: str) -> RateLimitItem:
    # A handful of distinct settings strings, parsed once each instead of per request.
    return parse(limit)


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


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
    result = await limiter.hit(_parsed(limit), scope, identity)
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
