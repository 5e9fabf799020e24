"""A taught word's row (game/model/teach.py) on made-up embeddings, where what it should do
is known: the taught word's drawings look much like one of the model's words and a little
like nothing else, as a new word's do. No model or data needed."""
from __future__ import annotations

import numpy as np
import pytest

from game.model import teach
from game.model.teach import ROOM_FALSE_TOP, WORD_FALSE_TOP, Reference, TaughtWord, TaughtWords, false_top
from game.protocol import MAX_TAUGHT_WORDS

FEATURES, WORDS = 16, 12


def bank_and_word(rng: np.random.Generator) -> tuple[Reference, np.ndarray, np.ndarray]:
    """A reference bank of WORDS words, each along an axis of its own (2, 3, ...) and one that
    all share (0); the taught word's drawings along axis 0, much along its neighbour's (2)
    and a little along its own (1); and a WORDS-word model's calibrated logits for each."""
    axes = np.eye(FEATURES)
    rows = axes[2:2 + WORDS]
    bank = 2.0 * axes[0] + 1.5 * rows[rng.integers(0, WORDS, 2000)] + rng.normal(0, 0.3, (2000, FEATURES))
    word = 2.0 * axes[0] + 1.5 * axes[2] + 0.7 * axes[1] + rng.normal(0, 0.3, (400, FEATURES))

    def logits(x):
        z = 3.0 * x @ rows.T
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    bank_logits = logits(bank)
    # A taught row's cosine worth 5 logits, about what the shipped model's bank gives it.
    reference = Reference(bank.astype(np.float32), bank_logits.max(1), teach.logsumexp(bank_logits),
                          bank.mean(0), scale=5.0 / teach.PROTOTYPE_SCALE)
    return reference, word, logits(word)


def tops(reference: Reference, taught, embeddings, logits, words: int = 1) -> float:
    """How often the taught row comes first among the model's rows and itself, in a room of `words`."""
    row = reference.scale * (reference.unit(embeddings) @ taught.prototype) + taught.bias(words)
    return float(np.mean(row > logits.max(1)))


def test_the_fitted_row_tells_the_word_from_the_ones_it_looks_like(monkeypatch):
    reference, word, logits = bank_and_word(np.random.default_rng(0))
    fitted = reference.imprint("new", logits[:10], word[:10])
    monkeypatch.setattr(teach, "FIT_STEPS", 0)
    mean = reference.imprint("new", logits[:10], word[:10])
    # Measured on the word's other drawings: the fitted row comes first on more of them...
    assert tops(reference, fitted, word[10:], logits[10:]) > tops(reference, mean, word[10:], logits[10:]) + 0.1
    # ...leaning more on the word's own axis, less on its neighbour's.
    unit = fitted.prototype / np.linalg.norm(fitted.prototype)
    assert unit[1] > mean.prototype[1] and unit[2] < mean.prototype[2]
    # Both are calibrated alike: first on at most their share of the bank's drawings, in a room of any size.
    for taught in (fitted, mean):
        assert len(taught.biases) == MAX_TAUGHT_WORDS
        for words in range(1, MAX_TAUGHT_WORDS + 1):
            margins = reference.scale * (reference.units @ taught.prototype) + taught.bias(words) - reference.top_logits
            assert np.mean(margins > 0) <= false_top(words) + 1 / len(margins)


def test_a_rooms_taught_words_share_how_often_they_may_come_first_on_other_words():
    """Alone, a word may come first on WORD_FALSE_TOP of the bank and is recognized more often;
    a room's words together never on more than ROOM_FALSE_TOP of it, however many it taught."""
    reference, word, logits = bank_and_word(np.random.default_rng(3))
    assert false_top(1) == WORD_FALSE_TOP < ROOM_FALSE_TOP == MAX_TAUGHT_WORDS * false_top(MAX_TAUGHT_WORDS)
    assert all(false_top(n) >= false_top(n + 1) for n in range(1, MAX_TAUGHT_WORDS))
    taught = reference.imprint("new", logits[:10], word[:10])
    alone, crowded = (tops(reference, taught, word[10:], logits[10:], n) for n in (1, MAX_TAUGHT_WORDS))
    assert alone > crowded + 0.05
    assert list(taught.biases) == sorted(taught.biases, reverse=True)  # the more words, the lower each bias

    # MAX_TAUGHT_WORDS words, each from 10 drawings along an axis of the bank's: the room's columns
    # come first on at most ROOM_FALSE_TOP of the bank's drawings together.
    rng = np.random.default_rng(4)
    room = TaughtWords(reference, [f"w{i}" for i in range(WORDS)])
    for i in range(MAX_TAUGHT_WORDS):
        picked = reference.units[rng.choice(len(reference.units), 10, replace=False)]
        room.add(reference.imprint(f"taught {i}", logits[:10], reference.mean + picked + rng.normal(0, 0.3, picked.shape)))
    # The bank's own drawings (their embeddings centred already), beside their top logit.
    rows = room.logits(reference.top_logits[:, None], reference.mean + reference.units)
    first = rows[:, 1:].max(1) > rows[:, 0]
    assert 0 < first.mean() <= ROOM_FALSE_TOP + MAX_TAUGHT_WORDS / len(first)


def test_a_word_saved_with_one_bias_keeps_it_in_a_room_of_any_size():
    saved = {"word": "axolotl", "prototype": [0.5] * 4, "bias": -3.25, "drawings": 12}
    word = TaughtWord.from_json(saved)
    assert [word.bias(n) for n in (1, 5, MAX_TAUGHT_WORDS)] == [-3.25] * 3
    again = TaughtWord.from_json(word.to_json())
    assert again.biases == (-3.25,) and again.drawings == 12 and again.word == "axolotl"


def test_a_word_needs_its_drawings_logits_and_embeddings_alike():
    reference, word, logits = bank_and_word(np.random.default_rng(1))
    with pytest.raises(ValueError, match="each with its logits and embedding"):
        reference.imprint("new", logits[:9], word[:10])
    with pytest.raises(ValueError, match="the bank is another model's"):
        reference.imprint("new", logits[:10], word[:10, :12])  # a model of other features than the bank's
    with pytest.raises(ValueError, match="drawings at least"):
        reference.imprint("new", logits[:2], word[:2])


def test_a_reference_bank_written_before_the_fit_is_refused_with_what_to_run(tmp_path):
    reference, _word, _logits = bank_and_word(np.random.default_rng(2))
    old = tmp_path / "m.reference.npz"
    np.savez(old, embeddings=reference.units, top_logits=reference.top_logits, mean=reference.mean,
             scale=np.float32(1.0), labels=np.zeros(len(reference.units), np.int16))
    with pytest.raises(ValueError, match="python -m training export"):
        Reference.load(old)
