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

LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}
DIGEST = hashlib.sha256().digest_size


class BadSnapshot(ValueError):
    """A snapshot whose signature does not match this server's key."""


def _local(name: str) -> Any:
    """What a snapshot names for one of the loading process's objects; `Codec.loads` resolves
    it to the loading Codec's own (unpickled anywhere else, it refuses)."""
    raise pickle.UnpicklingError(f"{name!r} is a process's own object: load the snapshot with its Codec")


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
        _Pickler(out, self._names).dump(state)
        body = out.getvalue()
        return hmac.digest(self._key, body, "sha256") + body

    def loads(self, blob: bytes) -> Any:
        signature, body = blob[:DIGEST], blob[DIGEST:]
        if not hmac.compare_digest(signature, hmac.digest(self._key, body, "sha256")):
            raise BadSnapshot("a snapshot signed with another key (is DOODLE_SECRET_KEY the same on every server?)")
        return _Unpickler(io.BytesIO(body), self._local).load()


class _Pickler(pickle.Pickler):
    """Locks pickled as new ones and the process's own objects by name. A reducer_override,
    not a persistent_id: pickle calls it for objects of other types than its own (ints,
    strings, lists, dicts...), where a persistent_id is called for each, every point of
    every drawing too: a class's snapshot took several times as long, holding the room's
    lock and the interpreter's."""

    def __init__(self, out: io.BytesIO, names: dict[int, str]):
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = names

    def reducer_override(self, obj: Any):
        lock = LOCKS.get(type(obj))
        if lock is not None:
            return lock, ()
        name = self._names.get(id(obj))
        return (_local, (name,)) if name is not None else NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, body: io.BytesIO, local: dict[str, Any]):
        super().__init__(body)
        self._local = local

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_local":
            return self._local.__getitem__
        return super().find_class(module, name)
