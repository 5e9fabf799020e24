"""Teaching the AI a new word from a class's drawings, in a second and without retraining:
imprinting (Qi, Brown and Lowe, "Low-Shot Learning with Imprinted Weights", 2018), fitted.

The served model gives each drawing an embedding beside its logits (training/model.py). A
taught word is one more logit row: the scaled cosine between a drawing's embedding and the
word's prototype, plus a bias. The prototype starts as the mean of its drawings' embeddings
(each centred on the reference bank's mean and normalized) and is then fitted, a few steps of
logistic regression against the model's own rows, which stay as they are: the taught row
above the other rows' logsumexp on the class's drawings, below it on the reference bank's
(held-out drawings of the model's own words, `<model>.reference.npz`, written by training):
the mean alone sits as near the words the new one looks like as its own drawings.
The bias is then chosen against the bank so that the taught word would come top on only its
share of it (false_top): a room's taught words together on ROOM_FALSE_TOP of it at most, so the
345 words keep their guesses, and a room that teaches one word has it recognized more often.

    reference = Reference.load(reference_path(model_path))
    taught = TaughtWords(reference, categories)
    taught.add(reference.imprint("axolotl", logits, embeddings))   # the class's drawings
    taught.guesses(logits, embeddings, k=5)                         # per drawing: [(word, p), ...]
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from game.model.classifier import logsumexp, softmax, top
from game.protocol import MAX_TAUGHT_WORDS, MIN_TEACH_DRAWINGS

# The share of the reference drawings (other words') a room's taught words may come top on
# together, and one word at most; what a taught row's cosine is worth beside a trained row's (a
# row of a few drawings is a less sure one: at the trained rows' scale its confident misses and
# near misses fall out of the top three); and the prototype's fitting (gradient steps and their
# size): chosen together with benchmarks/teach_word.py so that the others' top-1 stays within a
# point whether a room teaches one word or MAX_TAUGHT_WORDS.
ROOM_FALSE_TOP = 0.02
WORD_FALSE_TOP = 0.01
PROTOTYPE_SCALE = 0.24
FIT_STEPS = 15
FIT_RATE = 0.5


def false_top(words: int) -> float:
    """The share of the bank each of a room's `words` taught words may come top on: the
    room's share split between them (the others' top-1 drops about in proportion), one
    word's at most (alone, it would take the room's all at a cost to the others)."""
    return min(WORD_FALSE_TOP, ROOM_FALSE_TOP / max(words, 1))


def reference_path(model_path: str | Path) -> Path:
    """`<model>.reference.npz` beside the served `<model>.onnx`."""
    return Path(model_path).with_suffix(".reference.npz")


def model_digest(model_path: str | Path) -> str | None:
    """A digest of the served file's bytes (which name its weights' digests), None without one."""
    path = Path(model_path)
    if not path.is_file():
        return None
    with path.open("rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()[:16]


def model_id(model_path: str | Path) -> str:
    """The served model a prototype belongs to: its file's name and a digest of its bytes, so
    that a model retrained under the same name does not read another's prototypes."""
    digest = model_digest(model_path)
    return Path(model_path).name if digest is None else f"{Path(model_path).name} {digest}"


@dataclass(frozen=True)
class TaughtWord:
    word: str
    prototype: np.ndarray  # (features,): the drawings' mean unit embedding, fitted
    biases: tuple[float, ...]  # in a room of 1, 2, ... MAX_TAUGHT_WORDS taught words (false_top)
    drawings: int  # how many it was learned from

    def bias(self, words: int) -> float:
        """Its bias in a room that has taught `words` words."""
        return self.biases[min(max(words, 1), len(self.biases)) - 1]

    def to_json(self) -> dict:
        return {"word": self.word, "prototype": [round(float(v), 6) for v in self.prototype],
                "biases": [round(b, 6) for b in self.biases], "drawings": self.drawings}

    @classmethod
    def from_json(cls, data: dict) -> "TaughtWord":
        # A word saved before 2026-12-06 has one bias, for a room of any size.
        biases = data["biases"] if "biases" in data else [data["bias"]]
        return cls(str(data["word"]), np.asarray(data["prototype"], dtype=np.float32),
                   tuple(float(b) for b in biases), int(data["drawings"]))


