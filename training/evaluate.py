"""Evaluate a model on the held-out split: JSON metrics, confusion matrix and training curve PNGs.

Metrics are on the test split made by `training.data` (key_id / row index), so
two models evaluated on the same data folder are compared on the same drawings.
Stroke drawings go through the game's own path (raw drawing -> simplify ->
render -> model), exactly what a player's ink meets.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from game.model import ink
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier
from training import data
from training.model import runs_of

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def _bitmaps_of(split: data.Split, fraction: float = 1.0) -> np.ndarray:
    """Render the split's drawings (the raw one where we have it) cut to `fraction` of their strokes."""
    rows = []
    for simplified, raw in zip(split.drawings, split.raw):
        rows.append(ink.to_bitmap(ink.raw_prefix(raw if raw is not None else simplified, fraction)).ravel())
    return np.stack(rows) if rows else np.zeros((0, 784), np.uint8)


def metrics(probs: np.ndarray, y: np.ndarray) -> dict:
    """top-1, top-3 and MAP@3 (Kaggle's Quick, Draw! metric: 1, 1/2, 1/3 for a hit at rank 1, 2, 3)."""
    if len(y) == 0:
        return {"n": 0}
    top3 = np.argsort(-probs, axis=1)[:, :3]
    hit = top3 == y[:, None]
    return {"n": int(len(y)), "top1": float(hit[:, 0].mean()), "top3": float(hit.any(1).mean()),
            "map3": float((hit / np.arange(1, 4)).sum(1).mean())}


def per_category_recall(cats: list[str], pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {word: float((pred[y == c] == c).mean()) for c, word in enumerate(cats) if (y == c).any()}


def thin_word_losses(cats: list[str], probs: np.ndarray, y: np.ndarray, big: list[int], top: int = 10) -> dict:
    """Where the big words' misses go: top-1 with the guess restricted to the big words (what
    the 345-way model would score if the thin words never took a guess), the share of drawings
    taken by a thin word instead, and the thin words that take the most."""
    if len(y) == 0:
        return {"n": 0}
    inside = np.asarray(big, dtype=np.int64)
    pred = probs.argmax(1)
    thin = ~np.isin(pred, inside)
    return {"n": int(len(y)), "top1_within_big_words": float((inside[probs[:, inside].argmax(1)] == y).mean()),
            "share_taken_by_thin_words": float(thin.mean()),
            "thin_words": Counter(cats[p] for p in pred[thin]).most_common(top)}


def evaluate(clf: DoodleClassifier, split: data.Split, big_words: list[str]) -> tuple[dict, np.ndarray]:
    cats = clf.categories
    y = np.array(split.drawing_labels)
    by_fraction = {f: clf.probabilities(_bitmaps_of(split, f)) for f in FRACTIONS}
    probs = by_fraction[1.0]
    pred = probs.argmax(1) if len(y) else np.zeros(0, int)
    big_ids = [cats.index(w) for w in big_words]
    big = np.isin(y, big_ids)
    yb, sources = np.array(split.bitmap_labels), np.array(split.bitmap_sources)
    bitmap_probs = clf.probabilities(np.stack(split.bitmaps)) if len(yb) else np.zeros((0, len(cats)))
    # Google's numpy_bitmap rows are in the game's own style; png_bitmap rows come from another
    # renderer that no thin word's drawings have, so a model can lean on the style there: the
    # same words' stroke drawings (the game's path) beside their bitmaps show how much.
    by_source = {}
    for source in sorted(set(split.bitmap_sources)):
        rows = sources == source
        ids = np.unique(yb[rows])
        words = np.isin(y, ids)
        by_source[source] = {"words": int(len(ids)), "bitmaps": metrics(bitmap_probs[rows], yb[rows]),
                             "strokes": metrics(probs[words], y[words])}
    confusion = np.zeros((len(cats), len(cats)), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    report = {
        "all_categories": metrics(probs, y),
        "big_categories_strokes": metrics(probs[big], y[big]),
        "big_categories_bitmaps": metrics(bitmap_probs, yb),
        "big_categories_by_source": by_source,
        "big_categories_bitmaps_thin_word_losses": thin_word_losses(cats, bitmap_probs, yb, big_ids),
        "accuracy_by_stroke_fraction": {f"{int(f * 100)}%": metrics(p, y).get("top1") for f, p in by_fraction.items()},
        "per_category_recall": per_category_recall(cats, pred, y),
        "big_categories": big_words,
        "temperature": clf.temperature,
        "one_view_temperature": clf.one_view_temperature,
    }
    return report, confusion


def plot_confusion(confusion: np.ndarray, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    row = confusion.sum(1, keepdims=True)
    fig, ax = plt.subplots(figsize=(10, 10), dpi=100)
    ax.imshow(confusion / np.maximum(row, 1), cmap="magma", interpolation="nearest")
    ax.set_title("Confusion matrix, held-out drawings (row-normalised; 345 categories in Google's order)")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    a.plot(ep, [h["train_loss"] for h in history], label="train loss")
    a.plot(ep, [h["val_loss"] for h in history], label="val loss")
    a.set_xlabel("epoch")
    a.legend()
    b.plot(ep, [h["val_top1"] for h in history], label="val top-1")
    b.set_xlabel("epoch")
    b.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=None, help="served model, .onnx (default: the shipped one)")
    parser.add_argument("--data", default=str(data.DEFAULT_DATA), help="Quick, Draw! data folder")
    parser.add_argument("--compare", default=None, help="a second model to evaluate on the same split")
    parser.add_argument("--words", default="", help="comma-separated subset (default: every category)")
    parser.add_argument("--out", default="runs/eval", help="folder for the PNGs")
    parser.add_argument("--card", action="store_true",
                        help="also write MODEL_CARD.md and <model>.metrics.json beside the model")


def run(model_path, data_dir, words, out_dir) -> dict:
    model_path = Path(model_path or DEFAULT_MODEL)
    clf = DoodleClassifier.load(model_path, mirror_up_to=None)  # the mirror view in every call, as a player meets it
    words = [w for w in words.split(",") if w] or None
    _, splits = data.load(Path(data_dir), words, log=lambda *a: print(*a, file=sys.stderr))
    test = splits["test"]
    big = sorted({clf.categories[y] for y in test.bitmap_labels})
    report, confusion = evaluate(clf, test, big)
    # The game's deck is chosen on the validation split (game/words.py), so that the test
    # split's figures for the deck's words (benchmarks/recognition.py) are not chosen ones.
    val = splits["val"]
    y_val = np.array(val.drawing_labels)
    pred_val = clf.probabilities(_bitmaps_of(val)).argmax(1) if len(y_val) else np.zeros(0, int)
    report["per_category_recall_val"] = per_category_recall(clf.categories, pred_val, y_val)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = model_path.stem
    plot_confusion(confusion, out / f"{stem}-confusion.png")
    for run in runs_of(clf.metadata):  # an ensemble's: each member's curve
        if run.get("history"):
            member = f"-{Path(run['file']).stem}" if "file" in run else ""
            plot_history(run["history"], out / f"{stem}{member}-training-curve.png")
    report["pngs"] = sorted(str(p) for p in out.glob(f"{stem}-*.png"))
    return report


def cli(args) -> int:
    try:
        report = run(args.model, args.data, args.words, args.out)
        if args.compare:
            other = run(args.compare, args.data, args.words, args.out)
            report = {"model": report, "compare": other,
                      "delta_top1": other["all_categories"]["top1"] - report["all_categories"]["top1"]}
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.card and not args.compare:
        from training import card
        print(f"wrote {card.write(Path(args.model or DEFAULT_MODEL), report)}", file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0
