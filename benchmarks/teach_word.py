"""Teaching the AI a new word (game/model/teach.py), measured on words it never saw.

Twenty of the 345 words are held out (the twenty with the most stroke drawings among those
without thousands of bitmaps): a quick model is trained without them (training/train.py's
`words`; their logits are left out, so it knows 325 words), with its reference bank of
validation drawings of those 325. Then every held-out word is taught from 5, 10 and 20 of its
real drawings, in rooms of 1, 5 and 20 taught words (the 20 split between them: a room's taught
words share how often they may come first on other words' drawings, game/model/teach.py's
false_top), and measured on its other drawings, among the 325 words and its room's:

- top-1 / top-3: the taught word first / in the first three;
- recognized: top-1 with p >= the game's threshold (the round would end, won);
- others' top-1: the 325 words' test drawings, before and after a room's rows are added (the
  mean over rooms, and the worst room);
- learning time: one word's drawings through the model, and its imprinting.

Each size is repeated with several random choices of the teaching drawings. A second line
does the same with the shipped model's embedding (its 20 logits left out, its reference bank
without them): that model was trained on these words, so its figures are optimistic.

The shipped model is an ensemble (`python -m training ensemble`); `--join` makes the quick
model one too, with another quick model trained without the same words (an earlier run's,
kept under another name), the quick model first, as the shipped ensemble joins its members.
`--model` takes a checkpoint trained without them in the quick model's place, such as the
shipped recipe's whole run on the known words:

    python -m training train --words "$(python benchmarks/teach_word.py --known)" --out build/teach_word/full-resnet.safetensors

    python benchmarks/teach_word.py [--steps 1600] [--batch-size 64] [--arch NAME --lr LR] [--reuse]
                                    [--model CHECKPOINT] [--join build/teach_word/quick-lite0.safetensors] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from game.model import ink  # noqa: E402
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier  # noqa: E402
from game.model.teach import Reference, TaughtWords, reference_path  # noqa: E402
from game.protocol import RECOGNITION_THRESHOLD  # noqa: E402
from game.words import load_categories  # noqa: E402
from training import data, ensemble, train  # noqa: E402
from training.model import ARCHS, served_path  # noqa: E402

HELD_OUT_WORDS = 20
SIZES = (5, 10, 20)
REPEATS = 3
ROOM_SIZES = (1, 5, HELD_OUT_WORDS)  # words a room teaches (the held-out words split between rooms)
OUT = ROOT / "build" / "teach_word"


def held_out_words(data_dir: Path, categories: list[str]) -> list[str]:
    """The HELD_OUT_WORDS words with the most stroke drawings (distinct key_ids), leaving out
    the 34 with thousands of bitmaps (their bitmaps would say the word without strokes)."""
    big = {p.stem for folder in ("numpy_bitmap", "png_bitmap") for p in (data_dir / folder).glob("*.npy")}
    counts = {}
    for w in categories:
        if w in big:
            continue
        keys = set()
        for folder in ("raw", "simplified"):
            path = data_dir / folder / f"{w}.ndjson"
            if path.exists():
                keys.update(json.loads(line)["key_id"] for line in path.read_text().splitlines() if line)
        counts[w] = len(keys)
    return sorted(sorted(counts, key=lambda w: (-counts[w], w))[:HELD_OUT_WORDS])


def quick_model(data_dir: Path, known: list[str], steps: int, batch_size: int, arch: str, lr: float,
                reuse: bool, model: Path | None, join: Path | None) -> Path:
    """The shipped model's recipe, cut short: `steps` of `batch_size` in 4 epochs (the shipped
    one had 12,000 of 128), on the known words only (or the checkpoint `model`, trained so);
    with its reference bank beside it; joined with the checkpoint `join` as an ensemble where given."""
    out = model or OUT / "quick.safetensors"
    if model is None and not (reuse and out.with_suffix(".onnx").exists()):
        epochs = 4
        cfg = dict(train.CONFIG, data=str(data_dir), out=str(out), words=",".join(known), epochs=epochs,
                   steps_per_epoch=steps // epochs, batch_size=batch_size, arch=arch, lr=lr,
                   threads=os.cpu_count() or 2)
        train.train(cfg, log=lambda *a: print(*a, file=sys.stderr))
    if join is None:
        return out.with_suffix(".onnx")
    joined = OUT / f"{out.stem}-ensemble.safetensors"
    if reuse and served_path(joined).exists():
        return served_path(joined)
    return ensemble.ensemble([out, join], joined, data_dir, log=lambda *a: print(*a, file=sys.stderr))


def bitmaps_of(split: data.Split) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([ink.render(d) for d in split.drawings]).reshape(-1, 784), np.array(split.drawing_labels)


def measure(clf: DoodleClassifier, reference: Reference, categories: list[str], held: list[str],
            held_drawings: dict[str, tuple[np.ndarray, np.ndarray]], known_test: tuple[np.ndarray, np.ndarray],
            rng: np.random.Generator) -> dict:
    """Every held-out word taught from each size's drawings, in rooms of each of ROOM_SIZES
    words; `held_drawings[word]`: its drawings that may teach it and those it is measured on
    (bitmaps)."""
    known_idx = np.array([i for i, w in enumerate(categories) if w not in held])
    known = [categories[i] for i in known_idx]
    kx, ky = known_test
    k_logits, k_emb = clf.logits(kx)
    k_logits = k_logits[:, known_idx]
    truth = np.array(categories)[ky]
    before = float(np.mean(np.array(known)[k_logits.argmax(1)] == truth))
    scores = {w: clf.logits(np.concatenate(held_drawings[w])) for w in held}
    results = {m: {} for m in ROOM_SIZES}
    for n in SIZES:
        runs = {m: [] for m in ROOM_SIZES}
        for _ in range(REPEATS):
            words, measured_on, seconds = [], [], []
            for w in held:
                teach_pool, test = held_drawings[w]
                pick = rng.choice(len(teach_pool), n, replace=False)
                t0 = time.perf_counter()
                words.append(reference.imprint(w, *clf.logits(teach_pool[pick])))  # the server's path
                seconds.append(time.perf_counter() - t0)
                # Measured on the word's other drawings: the test ones, and the unpicked of its pool.
                logits, emb = scores[w]
                rest = np.concatenate([np.delete(np.arange(len(teach_pool)), pick),
                                       len(teach_pool) + np.arange(len(test))])
                measured_on.append((logits[rest][:, known_idx], emb[rest]))
            for m in ROOM_SIZES:
                rooms = [room_figures(reference, known, words[i:i + m], measured_on[i:i + m], k_logits, k_emb, truth,
                                      before) for i in range(0, len(held), m)]
                hits = {k: np.concatenate([r[k] for r in rooms]) for k in ("top1", "top3", "recognized")}
                runs[m].append({**{k: float(v.mean()) for k, v in hits.items()},
                                "others_top1_change": float(np.mean([r["others"] for r in rooms])),
                                "others_worst": float(min(r["others"] for r in rooms)),
                                "learning_seconds": float(np.median(seconds)),
                                "measured_on": len(hits["top1"])})
        for m in ROOM_SIZES:
            results[m][n] = {k: float(np.mean([r[k] for r in runs[m]])) for k in runs[m][0]}
    return {"others_top1_before": before, "by_room": results}


def room_figures(reference: Reference, known: list[str], words: list, measured_on: list, k_logits: np.ndarray,
                 k_emb: np.ndarray, truth: np.ndarray, before: float) -> dict:
    """A room that taught `words` (TaughtWords), each measured on its other drawings
    (`measured_on`: their logits and embeddings), among the known words and the room's: per
    drawing, first / in the first three / recognized; and the known words' test drawings'
    top-1 change."""
    taught = TaughtWords(reference, known, words)
    labels = np.concatenate([[len(known) + i] * len(logits) for i, (logits, _) in enumerate(measured_on)])
    probs = np.exp(taught.logits(np.concatenate([lg for lg, _ in measured_on]),
                                 np.concatenate([e for _, e in measured_on])))
    order = np.argsort(-probs, axis=1)
    after = taught.logits(k_logits, k_emb).argmax(1)
    return {"top1": order[:, 0] == labels, "top3": (order[:, :3] == labels[:, None]).any(1),
            "recognized": (order[:, 0] == labels) & (probs.max(1) / probs.sum(1) >= RECOGNITION_THRESHOLD),
            "others": float(np.mean(np.array(known + taught.words)[after] == truth)) - before}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(data.DEFAULT_DATA))
    parser.add_argument("--steps", type=int, default=1600, help="the quick model's training steps")
    parser.add_argument("--batch-size", type=int, default=64, help="the quick model's batch size")
    parser.add_argument("--arch", default=train.CONFIG["arch"], choices=sorted(ARCHS),
                        help="the quick model's architecture (training.model.ARCHS)")
    parser.add_argument("--lr", type=float, default=train.CONFIG["lr"], help="the quick model's learning rate")
    parser.add_argument("--reuse", action="store_true", help="the quick model already trained in build/teach_word")
    parser.add_argument("--model", type=Path, default=None,
                        help="a checkpoint trained without the held-out words, in the quick model's place")
    parser.add_argument("--known", action="store_true",
                        help="print the known words (comma-separated, for `python -m training train --words`) and stop")
    parser.add_argument("--join", type=Path, default=None,
                        help="a checkpoint trained without the held-out words to join the quick model with")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data_dir = Path(args.data)
    categories = list(load_categories())
    held = held_out_words(data_dir, categories)
    known = [w for w in categories if w not in held]
    if args.known:
        print(",".join(known))
        return 0
    print(f"held out: {', '.join(held)}", file=sys.stderr)
    t0 = time.time()
    served = quick_model(data_dir, known, args.steps, args.batch_size, args.arch, args.lr, args.reuse, args.model, args.join)
    train_minutes = (time.time() - t0) / 60
    _, held_splits = data.load(data_dir, held, log=lambda *a: None)
    _, known_splits = data.load(data_dir, known, log=lambda *a: None)
    known_test = bitmaps_of(known_splits["test"])
    rng = np.random.default_rng(0)
    report = {"held_out": held, "quick_model_minutes": round(train_minutes, 1)}
    lines = {}

    # The quick model never saw the held-out words: all their drawings teach or measure it.
    pools = {}
    for w in held:
        rows = np.concatenate([bitmaps_of(s)[0][np.array(s.drawing_labels) == categories.index(w)]
                               for s in held_splits.values()])
        pools[w] = (rows, rows[:0])
    quick = DoodleClassifier.load(served, mirror_up_to=None)
    reference = Reference.load(reference_path(served))
    lines["quick model, words held out"] = measure(quick, reference, categories, held, pools, known_test, rng)

    # The shipped model trained on their train split: it teaches, the rest measures.
    shipped = DoodleClassifier.load(DEFAULT_MODEL, mirror_up_to=None)
    pools = {}
    for w in held:
        y = categories.index(w)
        train_rows = bitmaps_of(held_splits["train"])[0][np.array(held_splits["train"].drawing_labels) == y]
        other = np.concatenate([bitmaps_of(held_splits[s])[0][np.array(held_splits[s].drawing_labels) == y]
                                for s in ("val", "test")])
        pools[w] = (train_rows, other)
    ref = np.load(reference_path(DEFAULT_MODEL))
    keep = ~np.isin(ref["labels"], [categories.index(w) for w in held])  # their drawings are no "other word"
    reference = Reference(ref["embeddings"][keep].astype(np.float32), ref["top_logits"][keep], ref["logsumexp"][keep],
                          ref["mean"], float(ref["scale"]))
    lines["shipped model (trained on these words: optimistic)"] = measure(
        shipped, reference, categories, held, pools, known_test, rng)
    report["lines"] = lines
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"held out: {', '.join(held)}; quick model trained in {train_minutes:.1f} min")
    for name, line in lines.items():
        print(f"\n{name}: others' top-1 before teaching {line['others_top1_before']:.1%}")
        for m, by_drawings in line["by_room"].items():
            print(f"rooms of {m} taught word{'s' if m > 1 else ''}:")
            print(f"{'drawings':>9} {'top-1':>7} {'top-3':>7} {'recog.':>7} {'others':>8} {'worst':>7} {'learn ms':>9} {'n':>5}")
            for n, r in by_drawings.items():
                print(f"{n:>9} {r['top1']:>7.1%} {r['top3']:>7.1%} {r['recognized']:>7.1%} "
                      f"{100 * r['others_top1_change']:>+7.2f} {100 * r['others_worst']:>+7.2f} "
                      f"{1000 * r['learning_seconds']:>9.1f} {r['measured_on']:>5.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