class Reference:
    """The reference bank of a served model: embeddings of held-out drawings of its words
    (a few a word, whole and half drawn, as the game judges drawings in progress), their
    calibrated top logit and logsumexp, the bank's mean embedding and `scale`, what a cosine
    is worth in the model's calibrated logits (training/model.py says how the bank's is set; a
    taught row is worth PROTOTYPE_SCALE of it), which puts a taught row in the same units as
    the others; `model`, the digest of the served file that wrote it (model_digest; None: not
    said, a bank of before 2026-12-06)."""

    def __init__(self, embeddings: np.ndarray, top_logits: np.ndarray, logsumexp: np.ndarray, mean: np.ndarray,
                 scale: float, model: str | None = None):
        self.model = model
        self.mean, self.scale = mean.astype(np.float32), PROTOTYPE_SCALE * float(scale)
        self.units = self.unit(embeddings)
        self.top_logits = top_logits.astype(np.float32)
        self.logsumexp = logsumexp.astype(np.float32)

    @classmethod
    def load(cls, path: str | Path) -> "Reference":
        with np.load(path) as f:
            if "logsumexp" not in f:
                raise ValueError(f"{path} is a reference bank of before 2026-12-05, without its drawings' "
                                 "logsumexp: write it again with `python -m training export`")
            return cls(f["embeddings"].astype(np.float32), f["top_logits"], f["logsumexp"], f["mean"],
                       float(f["scale"]), str(f["model"]) if "model" in f else None)

    def unit(self, embeddings: np.ndarray) -> np.ndarray:
        centred = np.asarray(embeddings, dtype=np.float32) - self.mean
        return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-6)

    def imprint(self, word: str, logits: np.ndarray, embeddings: np.ndarray) -> TaughtWord:
        """`word` learned from its drawings' calibrated `logits` and `embeddings`
        (MIN_TEACH_DRAWINGS or more)."""
        if len(embeddings) < MIN_TEACH_DRAWINGS or len(logits) != len(embeddings):
            raise ValueError(f"{MIN_TEACH_DRAWINGS} drawings at least, each with its logits and embedding, "
                             f"got {len(logits)} and {len(embeddings)}")
        if np.shape(embeddings)[1:] != self.units.shape[1:]:
            raise ValueError(f"embeddings of {np.shape(embeddings)[1:]} features against a reference bank of "
                             f"{self.units.shape[1:]}: the bank is another model's (write it again beside the model "
                             "with `python -m training export`)")
        units = self.unit(embeddings)
        prototype = units.mean(axis=0)
        prototype = self._fitted(units, logsumexp(logits), prototype / max(float(np.linalg.norm(prototype)), 1e-6))
        # The taught row tops a reference drawing where scale * cos + bias > its top logit.
        margins = self.scale * (self.units @ prototype) - self.top_logits
        shares = [false_top(words) for words in range(1, MAX_TAUGHT_WORDS + 1)]
        biases = tuple(-float(q) for q in np.quantile(margins, 1 - np.array(shares)))
        return TaughtWord(word, prototype.astype(np.float32), biases, len(embeddings))

    def _fitted(self, units: np.ndarray, logsumexp: np.ndarray, prototype: np.ndarray) -> np.ndarray:
        """`prototype` after FIT_STEPS of gradient descent on the taught row's logistic loss
        against the model's rows: above their logsumexp on the word's drawings (`units`), below
        it on the bank's."""
        row, bias = prototype.astype(np.float32), 0.0
        for _step in range(FIT_STEPS):
            # d/ds of softplus(logsumexp - s) on the word's drawings, of softplus(s - logsumexp) on the bank's
            mine = -_sigmoid(logsumexp - (self.scale * (units @ row) + bias))
            others = _sigmoid(self.scale * (self.units @ row) + bias - self.logsumexp)
            row = row - FIT_RATE * self.scale * (mine @ units / len(units) + others @ self.units / len(self.units))
            bias -= FIT_RATE * float(mine.mean() + others.mean())
        return row


def _forgotten(entry: dict | None, model: str) -> list[str]:
    """A stored class's words that `model` does not know: those it kept as forgotten, and all
    its words when they are another model's."""
    if entry is None:
        return []
    words = list(entry.get("forgotten", []))
    if entry["model"] != model:
        words += [str(w["word"]) for w in entry["words"]]
    return list(dict.fromkeys(words))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # no overflow where exp(-x) would


class TaughtWords:
    """A room's taught words, added to the model's `categories` in its guesses."""

    def __init__(self, reference: Reference, categories: Sequence[str], taught: Sequence[TaughtWord] = ()):
        self.reference = reference
        self.categories = list(categories)
        self.taught: list[TaughtWord] = list(taught)

    @property
    def words(self) -> list[str]:
        return [t.word for t in self.taught]

    def add(self, taught: TaughtWord) -> None:
        # A new list, not an append: a reader on another thread keeps the one it read.
        self.taught = [t for t in self.taught if t.word != taught.word] + [taught]

    def logits(self, logits: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """The model's calibrated `logits` (N, categories) with a column per taught word."""
        return self._extended(self.taught, logits, embeddings)

    def guesses(self, logits: np.ndarray, embeddings: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        taught = self.taught  # read once: a lesson (another thread) may add a word meanwhile
        return top(softmax(self._extended(taught, logits, embeddings)), self.categories + [t.word for t in taught], k)

    def _extended(self, taught: list[TaughtWord], logits: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        if not taught:
            return logits
        prototypes = np.stack([t.prototype for t in taught])
        rows = self.reference.scale * (self.reference.unit(embeddings) @ prototypes.T)
        return np.concatenate([logits, rows + np.array([t.bias(len(taught)) for t in taught], dtype=np.float32)],
                              axis=1)


class TaughtStore:
    """The taught words of every class, kept across restarts in one JSON file (the instance
    folder's, beside the contributions' database): per class key (a secret the teacher's
    page keeps; stored hashed), the model they were learned on and the words. Thread-safe;
    each save replaces the file whole (written beside it, then renamed)."""

    def __init__(self, path: str | Path, model: str):
        self.path, self.model = Path(path), model
        self._lock = threading.Lock()

    @staticmethod
    def _id(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}

    def load(self, key: str) -> tuple[list[TaughtWord], list[str]]:
        """The class's words, none for another model's (a prototype is one model's); and,
        from the same read, the words it taught models before this one and not this one
        since: it no longer knows them (the teacher is told to teach them again)."""
        with self._lock:
            entry = self._read().get(self._id(key))
        known = entry is not None and entry["model"] == self.model
        return [TaughtWord.from_json(w) for w in entry["words"]] if known else [], _forgotten(entry, self.model)

    def save(self, key: str, words: Sequence[TaughtWord]) -> None:
        with self._lock:
            classes = self._read()
            taught = {w.word.casefold() for w in words}
            forgotten = [w for w in _forgotten(classes.get(self._id(key)), self.model) if w.casefold() not in taught]
            classes[self._id(key)] = {"model": self.model, "words": [w.to_json() for w in words],
                                      **({"forgotten": forgotten} if forgotten else {})}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            part = self.path.with_name(self.path.name + ".part")
            part.write_text(json.dumps(classes), encoding="utf-8")
            os.replace(part, self.path)
