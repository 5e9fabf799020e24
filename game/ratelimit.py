"""Rate limits: token buckets, shared by the socket events (one bucket a connection)
and the HTTP APIs (one bucket a client address, `KeyedLimiter`); and `SocketCap`, the
Socket.IO connections one address may hold open at once."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from typing import Callable, Hashable

from werkzeug.wsgi import ClosingIterator

log = logging.getLogger(__name__)


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


class SocketCap:
    """WSGI middleware: at most `limit` Socket.IO requests in flight from one client address.

    In threading mode a WebSocket (or a waiting long-poll) holds one of the server's threads
    for as long as it is open, so one address with many idle sockets could take every thread
    and leave no other player, nor /healthz, a way in. Past the limit the handshake gets a
    429 and nothing else changes. A classroom behind one school router shares an address:
    the limit must leave room for its phones (docs/serving.md)."""

    def __init__(self, app, limit: int, prefix: str = "/socket.io"):
        if limit < 1:
            raise ValueError(f"the Socket.IO connections an address may hold must be at least 1, got {limit}")
        self.app, self.limit, self.prefix = app, limit, prefix
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(self.prefix):
            return self.app(environ, start_response)
        address = environ.get("REMOTE_ADDR", "")
        with self._lock:
            full = self._open[address] >= self.limit
            if not full:
                self._open[address] += 1
        if full:
            log.warning("refused a Socket.IO connection from %s: %d open already", address, self.limit)
            body = json.dumps({"error": f"Too many connections from your address (at most {self.limit}).",
                               "code": "too_many_connections"}).encode()
            start_response("429 Too Many Requests", [("Content-Type", "application/json"),
                                                     ("Content-Length", str(len(body))), ("Retry-After", "10")])
            return [body]
        try:
            return ClosingIterator(self.app(environ, start_response), lambda: self._release(address))
        except BaseException:
            self._release(address)
            raise

    def _release(self, address: str) -> None:
        with self._lock:
            self._open[address] -= 1
            if self._open[address] <= 0:
                del self._open[address]
