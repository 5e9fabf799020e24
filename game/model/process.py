"""The doodle classifier in a process of its own (the server's default: INFERENCE_PROCESS)."""
from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from pathlib import Path

from game.model.classifier import DoodleClassifier, model_file

log = logging.getLogger(__name__)


class ClassifierProcess:
    """The doodle classifier (game.model.classifier.DoodleClassifier) in a process of its own,
    with the same methods: classify, classify_batch, classify_bitmaps, simplify_and_classify,
    logits_batch, categories, features.

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
        self.features = 0  # the width of its embedding, too
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
        self.categories, self.features = answer

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

    def logits_batch(self, drawings):
        return self._call("logits_batch", drawings)

    def close(self) -> None:
        with self._lock:
            self._stop()


def _serve_classifier(path: str, conn, cpus: set[int] | None) -> None:
    """The classifier process: load the model, then answer calls until the pipe closes."""
    try:
        if cpus:
            os.sched_setaffinity(0, cpus)
        # One thread: the server's process needs the other core, and a second compute thread
        # stalls when its core is taken (batches of 40 drawings took up to 1 s with two).
        clf = DoodleClassifier.load(path, threads=1)
    except Exception as e:  # reported to the server, which refuses to start
        conn.send((False, f"{type(e).__name__}: {e}"))
        return
    conn.send((True, (clf.categories, clf.features)))
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
