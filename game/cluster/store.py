"""Where the games' and rooms' snapshots live, and which server holds each: `Local` on one
server (nothing stored: the server holds everything), `RedisStore` on several.

A game or room is held by one server at a time, its owner, which runs its rules and saves
its snapshot after changes; the others find the owner here. Every server renews a lease
(a key that expires LEASE seconds after its last renewal); a room whose owner's lease has
expired is taken over by the first server that needs it (`route`) or looks for such rooms
(`orphans`), from its last snapshot; a server whose lease stays missing is `dead`.
A solo game moves with its player: `resume` on another server loads and `take`s it.
Saving is conditional on still being the owner, so a server that lost a game (its lease
lapsed, its player moved) cannot overwrite the new owner's snapshot; it learns that it
lost it from `save` or `owners`, and drops its copy.

Redis being unreachable never stops a game: calls answer None (unknown) and the server
goes on with what it holds, saving again once Redis is back; one warning says it is down.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from typing import NamedTuple

import redis

from game.dataset.admin import ConfigurationError

PREFIX = "doodle:"
LEASE = 3.0  # seconds a server's lease lasts...
RENEW = 1.0  # ...renewed this often
TTL = 3600  # a snapshot nobody saved for an hour is gone (its game expired long before)
SERVERS = f"{PREFIX}servers"  # server id -> "<rooms it holds> <its route> <when>" (`announce`)

# Save only while owning the entry (or while nobody does); returns 1, or 0 when another owns it.
# KEYS[2], when given: the kind's index, which `orphans` goes through. Saving renews the
# saver's lease too: after a Redis restart an entry must not reappear before its owner's lease.
_SAVE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', ARGV[5], 1, 'PX', ARGV[6])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'blob', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if KEYS[2] then redis.call('SADD', KEYS[2], ARGV[4]) end
return 1
"""
# Compare-and-set the owner: from ARGV[2] ('' for none) to ARGV[1].
_TAKE = """
local owner = redis.call('HGET', KEYS[1], 'owner') or ''
if owner ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
return 1
"""
# The owner to send an event to: {owner} while its lease lasts, {me, blob} after taking the
# entry over from an owner whose lease has expired, {} when there is no such entry.
_ROUTE = """
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {} end
if owner == ARGV[1] or redis.call('EXISTS', ARGV[2] .. owner) == 1 then return {owner} end
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
return {ARGV[1], redis.call('HGET', KEYS[1], 'blob') or ''}
"""
_DROP = """
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[2])
end
return 1
"""
# Take over every indexed entry whose owner's lease has expired: {key, blob, key, blob...}
# (blob '' for an entry never saved); entries gone (expired) leave the index.
_ORPHANS = """
local taken = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local entry = ARGV[3] .. key
  local owner = redis.call('HGET', entry, 'owner')
  if not owner then
    redis.call('SREM', KEYS[1], key)
  elseif owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 0 then
    redis.call('HSET', entry, 'owner', ARGV[1])
    table.insert(taken, key)
    table.insert(taken, redis.call('HGET', entry, 'blob') or '')
  end
end
return taken
"""


class Held(NamedTuple):
    """An entry's owner and, where asked for, its snapshot (None when there is none)."""

    owner: str
    blob: bytes | None = None


class Local:
    """One server alone: it owns everything it holds, and nothing needs storing (callers
    check `shared` before saving, relaying or taking over)."""

    shared = False
    server_id = "local"

    def load(self, kind: str, key: str) -> Held | None:
        return None

    def reserve(self, kind: str, key: str) -> bool | None:
        return True

    def drop(self, kind: str, key: str) -> None:
        pass

    def close(self) -> None:
        pass


