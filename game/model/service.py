"""The model runtime one app shares: the classifier, the words it knows and deals, the
recognition threshold and the micro-batcher that every transport classifies through.

`create_app` builds one `ModelService` and hands it to the solo game, the classroom,
contributions and the vision lab; nothing else loads a model.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from flask import Flask

from game.model.batcher import Batcher
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier
from game.model.cpus import CPU_AFFINITIES, share_cpus
from game.model.process import ClassifierProcess
from game.model.teach import Reference, TaughtWord, TaughtWords, model_digest, reference_path
from game.protocol import GUESSES, RECOGNITION_THRESHOLD
from game.words import load_deck, metrics_path

CONFIG_DEFAULTS = {
    "MODEL_PATH": None,  # None: $DOODLE_MODEL, else the shipped model
    "CLASSIFIER": None,  # an object with classify_batch(drawings, k) and categories (and logits_batch to be taught)
    # The reference bank words are taught against (game/model/teach.py); None: the one beside
    # MODEL_PATH's model, and none for a CLASSIFIER (its rooms cannot be taught).
    "REFERENCE_PATH": None,
    "DECK": None,  # explicit default words; None: the words the model recognizes well
    "DECK_MIN_RECALL": 0.75,
    "RECOGNITION_THRESHOLD": RECOGNITION_THRESHOLD,
    # Small batches: with 120 players, batches of 64 made those at the back of a burst wait
    # for the whole batch (p95 368 ms); 16 gives 233 ms (benchmarks/classroom_load.py).
    "BATCH_MAX": 16,
    "BATCH_WAIT": 0.005,
    # The shipped (or MODEL_PATH) model runs in a process of its own (game.model.process);
    # False loads it into the server's process (the only way before; a debugger's choice).
    "INFERENCE_PROCESS": True,
    # "auto": the server's threads on one CPU, the model's process on the others (game.model.cpus);
    # "off": wherever the OS puts them. None: $DOODLE_CPU_AFFINITY, else "auto".
    "CPU_AFFINITY": None,
}


class ModelService:
    """One app's model: `classifier` (its `categories`), the `deck` games deal from, the
    recognition `threshold`, the `batcher` that classifies every player's latest drawing in
    one call (`batch_max` drawings at most), and the `reference` bank that new words are
    taught against (game/model/teach.py; None where the model has none, or a test's fake)."""

    def __init__(self, classifier, deck: list[str], threshold: float, batch_max: int, batch_wait: float,
                 reference: Reference | None = None):
        self.classifier = classifier
        self.categories = list(classifier.categories)
        self.deck = deck
        self.threshold = threshold
        self.batch_max = batch_max
        self.reference = reference
        self.batcher = Batcher(self._classify, max_batch=batch_max, max_wait=batch_wait)

    @classmethod
    def of(cls, app: Flask) -> "ModelService":
        return app.extensions["model"]

    def submit(self, key, drawing, callback, taught: TaughtWords | None = None) -> None:
        """Classify `drawing` soon (the batcher's `submit`): `callback(guesses)`, among the
        model's words and `taught`'s."""
        self.batcher.submit(key, (drawing, taught), callback)

    def _classify(self, requests) -> list:
        drawings = [drawing for drawing, _taught in requests]
        if all(taught is None or not taught.taught for _drawing, taught in requests):
            return self.classifier.classify_batch(drawings, GUESSES)
        logits, embeddings = self.classifier.logits_batch(drawings)
        no_words = TaughtWords(self.reference, self.categories)
        return [(taught or no_words).guesses(logits[i:i + 1], embeddings[i:i + 1], GUESSES)[0]
                for i, (_drawing, taught) in enumerate(requests)]

    def taught_words(self, taught: list[TaughtWord] = ()) -> TaughtWords:
        """A room's taught words (none yet, or `taught`, as saved)."""
        if self.reference is None:
            raise ValueError("this model has no reference bank: it cannot learn new words")
        return TaughtWords(self.reference, self.categories, taught)

    def learn(self, word: str, drawings: list) -> TaughtWord:
        """`word` learned from `drawings` (MIN_TEACH_DRAWINGS or more): a fraction of a second."""
        return self.reference.imprint(word, *self.classifier.logits_batch(drawings))

    def close(self) -> None:
        self.batcher.close()


def init_app(app: Flask) -> ModelService:
    """Load the classifier (config MODEL_PATH or CLASSIFIER) and the deck for `app`."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    cfg = app.config
    model_path = cfg["MODEL_PATH"] = (cfg["MODEL_PATH"] or os.environ.get("DOODLE_MODEL")
                                      or str(DEFAULT_MODEL))
    affinity = cfg["CPU_AFFINITY"] = cfg["CPU_AFFINITY"] or os.environ.get("DOODLE_CPU_AFFINITY") or "auto"
    if affinity not in CPU_AFFINITIES:
        raise ValueError(f"CPU_AFFINITY (or $DOODLE_CPU_AFFINITY) must be one of {CPU_AFFINITIES}, got {affinity!r}")
    classifier = (cfg["CLASSIFIER"] if cfg["CLASSIFIER"] is not None
                  else _load_classifier(model_path, bool(cfg["INFERENCE_PROCESS"]), affinity))
    categories = list(classifier.categories)
    if cfg["DECK"] is not None:
        deck = list(dict.fromkeys(cfg["DECK"]))
        unknown = sorted(set(deck) - set(categories))
        if not deck or unknown:
            raise ValueError(f"DECK must be a non-empty list of the model's categories; unknown: {unknown[:5]}")
    else:
        deck = load_deck(categories, metrics_path(model_path), cfg["DECK_MIN_RECALL"])
    reference = cfg["REFERENCE_PATH"] or (reference_path(model_path) if cfg["CLASSIFIER"] is None else None)
    bank = Reference.load(reference) if reference is not None and Path(reference).exists() else None
    if bank is not None and (mismatch := _another_models(bank, getattr(classifier, "features", None), model_path)):
        # A bank left from another model: its rooms are told they cannot be taught, not a lesson's error.
        app.logger.warning("the reference bank %s %s: it is another model's, so no word can be taught (write it "
                           "again beside the model with `python -m training export`)", reference, mismatch)
        bank = None
    model = app.extensions["model"] = ModelService(
        classifier, deck, float(cfg["RECOGNITION_THRESHOLD"]), int(cfg["BATCH_MAX"]), float(cfg["BATCH_WAIT"]), bank)
    return model


def _another_models(bank: Reference, features: int | None, model_path: str) -> str | None:
    """How the reference `bank` shows it is not the served model's: another width of
    embedding, or another model file's digest; None where it is the model's."""
    if features is not None and bank.units.shape[1] != features:
        return f"holds embeddings of {bank.units.shape[1]} features, the model's have {features}"
    if bank.model is not None and (digest := model_digest(model_path)) is not None and bank.model != digest:
        return f"was written by the model file of digest {bank.model}, {model_path} is {digest}"
    return None


def _load_classifier(path: str, process: bool, affinity: str):
    p = Path(path)
    # Keyed by modification time too, so a retrained model file is picked up.
    return _load_classifier_cached(str(p.resolve()), p.stat().st_mtime_ns if p.exists() else 0, process, affinity)


@functools.lru_cache(maxsize=2)
def _load_classifier_cached(path: str, mtime_ns: int, process: bool, affinity: str):
    if process:
        # The server's threads share one CPU only where the model has others to itself.
        return ClassifierProcess(path, cpus=share_cpus(affinity))
    return DoodleClassifier.load(path)
