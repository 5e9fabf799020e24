"""game.model.process.ClassifierProcess: the shipped model in a process of its own, as the
server runs it. Same answers as in-process, bad input raises the same ValueError, a dead
worker is replaced, and the server's own process never imports torch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from game.model import ink
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier
from game.model.process import ClassifierProcess

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = [[[50, 90, 50, 10, 50], [10, 50, 90, 50, 10]]]
ZIGZAG = [[[0, 20, 40, 60, 80, 100], [0, 40, 0, 40, 0, 40], [0, 10, 20, 30, 40, 50]]]


@pytest.fixture(scope="module")
def remote():
    clf = ClassifierProcess(DEFAULT_MODEL)
    yield clf
    clf.close()


def test_same_answers_as_in_process(remote):
    local = DoodleClassifier.load()
    assert remote.categories == local.categories and remote.features == local.features
    for a, b in zip(remote.classify_batch([CIRCLE, ZIGZAG], 5), local.classify_batch([CIRCLE, ZIGZAG], 5)):
        assert [w for w, _ in a] == [w for w, _ in b]
        assert np.allclose([p for _, p in a], [p for _, p in b], atol=1e-6)
    bitmaps = np.zeros((2, 784), np.uint8)
    bitmaps[1, 300:320] = 255
    assert [w for w, _ in remote.classify_bitmaps(bitmaps, 3)[1]] == [w for w, _ in local.classify_bitmaps(bitmaps, 3)[1]]
    assert remote.classify(CIRCLE, 2) == [tuple(x) for x in remote.classify_batch([CIRCLE], 2)[0]]
    (simplified, guesses), = remote.simplify_and_classify([ZIGZAG], 3)
    assert simplified == ink.simplify(ZIGZAG)
    assert [w for w, _ in guesses] == [w for w, _ in local.classify(ZIGZAG, 3)]


def test_bad_input_raises_value_error_and_the_worker_goes_on(remote):
    with pytest.raises(ValueError, match="no strokes"):
        remote.classify([])
    with pytest.raises(ValueError, match="different lengths"):
        remote.classify_batch([CIRCLE, [[[1, 2], [3]]]])
    with pytest.raises(ValueError, match="uint8"):
        remote.classify_bitmaps(np.zeros((1, 784), np.float32))
    assert len(remote.classify(CIRCLE, 3)) == 3


def test_a_killed_worker_is_replaced(remote):
    os.kill(remote._proc.pid, signal.SIGKILL)
    remote._proc.join(10)
    with pytest.raises(RuntimeError, match="died"):
        remote.classify(CIRCLE)
    assert len(remote.classify(CIRCLE, 3)) == 3  # a new worker answers


def test_a_bad_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        ClassifierProcess(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(RuntimeError, match="could not load .*junk.onnx.*not an ONNX model"):
        ClassifierProcess(junk)


def test_the_server_process_does_not_import_torch():
    code = ("import sys; from game.app import create_app; from game.model.service import ModelService; app = create_app(); "
            "clf = ModelService.of(app).classifier; print(len(clf.classify(%r, 3)), 'torch' in sys.modules)" % (CIRCLE,))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["3", "False"]


AFFINITY_REPORT = """
import json, os, threading
from game.app import create_app
from game.model.service import ModelService
from game.vision.routes import VisionLab
older = threading.Thread(target=threading.Event().wait, daemon=True)  # started before the app
older.start()
app = create_app()
clf = ModelService.of(app).classifier
server = {tuple(sorted(os.sched_getaffinity(int(t)))) for t in os.listdir("/proc/self/task")}
vision = VisionLab.of(app).executor.submit(lambda: sorted(os.sched_getaffinity(0))).result()
print(json.dumps({"server": sorted(server), "model": sorted(os.sched_getaffinity(clf._proc.pid)),
                  "vision": vision, "guesses": len(clf.classify(%r, 3))}))
""" % (CIRCLE,)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="CPU affinity needs Linux and at least two CPUs")
@pytest.mark.parametrize("affinity", ["auto", "off"])
def test_the_server_threads_share_one_cpu_and_the_model_has_the_others(affinity):
    """CPU_AFFINITY "auto" (the default): every thread of the server's process, those started
    before the app too, on its first CPU; the model's process on the others; the vision lab's
    threads, whose models compute outside the interpreter lock, on all of them. "off": all
    on every CPU."""
    import json
    cpus = sorted(os.sched_getaffinity(0))
    out = subprocess.run([sys.executable, "-c", AFFINITY_REPORT], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "DOODLE_CPU_AFFINITY": affinity})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["guesses"] == 3
    assert report["vision"] == cpus
    if affinity == "auto":
        assert report["server"] == [[cpus[0]]]
        assert report["model"] == cpus[1:]
    else:
        assert report["server"] == [cpus]
        assert report["model"] == cpus


def test_an_unknown_cpu_affinity_is_refused():
    from game.app import create_app
    with pytest.raises(ValueError, match="CPU_AFFINITY .* must be one of .*'auto', 'off'.*got 'sometimes'"):
        create_app({"CPU_AFFINITY": "sometimes"})


def test_a_hung_worker_is_replaced(remote):
    os.kill(remote._proc.pid, signal.SIGSTOP)  # alive but never answering
    remote.call_timeout = 1.0
    try:
        with pytest.raises(RuntimeError, match="no answer in 1 s"):
            remote.classify(CIRCLE)
    finally:
        remote.call_timeout = 60.0
    assert len(remote.classify(CIRCLE, 3)) == 3


def test_a_dropped_classifier_takes_its_worker_with_it():
    """The server caches classifiers by model file; one dropped from the cache (a model
    replaced on disk) without close() must not leave its worker, and its memory, behind:
    its end of the pipe closes, and the worker, reading EOF, exits."""
    import gc
    clf = ClassifierProcess(DEFAULT_MODEL)
    worker = clf._proc
    assert worker.is_alive()
    del clf
    gc.collect()
    # A busy machine may still be loading the model in the worker: it reads EOF after that.
    worker.join(timeout=120)
    assert not worker.is_alive()
