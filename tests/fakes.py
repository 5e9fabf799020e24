"""What the tests stand in for: the clock, the classifier, a player's drawings. Plain
Python, imported by the test modules (their fixtures are in conftest.py)."""
from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path

import numpy as np
import pytest

from game.dataset.store import ContributionError, validate
from game.model import ink
from game.model.classifier import softmax, top
from game.protocol import GameError
from game.words import load_categories

# The fake classifier's usual words: a few real categories, two beyond any 12-word deck.
WORDS = ["cat", "dog", "bicycle", "circle", "house", "tree", "sun", "fish", "car", "star", "moon", "cup",
         "anvil", "zigzag"]
CATEGORIES = list(load_categories())  # the 345
RAW = Path(__file__).resolve().parents[2] / "shared" / "quickdraw" / "raw"  # Google's raw drawings, if there


class Clock:
    """The rules' clock, moved by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeClassifier:
    """The classifier's API (classify_batch, simplify_and_classify, categories) without a
    model. A drawing's last stroke's first point [x, y, t] says the answer: top guess
    categories[x] with p = y / 100, then the other words evenly; with `answer`, a
    (word, p), every drawing gets that top guess. A drawing whose last stroke starts at
    x < 0 is refused (ValueError), as the real one refuses bad ink. `delay` slows each
    call; `batches` records their sizes."""

    def __init__(self, categories=WORDS, answer: tuple[str, float] | None = None):
        self.categories = list(categories)
        self.answer = answer
        self.batches: list[int] = []
        self.delay = 0.0

    def classify_batch(self, drawings, k=5):
        time.sleep(self.delay)
        self.batches.append(len(drawings))
        out = []
        for drawing in drawings:
            if drawing[-1][0][0] < 0:
                raise ValueError("the fake classifier refuses negative x")
            word, p = self.answer or (self.categories[drawing[-1][0][0]], drawing[-1][1][0] / 100)
            rest = [w for w in self.categories if w != word]
            out.append([(word, p)] + [(w, (1 - p) / len(rest)) for w in rest][: k - 1])
        return out

    def simplify_and_classify(self, drawings, k=5):
        return list(zip((ink.simplify(d) for d in drawings), self.classify_batch(drawings, k)))


def says(word: str, p: float, n: int = 1) -> list[list[float]]:
    """Ink points that make the fake classifier (WORDS) answer `word` with probability `p`."""
    return [[WORDS.index(word), p * 100, 0]] + [[i, i, 10 * i] for i in range(1, n)]


def drawing(n: int = 3, x0: float = 10.0) -> list:
    """A raw drawing [[xs], [ys], [ts]]: two strokes of n points."""
    return [[[x0 + 10 * i for i in range(n)], [5.5 * i for i in range(n)], [16 * i for i in range(n)]],
            [[50, 60.25], [80, 20], [400, 431]]]


def payload(word: str = "cat", **extra) -> dict:
    """A contribution's JSON body."""
    return {"word": word, "drawing": drawing(), "consent": True, "contributor": "anon-1234abcd", **extra}


def refused(code: str, call, *args, **kwargs) -> GameError:
    """Call, expecting a GameError with `code`; returns it."""
    with pytest.raises(GameError) as e:
        call(*args, **kwargs)
    assert e.value.code == code, e.value.message
    return e.value


def add(store, word="cat", recognized=True, **kw) -> str:
    """A contribution of `word` stored; its key_id."""
    return store.add(validate(payload(word), CATEGORIES), recognized=recognized, **kw)


def real_drawings(n: int, seed: int = 5) -> list[tuple[str, list]]:
    """`n` (word, raw drawing) pairs: Google's raw drawings of many words where the files are
    there (those within the contribution limits), else random hand-like strokes."""
    rng = random.Random(seed)
    words = CATEGORIES
    out: list[tuple[str, list]] = []
    files = sorted(RAW.glob("*.ndjson")) if RAW.is_dir() else []
    rng.shuffle(files)
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in itertools.islice(f, 8):
                record = json.loads(line)
                try:
                    validate({"word": record["word"], "drawing": record["drawing"], "consent": True}, words)
                except (ContributionError, KeyError):
                    continue
                out.append((record["word"], record["drawing"]))
        if len(out) >= n:
            return [out[i] for i in range(n)]
    while len(out) < n:  # no data folder (or too little): strokes as a hand draws them
        strokes, t = [], 0
        for _ in range(rng.randint(1, 8)):
            x, y, xs, ys, ts = rng.uniform(0, 800), rng.uniform(0, 600), [], [], []
            for _ in range(rng.randint(2, 60)):
                x, y, t = x + rng.gauss(0, 8), y + rng.gauss(0, 8), t + rng.randint(8, 24)
                xs.append(round(x, 2)), ys.append(round(y, 2)), ts.append(t)
            strokes.append([xs, ys, ts])
            t += rng.randint(100, 600)
        out.append((rng.choice(words), strokes))
    return out[:n]


class WithoutWord:
    """A classifier as if it had never learned `word` (its logit left out): a word a test may
    teach it, with real drawings. Pair it with `reference_without`."""

    def __init__(self, classifier, word: str):
        self._classifier = classifier
        self._keep = [i for i, w in enumerate(classifier.categories) if w != word]
        self.categories = [classifier.categories[i] for i in self._keep]
        self.features = classifier.features

    def logits_batch(self, drawings):
        logits, embeddings = self._classifier.logits_batch(drawings)
        return logits[:, self._keep], embeddings

    def classify_batch(self, drawings, k=5):
        return top(softmax(self.logits_batch(drawings)[0]), self.categories, k)


def reference_without(path: Path, word: str, out: Path) -> Path:
    """The reference bank at `path` without `word`'s drawings (written at `out`): WithoutWord's."""
    with np.load(path) as f:
        bank = dict(f)
    keep = bank["labels"] != CATEGORIES.index(word)
    np.savez(out, **{k: v[keep] if k in ("embeddings", "labels", "top_logits", "logsumexp") else v for k, v in bank.items()})
    return out


def raw_drawings_of(word: str) -> list[list]:
    """Google's raw drawings of `word` (tests using them skip where the data folder is absent)."""
    path = RAW / f"{word}.ndjson"
    if not path.exists():
        pytest.skip(f"Quick, Draw! raw drawings not found at {path}: teaching needs real drawings of a word")
    return [json.loads(line)["drawing"] for line in path.read_text(encoding="utf-8").splitlines() if line]
