"""Both sides of the recognition rule, measured offline on real held-out drawings.

The game recognizes the prompted word when it is the model's top guess with calibrated
probability >= RECOGNITION_THRESHOLD, judged on every `guess` while the 20-second clock
runs (docs/protocol.md). This script replays each held-out raw drawing of the deck's
words message by message, as `python -m game.replay` sends it (75 ms of ink a message,
the drawing's own timing), classifies the drawing after every message, and for each
threshold reports:

- recognition rate: the drawing's own word recognized within the round's seconds;
- false-recognition rate: a random *other* deck word as the prompt (prompts swapped)
  is "recognized" - the expectation over every other deck word as the prompt;
- worst case: drawings for which *some* other deck word passes the rule at some moment
  (what a prompt that happens to be the model's favourite confusion would see);
- seconds to recognize (median, p90).

The threshold is an operating point, chosen on the validation split: the most recognitions
whose false-recognition rate is within the 1 % budget (less a tenth, for the sampling noise
of a few hundred drawings). It is reported on the test split, which neither training nor
the choice saw. The live counterpart, through a
server, is `python -m game.replay` (and benchmarks/solo_load.py).

    python benchmarks/recognition.py [--model M] [--data ../shared/quickdraw/raw] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from game.model import ink  # noqa: E402
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier  # noqa: E402
from game.words import load_deck, metrics_path  # noqa: E402
from game.replay.client import chunks, load_drawings  # noqa: E402

THRESHOLDS = [round(0.3 + 0.01 * i, 2) for i in range(61)]  # 0.3 to 0.9: the choice's grid
SHOWN = 0.05  # the table's rows: every SHOWN, and the chosen threshold
SECONDS = 20.0
TARGET_FALSE = 0.01
CHOICE_FALSE = 0.009  # the budget less a tenth, for the sampling noise of the validation drawings


def traces(clf: DoodleClassifier, drawings: dict[str, list], seconds: float) -> list[dict]:
    """For each drawing: the times of its messages and the top guess (index, p) after each."""
    out = []
    for word, items in drawings.items():
        for drawing in items:
            strokes: list = []
            times, bitmaps = [], []
            for at, stroke, points in chunks(drawing):
                if at > seconds:
                    break
                if stroke == len(strokes):
                    strokes.append([[], []])
                for x, y, _ in points:
                    strokes[stroke][0].append(x)
                    strokes[stroke][1].append(y)
                times.append(at)
                bitmaps.append(ink.to_bitmap(strokes))
            probs = clf.probabilities(np.stack(bitmaps))
            out.append({"word": clf.categories.index(word), "times": np.array(times),
                        "top": probs.argmax(1), "p": probs.max(1)})
    return out


def measure(runs: list[dict], deck: list[int], threshold: float) -> dict:
    deck_set = set(deck)
    recognized, seconds, false_share, worst = 0, [], [], 0
    for r in runs:
        passing = r["p"] >= threshold
        hit = np.flatnonzero(passing & (r["top"] == r["word"]))
        if len(hit):
            recognized += 1
            seconds.append(float(r["times"][hit[0]]))
        wrong = {int(w) for w in r["top"][passing] if w != r["word"] and int(w) in deck_set}
        false_share.append(len(wrong) / (len(deck) - 1))
        worst += bool(wrong)
    n = len(runs)
    return {"threshold": threshold, "drawings": n,
            "recognition_rate": round(recognized / n, 4),
            "false_recognition_rate": round(float(np.mean(false_share)), 5),
            "worst_case_false_rate": round(worst / n, 4),
            "seconds_median": round(float(np.median(seconds)), 2) if seconds else None,
            "seconds_p90": round(float(np.percentile(seconds, 90)), 2) if seconds else None}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "quickdraw" / "raw")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"no raw Quick, Draw! drawings at {args.data}", file=sys.stderr)
        return 1
    clf = DoodleClassifier.load(args.model, mirror_up_to=None)  # as one player meets it: the mirror view too
    words = load_deck(clf.categories, metrics_path(args.model))
    deck = [clf.categories.index(w) for w in words]
    result = {"model": str(args.model), "deck_words": len(words)}
    for split in ("val", "test"):
        runs = traces(clf, load_drawings(args.data, words, split, per_word=1000), SECONDS)
        result[split] = [measure(runs, deck, t) for t in THRESHOLDS]
    ok = [m for m in result["val"] if m["false_recognition_rate"] <= CHOICE_FALSE]
    chosen = max(ok, key=lambda m: m["recognition_rate"])["threshold"] if ok else max(THRESHOLDS)
    result["chosen_threshold"] = chosen
    test = next(m for m in result["test"] if m["threshold"] == chosen)
    result["target"] = (f"false recognition <= {TARGET_FALSE:.0%} on test at {chosen}: "
                        + ("PASS" if test["false_recognition_rate"] <= TARGET_FALSE else "FAIL"))
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"model {args.model}, deck of {len(words)} words")
    for split in ("val", "test"):
        print(f"\n{split}: threshold  recognized  false (random prompt)  worst case  s median  s p90  (n)")
        for m in result[split]:
            if round(m["threshold"] / SHOWN, 6) % 1 and m["threshold"] != chosen:
                continue
            print(f"{'':>7}{m['threshold']:>9.2f}  {m['recognition_rate']:>10.1%}  {m['false_recognition_rate']:>21.2%}"
                  f"  {m['worst_case_false_rate']:>10.1%}  {m['seconds_median']!s:>8}  {m['seconds_p90']!s:>5}"
                  f"  ({m['drawings']})")
    print(f"\nchosen on val: {chosen}; {result['target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
