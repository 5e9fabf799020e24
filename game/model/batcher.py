"""Micro-batching for the classifier: every player's drawings share one model call.

A single worker thread takes the pending drawings (up to `max_batch`, waiting at most
`max_wait` seconds for more to arrive once one is there) and classifies them in one
`classify(drawings)` call, then hands each result to its callback. Submitting never
waits for the model, so event handlers stay responsive whatever the load.

Requests are keyed (by game): while a key's request is pending, a newer one replaces
it, so a burst of ink costs one classification of the latest drawing, never a queue of
stale ones. A key keeps its place in the line when its request is replaced.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Hashable, Sequence

log = logging.getLogger(__name__)

Classify = Callable[[Sequence[Any]], Sequence[Any]]


class Batcher:
    def __init__(self, classify: Classify, max_batch: int = 64, max_wait: float = 0.005):
        if max_batch < 1 or max_wait < 0:
            raise ValueError("max_batch must be >= 1 and max_wait >= 0")
        self._classify = classify
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._pending: dict[Hashable, tuple[Any, Callable[[Any], None]]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="doodle-batcher", daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, drawing: Any, callback: Callable[[Any], None]) -> None:
        """Classify `drawing` soon and call `callback(result)` from the worker thread;
        replaces `key`'s pending request, whose callback is then never called."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._pending[key] = (drawing, callback)
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker after its current batch; pending requests are dropped."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _next_batch(self) -> list[tuple[Any, Callable[[Any], None]]]:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            deadline = time.monotonic() + self.max_wait
            while len(self._pending) < self.max_batch and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            keys = list(self._pending)[: self.max_batch]
            return [self._pending.pop(k) for k in keys]

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return  # closed
            for (_, callback), result in zip(batch, self._results([d for d, _ in batch])):
                if result is None:
                    continue
                try:
                    callback(result)
                except Exception:
                    log.exception("a classification callback failed")

    def _results(self, drawings: list) -> list:
        """One result per drawing, None for a drawing the classifier refused: a bad
        drawing costs its batch a retry one by one, never the other players' guesses."""
        try:
            return list(self._classify(drawings))
        except Exception:
            if len(drawings) == 1:
                log.exception("classification failed")
                return [None]
        return [r for d in drawings for r in self._results([d])]
