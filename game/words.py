"""The words: data/categories.txt (its one reader) and the deck, the words the model
recognizes well, so that a round is winnable."""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

CATEGORIES = Path(__file__).resolve().parents[1] / "data" / "categories.txt"
MIN_WORDS = 12  # a game has up to 12 rounds and never repeats a word


@lru_cache(maxsize=4)
def load_categories(path: str | Path = CATEGORIES) -> tuple[str, ...]:
    """The words of data/categories.txt, one a line, in file order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(word for line in lines if (word := line.strip()))


def metrics_path(model_path: str | Path) -> Path:
    """Where `python -m training evaluate --card` writes a model's metrics."""
    return Path(model_path).with_suffix(".metrics.json")


def load_deck(categories: Sequence[str], metrics: str | Path, min_recall: float = 0.75) -> list[str]:
    """The categories whose recall on the validation split (the metrics JSON's
    `per_category_recall_val`; the test split's stays for unbiased reports) is at least
    `min_recall`, in model order; all categories when the file is missing or unreadable,
    or leaves fewer than MIN_WORDS words."""
    try:
        recall = json.loads(Path(metrics).read_text(encoding="utf-8"))["per_category_recall_val"]
        words = [w for w in categories if isinstance(recall.get(w), (int, float)) and recall[w] >= min_recall]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("no per-category recall in %s (%s): the deck is every category", metrics, e)
        return list(categories)
    if len(words) < MIN_WORDS:
        log.warning("only %d words reach recall %.2f in %s: the deck is every category",
                    len(words), min_recall, metrics)
        return list(categories)
    return words