def server_name() -> str:
    """This server's id in the cluster: unique even for two processes of one host."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RedisStore:
    """Snapshots and owners in Redis at `url`; this server's lease is renewed by a thread of
    its own from construction to `close()`."""

    shared = True

    def __init__(self, url: str, logger: logging.Logger):
        self.url = url
        self.server_id = server_name()
        self._lease = f"{PREFIX}lease:{self.server_id}"
        self.logger = logger
        # Timeouts: a Redis that stopped answering must not hold a player's handler for long.
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
        self._save, self._take, self._route, self._drop, self._orphans = (
            self.redis.register_script(s) for s in (_SAVE, _TAKE, _ROUTE, _DROP, _ORPHANS))
        self._down = False
        self._lock = threading.Lock()
        self._missing: dict[str, float] = {}  # server -> since when its lease is missing (`dead`)
        self._stop = threading.Event()
        self._renew()
        self._thread = threading.Thread(target=self._renewing, name="cluster-lease", daemon=True)
        self._thread.start()

    @staticmethod
    def _key(kind: str, key: str) -> str:
        return f"{PREFIX}{kind}:{key}"

    def _call(self, what: str, call):
        """`call()`'s answer, or None while Redis cannot be reached (one warning for the outage)."""
        try:
            answer = call()
        except redis.RedisError as e:
            if not self._down:
                self._down = True
                self.logger.warning("Redis unreachable (%s failed: %s); going on with what this server holds", what, e)
            return None
        if self._down:
            self._down = False
            self.logger.warning("Redis reachable again")
        return answer

    @staticmethod
    def _index(kind: str) -> str:
        return f"{PREFIX}index:{kind}"

    def save(self, kind: str, key: str, blob: bytes, ttl: int = TTL, index: bool = False) -> bool | None:
        """Store the snapshot, kept `ttl` seconds, if this server owns the entry (or nobody
        does): True; False when another server owns it; None when Redis is unreachable.
        `index`: list the entry for `orphans`."""
        keys = [self._key(kind, key)] + ([self._index(kind)] if index else [])
        saved = self._call("save", lambda: self._save(keys, [self.server_id, blob, ttl, key, self._lease,
                                                             int(LEASE * 1000)]))
        return None if saved is None else bool(saved)

    def load(self, kind: str, key: str) -> Held | None:
        found = self._call("load", lambda: self.redis.hmget(self._key(kind, key), "owner", "blob"))
        if not found or found[0] is None:
            return None
        return Held(found[0].decode(), found[1])

    def take(self, kind: str, key: str, previous: str) -> bool | None:
        """Become the entry's owner if `previous` still is."""
        taken = self._call("take", lambda: self._take([self._key(kind, key)], [self.server_id, previous]))
        return None if taken is None else bool(taken)

    def route(self, kind: str, key: str) -> Held | None:
        """The entry's owner; this server's (with the snapshot) if it just took it over from
        one whose lease expired; None when there is no such entry or Redis is unreachable."""
        found = self._call("route", lambda: self._route([self._key(kind, key)], [self.server_id, f"{PREFIX}lease:"]))
        if not found:
            return None
        return Held(found[0].decode(), (found[1] or None) if len(found) > 1 else None)

    def reserve(self, kind: str, key: str) -> bool | None:
        """Own a new entry, unless another server already has one by that key."""
        def call():
            pipe = self.redis.pipeline()
            pipe.hsetnx(self._key(kind, key), "owner", self.server_id)
            pipe.expire(self._key(kind, key), TTL)
            return pipe.execute()[0]
        reserved = self._call("reserve", call)
        return None if reserved is None else bool(reserved)

    def owners(self, kind: str, keys: list[str]) -> list[str | None] | None:
        """The owners of `keys`' entries (None: no entry), in one round trip."""
        def call():
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.hget(self._key(kind, key), "owner")
            return [o.decode() if o is not None else None for o in pipe.execute()]
        return self._call("owners", call) if keys else []

    def dead(self, servers: set[str]) -> set[str] | None:
        """Those of `servers` whose lease has been missing at every call for more than LEASE
        seconds (a Redis that just restarted has no leases yet: they come back within RENEW)."""
        def call():
            pipe = self.redis.pipeline(transaction=False)
            for server in servers:
                pipe.exists(f"{PREFIX}lease:{server}")
            return dict(zip(servers, pipe.execute()))
        leases = self._call("dead", call) if servers else {}
        if leases is None:
            return None
        now = time.monotonic()
        with self._lock:
            self._missing = {s: self._missing.get(s, now) for s, held in leases.items() if not held}
            return {s for s, since in self._missing.items() if now - since > LEASE}

    def drop(self, kind: str, key: str) -> None:
        self._call("drop", lambda: self._drop([self._key(kind, key), self._index(kind)], [self.server_id, key]))

    def orphans(self, kind: str) -> list[tuple[str, bytes | None]] | None:
        """Take over the indexed entries whose owner's lease expired: [(key, snapshot or
        None)], or None while Redis is unreachable."""
        found = self._call("orphans", lambda: self._orphans([self._index(kind)],
                                                            [self.server_id, f"{PREFIX}lease:", f"{PREFIX}{kind}:"]))
        if found is None:
            return None
        return [(found[i].decode(), found[i + 1] or None) for i in range(0, len(found), 2)]

    # --- where new rooms go ------------------------------------------------------------

    def announce(self, route: str, rooms: int) -> None:
        """Tell the other servers how many rooms this one holds, and its route (the
        characters its rooms' codes start with, which nginx sends a connection by)."""
        self._call("announce", lambda: self.redis.hset(SERVERS, self.server_id, f"{rooms} {route} {time.time():.3f}"))

    def emptier(self, rooms: int) -> str | None:
        """The route of the live server holding the fewest rooms, if it holds fewer than
        `rooms` (this server's count); None otherwise, or when Redis is unreachable. A
        server counts while its lease lasts and its count is recent (one whose lease is
        renewed while its rooms' work is stuck stops announcing); an entry that does not
        read as one is passed over."""
        def call():
            announced = {k.decode(errors="replace"): v for k, v in self.redis.hgetall(SERVERS).items()}
            others = [s for s in announced if s != self.server_id]
            pipe = self.redis.pipeline(transaction=False)
            for server in others:
                pipe.exists(f"{PREFIX}lease:{server}")
            leases = dict(zip(others, pipe.execute()))
            if not all(leases.values()):  # servers gone (a lease missing for a moment is announced again)
                self.redis.hdel(SERVERS, *(s for s in others if not leases[s]))
            counts = []
            for server in others:
                try:
                    held, route, at = announced[server].decode().split(" ")
                    if leases[server] and time.time() - float(at) < LEASE:
                        counts.append((int(held), route))
                except ValueError:  # UnicodeDecodeError included: not a server's announcement
                    continue
            return min(counts, default=None)
        fewest = self._call("emptier", call)
        return fewest[1] if fewest is not None and fewest[0] < rooms else None

    # --- the lease ---------------------------------------------------------------------

    def _renew(self) -> None:
        self._call("lease", lambda: self.redis.set(self._lease, 1, px=int(LEASE * 1000)))

    def _renewing(self) -> None:
        while not self._stop.wait(RENEW):
            self._renew()

    def close(self) -> None:
        """Stop renewing and give the lease up now: the rooms this server held are taken
        over at once by whichever server needs them next."""
        self._stop.set()
        self._thread.join(RENEW + 3)
        self._call("lease", lambda: self.redis.delete(self._lease))
        self._call("announce", lambda: self.redis.hdel(SERVERS, self.server_id))
        self.redis.close()


def init_app(app, secret_chosen: bool) -> Local | RedisStore:
    """The app's store: Redis at config REDIS_URL (env DOODLE_REDIS_URL), else `Local`.
    `secret_chosen`: whether SECRET_KEY was set rather than drawn at random, which the
    servers of a cluster need (the same on each: it signs the snapshots)."""
    url = app.config.setdefault("REDIS_URL", os.environ.get("DOODLE_REDIS_URL") or None)
    if not url:
        return Local()
    if not secret_chosen:
        raise ConfigurationError("DOODLE_REDIS_URL needs DOODLE_SECRET_KEY, the same on every server: "
                                 "it signs the snapshots the servers hand each other")
    # Rules' clocks read the wall clock (NTP keeps servers within milliseconds), not
    # time.monotonic, which counts from each machine's boot: a game's times must mean the
    # same on the server that rebuilds it.
    app.config.setdefault("GAME_CLOCK", time.time)
    return RedisStore(url, app.logger)
