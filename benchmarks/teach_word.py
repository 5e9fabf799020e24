"""Teaching the AI a new word (game/model/teach.py), measured on words it never saw.

Twenty of the 345 words are held out (the twenty with the most stroke drawings among those
without thousands of bitmaps): a quick model is trained without them (training/train.py's
`words`; their logits are left out, so it knows 325 words), with its reference bank of
validation drawings of those 325. Then every held-out word is taught at once from 5, 10
and 20 of its real drawings, and measured on its other drawings, among the 325 + 20 words:

- top-1 / top-3: the taught word first / in the first three;
- recognized: top-1 with p >= the game's threshold (the round would end, won);
- others' top-1: the 325 words' test drawings, before and after the 20 rows are added;
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
    """Every held-out word taught from each size's drawings; `held_drawings[word]`: its
    drawings that may teach it and those it is measured on (bitmaps)."""
    known_idx = np.array([i for i, w in enumerate(categories) if w not in held])
    known = [categories[i] for i in known_idx]
    kx, ky = known_test
    k_logits, k_emb = clf.logits(kx)
    k_logits = k_logits[:, known_idx]
    before = float(np.mean(np.array(known)[k_logits.argmax(1)] == np.array(categories)[ky]))
    scores = {w: clf.logits(np.concatenate(held_drawings[w])) for w in held}
    results = {}
    for n in SIZES:
        runs = []
        for _ in range(REPEATS):
            taught = TaughtWords(reference, known)
            eval_logits, eval_emb, eval_labels, seconds = [], [], [], []
            for w in held:
                teach_pool, test = held_drawings[w]
                pick = rng.choice(len(teach_pool), n, replace=False)
                t0 = time.perf_counter()
                taught.add(reference.imprint(w, *clf.logits(teach_pool[pick])))  # the server's path
                seconds.append(time.perf_counter() - t0)
                # Measured on the word's other drawings: the test ones, and the unpicked of its pool.
                logits, emb = scores[w]
                rest = np.concatenate([np.delete(np.arange(len(teach_pool)), pick),
                                       len(teach_pool) + np.arange(len(test))])
                eval_logits.append(logits[rest][:, known_idx])
                eval_emb.append(emb[rest])
                eval_labels += [len(known) + held.index(w)] * len(rest)
            probs = np.exp(taught.logits(np.concatenate(eval_logits), np.concatenate(eval_emb)))
            order = np.argsort(-probs, axis=1)
            labels = np.array(eval_labels)
            p_top = probs.max(1) / probs.sum(1)
            after = taught.logits(k_logits, k_emb).argmax(1)
            runs.append({"top1": float(np.mean(order[:, 0] == labels)),
                         "top3": float(np.mean((order[:, :3] == labels[:, None]).any(1))),
                         "recognized": float(np.mean((order[:, 0] == labels) & (p_top >= RECOGNITION_THRESHOLD))),
                         "others_top1_change": float(np.mean(np.array(known + held)[after] == np.array(categories)[ky]))
                         - before,
                         "learning_seconds": float(np.median(seconds)),
                         "measured_on": len(labels)})
        results[n] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return {"others_top1_before": before, "by_drawings": results}


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
        print(f"{'drawings':>9} {'top-1':>7} {'top-3':>7} {'recog.':>7} {'others':>8} {'learn ms':>9} {'n':>5}")
        for n, r in line["by_drawings"].items():
            print(f"{n:>9} {r['top1']:>7.1%} {r['top3']:>7.1%} {r['recognized']:>7.1%} "
                  f"{100 * r['others_top1_change']:>+7.2f} {1000 * r['learning_seconds']:>9.1f} {r['measured_on']:>5.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
