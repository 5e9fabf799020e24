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
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Hashable, Sequence

from game.classifier import model_file

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


class ClassifierProcess:
    """The doodle classifier (game.classifier.DoodleClassifier) in a process of its own,
    with the same methods: classify, classify_batch, classify_bitmaps, simplify_and_classify,
    categories.

    Inference is CPU-bound Python and onnxruntime. In the server's process it competes for
    the GIL with every connection's threads, so a batch of a few drawings took several times
    its own cost under load; here it has a core and an interpreter to itself, and the
    batcher thread waits on a pipe without holding the GIL. Calls are serialised (one pipe); a worker that dies (or
    does not answer in `call_timeout` seconds) is started again, and the call that saw it
    die raises RuntimeError (the batcher retries)."""

    def __init__(self, path: str | Path, start_timeout: float = 300.0, call_timeout: float = 60.0,
                 cpus: set[int] | None = None):
        self.path = str(model_file(path))  # a missing file is the caller's error, before a process starts
        self.cpus = cpus  # where it runs (share_cpus); None: where the OS puts it
        self.categories: list[str] = []  # the model's, as its process reports them
        self.start_timeout, self.call_timeout = start_timeout, call_timeout
        self._lock = threading.Lock()
        # spawn, not fork: the server's threads (and their locks) must not be copied.
        self._ctx = multiprocessing.get_context("spawn")
        self._proc = self._conn = None
        with self._lock:
            self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve_classifier, args=(self.path, child, self.cpus),
                                       name="doodle-classifier", daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        if not parent.poll(self.start_timeout):
            self._stop()
            raise RuntimeError(f"the classifier process did not load {self.path} in {self.start_timeout:g} s")
        try:
            ok, answer = parent.recv()
        except EOFError:
            self._proc.join(5)
            # The usual cause: a script that builds the app at import time (spawn imports it again).
            ok, answer = False, (f"it exited with {self._proc.exitcode} (a script that calls create_app() "
                                f"must do so under `if __name__ == \"__main__\":`)")
        if not ok:
            self._stop()
            raise RuntimeError(f"the classifier process could not load {self.path}: {answer}")
        self.categories = answer

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()  # it keeps nothing worth a clean exit, and a hung one ignores SIGTERM
            self._proc.join(5)
        self._proc = self._conn = None

    def _call(self, method: str, *args):
        with self._lock:
            if self._conn is None:
                self._start()
            try:
                self._conn.send((method, args))
                if not self._conn.poll(self.call_timeout):
                    raise TimeoutError(f"no answer in {self.call_timeout:g} s")
                ok, value = self._conn.recv()
            except (EOFError, OSError) as e:  # TimeoutError is an OSError: a hung worker goes too
                log.error("the classifier process died (%s); starting another", e)
                self._stop()
                self._start()
                raise RuntimeError(f"the classifier process died during this call ({e or 'exited'})") from None
        if not ok:
            raise value
        return value

    def classify(self, drawing, k: int = 5):
        return self._call("classify", drawing, k)

    def classify_batch(self, drawings, k: int = 5):
        return self._call("classify_batch", drawings, k)

    def classify_bitmaps(self, bitmaps, k: int = 5):
        return self._call("classify_bitmaps", bitmaps, k)

    def simplify_and_classify(self, drawings, k: int = 5):
        return self._call("simplify_and_classify", drawings, k)

    def close(self) -> None:
        with self._lock:
            self._stop()


def _serve_classifier(path: str, conn, cpus: set[int] | None) -> None:
    """The classifier process: load the model, then answer calls until the pipe closes."""
    try:
        if cpus:
            os.sched_setaffinity(0, cpus)
        from game.classifier import DoodleClassifier
        # One thread: the server's process needs the other core, and a second compute thread
        # stalls when its core is taken (batches of 40 drawings took up to 1 s with two).
        clf = DoodleClassifier.load(path, threads=1)
    except Exception as e:  # reported to the server, which refuses to start
        conn.send((False, f"{type(e).__name__}: {e}"))
        return
    conn.send((True, clf.categories))
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            return  # the server is gone
        try:
            answer = (True, getattr(clf, method)(*args))
        except ValueError as e:  # bad input: the caller's to hear
            answer = (False, ValueError(str(e)))
        except Exception as e:
            answer = (False, RuntimeError(f"classifier: {type(e).__name__}: {e}"))
        conn.send(answer)


# --- where the server's threads and the model's process run --------------------------

CPU_AFFINITIES = ("auto", "off")
_all_cpus: set[int] | None = None  # what this process could use before share_cpus pinned it


def share_cpus(affinity: str) -> set[int] | None:
    """With `affinity` "auto" and two or more CPUs to run on (Linux), pin every thread of
    this process to the first of them and return the others, for the model's process.
    None, and nothing changed, with "off" or a single CPU.

    The server's threads share one interpreter lock, so they never use more than a core at
    once; left to roam both cores of the 2-core machine, a contribution from 20 clients cost
    1.9-2.0 ms of CPU in the server's process instead of 1.2-1.3 and 1.5-1.6 in the model's
    instead of 1.2 (threads handing the lock across cores), and they got 390-520 a second
    instead of 580-760 (benchmarks/contributions.py). Threads that compute outside the lock
    take the CPUs back with unpin_thread."""
    global _all_cpus
    if affinity != "auto" or not hasattr(os, "sched_setaffinity"):
        return None
    if _all_cpus is None:
        _all_cpus = set(os.sched_getaffinity(0))
    if len(_all_cpus) < 2:
        return None
    server = {min(_all_cpus)}
    # Threads started from now on inherit their creator's CPUs; those running now are set one by one.
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), server)
        except ProcessLookupError:
            pass  # it ended meanwhile
    return _all_cpus - server


def unpin_thread() -> None:
    """Give the calling thread every CPU share_cpus took from it: for threads whose work runs
    outside the interpreter lock (the vision lab's models, torch on every core)."""
    if _all_cpus is not None:
        os.sched_setaffinity(0, _all_cpus)
