"""Rate limits: token buckets, shared by the socket events (one bucket a connection)
and the HTTP APIs (one bucket a client address, `KeyedLimiter`)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Hashable


class TokenBucket:
    """`rate` tokens a second, up to `burst`; a message takes one."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._stamp = float(burst), clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def refilled(self) -> bool:
        """Whether the bucket is full again: it then behaves exactly as a new one."""
        return self._tokens + (self._clock() - self._stamp) * self.rate >= self.burst


class KeyedLimiter:
    """A `TokenBucket` per key (e.g. a client's address), safe across request threads.

    Memory stays bounded by the clients active lately: once `max_keys` buckets exist,
    those that have refilled are forgotten (a new bucket would be the same).
    """

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000):
        self.rate, self.burst, self.max_keys, self._clock = rate, burst, max_keys, clock
        self._buckets: dict[Hashable, TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> bool:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._buckets = {k: b for k, b in self._buckets.items() if not b.refilled()}
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self._clock)
            return bucket.take()

    def __len__(self) -> int:
        return len(self._buckets)
