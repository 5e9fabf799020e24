"""Events sent on to the server that holds their room, and their answers back, over Redis
pub/sub: each server listens on its own channel (`doodle:relay:<server id>`).

A classroom's phones and projector reach whichever server nginx gives them, and one server
holds the room (game/cluster/store.py); the others send it their connections' events, in
the order they came (one connection's events are published one after another, and Redis
delivers a channel's messages in order). The holder runs them as if its own connections had
sent them, and sends the room's events for those connections back the same way, to their
server alone. A server runs what it receives on WORKERS threads, a connection's events (by
its sid) or a room's (by the message's `key`) in order on one of them, so that connections
take turns as they do on their own threads when they are the server's own.
"""
from __future__ import annotations

import itertools
import json
import logging
import queue
import threading
import zlib
import time
from typing import Any, Callable

import redis

from game.cluster.store import PREFIX, RedisStore

WAIT = 3.0  # seconds an event waits for its acknowledgement from the room's server (its lease)
# Threads running other servers' events: one thread was the bottleneck of a server holding a
# class of 40 (benchmarks/cluster_load.py: guess latency p95 6.4 s) while it took turns at
# the interpreter lock with its own connections' threads.
WORKERS = 8


class NoAnswer(RuntimeError):
    """The room's server did not answer in time (it died or Redis is unreachable)."""


class Relay:
    """Sends events to other servers (`send`) and runs theirs (`handle(message)`, whose
    answer goes back to a sender that waits for it)."""

    def __init__(self, store: RedisStore, handle: Callable[[dict], Any], logger: logging.Logger):
        self.store, self._handle, self.logger = store, handle, logger
        self.channel = self.channel_of(store.server_id)
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._waiting: dict[str, list] = {}  # request id -> [threading.Event, answer]
        self._stop = threading.Event()
        self._pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
        self._queues = [queue.SimpleQueue() for _i in range(WORKERS)]
        self._threads = [threading.Thread(target=self._listen, name="cluster-relay", daemon=True)]
        self._threads += [threading.Thread(target=self._work, args=(q,), name=f"cluster-relay-{i}", daemon=True)
                          for i, q in enumerate(self._queues)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def channel_of(server_id: str) -> str:
        return f"{PREFIX}relay:{server_id}"

    def send(self, server: str, message: dict, wait: bool) -> Any:
        """Publish `message` to `server`; with `wait`, its answer (or NoAnswer after WAIT s)."""
        if not wait:
            self._publish(server, message)
            return None
        rid = f"{self.store.server_id}/{next(self._ids)}"
        slot = [threading.Event(), None]
        with self._lock:
            self._waiting[rid] = slot
        try:
            self._publish(server, {**message, "id": rid, "from": self.store.server_id})
            if not slot[0].wait(WAIT):
                raise NoAnswer(f"no answer from {server} in {WAIT:g} s")
            return slot[1]
        finally:
            with self._lock:
                self._waiting.pop(rid, None)

    def _publish(self, server: str, message: dict) -> None:
        try:
            self.store.redis.publish(self.channel_of(server), json.dumps(message))
        except redis.RedisError as e:
            raise NoAnswer(f"Redis unreachable: {e}") from None

    def _listen(self) -> None:
        """Subscribe (again after Redis comes back) and run what arrives, in order."""
        while not self._stop.is_set():
            try:
                self._pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = self._pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self._received(json.loads(message["data"]))
            except redis.RedisError:
                time.sleep(0.5)  # the store logs the outage; resubscribe once Redis is back
            except Exception:
                self.logger.exception("the relay failed a message")

    def _received(self, message: dict) -> None:
        """An answer wakes its sender; an event goes to its connection's worker."""
        if "answer_to" in message:
            with self._lock:
                slot = self._waiting.get(message["answer_to"])
            if slot is not None:
                slot[1] = message["answer"]
                slot[0].set()
            return
        key = message.get("key") or message["sid"]  # a connection's events, or a room's emits, in order
        self._queues[zlib.crc32(key.encode()) % WORKERS].put(message)

    def _work(self, events: queue.SimpleQueue) -> None:
        while (message := events.get()) is not None:
            try:
                answer = self._handle(message)
                if "id" in message:
                    self._publish(message["from"], {"answer_to": message["id"], "answer": answer})
            except NoAnswer:
                pass  # its sender stops waiting by itself
            except Exception:
                self.logger.exception("the relay failed a message")

    def close(self) -> None:
        self._stop.set()
        for events in self._queues:
            events.put(None)
        for thread in self._threads:
            thread.join(2)
        self._pubsub.close()
