"""Per-account rate limits: a token bucket per key, in the memory of one server process."""
from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """Token buckets: each key holds up to ``burst`` tokens refilled at ``rate`` per second;
    a request takes one. :meth:`take` returns 0 when allowed, else the seconds to wait."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    #: keys kept before idle buckets are dropped (an idle bucket is full again anyway)
    MAX_KEYS = 50_000
    IDLE_S = 3600.0

    def take(self, key: str, rate: float, burst: int) -> float:
        if rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            if len(self._buckets) > self.MAX_KEYS:
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < self.IDLE_S}
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        """Whole seconds for a ``Retry-After`` header (at least 1)."""
        return max(1, math.ceil(wait_s))
