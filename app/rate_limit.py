"""Per-user request rate limits, in this process's memory.

Each process counts on its own, so N instances allow N times the limit; a multi-instance
deployment should enforce the limit in front of the service (API Gateway usage plans, WAF
rate-based rules) or move the counters to a shared store (``limits`` supports Redis).
"""

from __future__ import annotations

import math
import time
from typing import Literal

from fastapi import Response
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.errors import RateLimited
from app.settings import Settings

RateClass = Literal["send", "read"]


class UserRateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self._limits: dict[RateClass, RateLimitItem] = {
            "send": parse(settings.rate_limit_sends),
            "read": parse(settings.rate_limit_reads),
        }
        # A sliding-window counter: two counters per user and class. The moving window would
        # keep every hit and sweeps them through the thread pool (seen in the benchmark).
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def hit(self, rate_class: RateClass, user_key: str, response: Response) -> None:
        """Count one request; raise 429 when over the limit. Sets the RateLimit-* headers."""
        if not self.enabled:
            return
        limit = self._limits[rate_class]
        allowed = await self._limiter.hit(limit, rate_class, user_key)
        stats = await self._limiter.get_window_stats(limit, rate_class, user_key)
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Limit": str(limit.amount),
            "RateLimit-Remaining": str(stats.remaining),
            "RateLimit-Reset": str(reset_in),
        }
        if not allowed:
            raise RateLimited(
                "Too many requests; retry later.",
                headers={**headers, "Retry-After": str(max(1, reset_in))},
            )
        response.headers.update(headers)
