"""A game's or room's state as bytes another server can rebuild it from.

The rules are plain Python objects, so a snapshot is their pickle: a field added to the
rules travels without touching this module. What belongs to one process (locks, the game
clock, the words' filter) is pickled by name and replaced by the loading server's own.
Snapshots are signed (HMAC-SHA256 with the servers' shared secret key) and a snapshot whose
signature does not match is refused before it is unpickled, so whoever can write to Redis
still cannot make a server run code of theirs.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import pickle
import threading
from typing import Any

LOCKS = {type(threading.Lock()): "Lock", type(threading.RLock()): "RLock"}
DIGEST = hashlib.sha256().digest_size


class BadSnapshot(ValueError):
    """A snapshot whose signature does not match this server's key."""


class Codec:
    """Dumps and loads snapshots, signed with a key drawn from `secret` (the app's
    SECRET_KEY); `local` names this process's objects that snapshots refer to
    ({"clock": time.time, ...}) and that every server has its own of."""

    def __init__(self, secret: str | bytes, local: dict[str, Any]):
        secret = secret.encode() if isinstance(secret, str) else secret
        self._key = hmac.digest(secret, b"doodle-lab snapshots", "sha256")
        self._names = {id(value): name for name, value in local.items()}
        self._local = dict(local)

    def dumps(self, state: Any) -> bytes:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = self._persistent_id
        pickler.dump(state)
        body = out.getvalue()
        return hmac.digest(self._key, body, "sha256") + body

    def loads(self, blob: bytes) -> Any:
        signature, body = blob[:DIGEST], blob[DIGEST:]
        if not hmac.compare_digest(signature, hmac.digest(self._key, body, "sha256")):
            raise BadSnapshot("a snapshot signed with another key (is DOODLE_SECRET_KEY the same on every server?)")
        unpickler = pickle.Unpickler(io.BytesIO(body))
        unpickler.persistent_load = self._persistent_load
        return unpickler.load()

    def _persistent_id(self, obj: Any) -> tuple | None:
        lock = LOCKS.get(type(obj))
        if lock is not None:
            return ("lock", lock)
        name = self._names.get(id(obj))
        return ("local", name) if name is not None else None

    def _persistent_load(self, pid: tuple) -> Any:
        kind, name = pid
        if kind == "lock":
            return threading.RLock() if name == "RLock" else threading.Lock()
        return self._local[name]
