"""Per-client rate limits for public and login forms: a token bucket per key, kept in memory.

Each instance counts on its own, so N instances behind a balancer allow up to N times the configured rate; that is
enough to stop a script hammering one form, which is the point.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request


class RateLimiter:
    def __init__(
        self,
        *,
        per_period: int,
        period_seconds: float,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = float(per_period)
        self._refill = per_period / period_seconds  # tokens per second
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    def allow(self, key: str) -> bool:
        """Take one token for `key`; False when its bucket is empty."""
        now = self._clock()
        tokens, stamp = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - stamp) * self._refill)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self._max_keys:  # forget the longest-idle clients first
            self._buckets.popitem(last=False)
        return allowed


def client_address(request: Request) -> str:
    """The client's address as uvicorn saw it (X-Forwarded-For is applied by uvicorn when trust_forwarded is on)."""
    return request.client.host if request.client else "unknown"


def limiter(request: Request, name: str, *, per_period: int, period_seconds: float) -> RateLimiter:
    """The app's limiter called `name`, made on first use."""
    limiters: dict[str, RateLimiter] | None = getattr(request.app.state, "rate_limiters", None)
    if limiters is None:
        limiters = request.app.state.rate_limiters = {}
    if name not in limiters:
        limiters[name] = RateLimiter(per_period=per_period, period_seconds=period_seconds)
    return limiters[name]
