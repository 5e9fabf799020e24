"""The peer, side by side: our classifier and DoodleNet on the same held-out drawings.

DoodleNet (../shared/peers/doodlenet, README there) is the 345-word Quick, Draw! model that
ml5.js serves: what a hobbyist would pick instead of ours. This script measures both, in one
run, on the test side of the training split (`training.data`: by key_id and row index, so
never a drawing our model trained on), and prints:

- top-1 / top-3 on all 345 words' stroke drawings, rendered once by `game/model/ink.py` (the raw
  drawing where there is one, as `training/evaluate.py` does) and given to both models; and
  apart, the stroke drawings that are not Google's lines 0-24 of a word (those lines are rows
  0-24 of Google's numpy_bitmap files, which DoodleNet's author trained on);
- top-1 / top-3 on the 34 big words' bitmap rows: Google's numpy_bitmap rows (the game's
  style), and apart the png_bitmap rows (another renderer's style; not a target);
- recognized within 20 s: each held-out raw drawing replayed with its own timing, message by
  message as `python -m game.replay` sends it (`benchmarks/recognition.py`'s `traces`; with
  `--step S`, only the drawing as it stands every S seconds), recognized when the prompted word
  is the top guess with probability >= the threshold; false recognition is the same rule with
  the prompt swapped for every other word (`recognition.measure`). Each model gets its own
  threshold: the one with the highest recognition whose false recognition is <= 1 % on the
  validation split's raw drawings (never the test ones), reported with the figures. The same
  at those thresholds on the raw drawings that are not Google's lines 0-24; for the game's deck
  (the words our model deals, chosen on validation recall); and both models at the game's own
  RECOGNITION_THRESHOLD.

Our model is the one the server serves ($DOODLE_MODEL, else data/models/), loaded as the
server loads it (`DoodleClassifier.load`), with the mirror view in every call, as a player
meets it. DoodleNet is read from `--peer` and used only to measure: never trained on,
never copied into this repository. `game/model/ink.py`'s bitmaps are
already DoodleNet's input (see `doodlenet_input`).

    python benchmarks/peer.py                              # everything (11-15 min on 2 cores)
    python benchmarks/peer.py --per-word 1 --step 0.5      # a quick run (~2 min)
    python benchmarks/peer.py --json                       # one JSON object instead of the table

Exit status 2 when the Quick, Draw! data or the peer is absent.

Data: Google's Quick, Draw! dataset (github.com/googlecreativelab/quickdraw-dataset), "made
available by Google, Inc. under the Creative Commons Attribution 4.0 International license",
read from ../shared/quickdraw.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT, HERE):  # run as a plain script from anywhere; recognition.py is a sibling
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from game.model.classifier import DEFAULT_MODEL, DoodleClassifier  # noqa: E402
from game.words import load_deck, metrics_path  # noqa: E402
from game.protocol import RECOGNITION_THRESHOLD  # noqa: E402
from game.replay.client import ReplayError, load_drawings  # noqa: E402
from recognition import SECONDS, measure, traces  # noqa: E402
from training import data  # noqa: E402
from training.evaluate import _bitmaps_of, metrics  # noqa: E402
from game.dataset.quickdraw import iter_ndjson  # noqa: E402

DEFAULT_PEER = ROOT.parent / "shared" / "peers" / "doodlenet"
MAX_FALSE = 0.01  # each model's threshold: best recognition with false recognition <= 1 % (val)
THRESHOLDS = [round(t, 3) for t in np.arange(0.05, 0.951, 0.01)] + [0.97, 0.98, 0.99, 0.995, 0.999]  # recognition.py's grid
GAME_THRESHOLD = RECOGNITION_THRESHOLD
BATCH = 1024  # bitmaps a forward pass (DoodleNet's numpy convolutions are 4x faster a bitmap at 1024 than 64)


class Missing(Exception):
    """The Quick, Draw! data or the peer is not where the script looks."""


# --- the two models ---------------------------------------------------------------


def doodlenet_input(bitmaps) -> np.ndarray:
    """game/model/ink.py's bitmaps as DoodleNet's input. Both are Google's numpy_bitmap style: 28x28
    uint8, white ink (255) on black (0), and doodlenet.py divides by 255 itself, as our
    classifier does: nothing to invert or rescale, only the shape it documents, (N, 784)."""
    return np.asarray(bitmaps, dtype=np.uint8).reshape(-1, 28 * 28)


class Peer:
    """DoodleNet read from its folder, answering like DoodleClassifier.probabilities in the
    word order of `categories` (ours), so that both models' guesses index the same words."""

    def __init__(self, folder: Path, categories: list[str]):
        folder = Path(folder)
        script = folder / "doodlenet.py"
        if not (script.is_file() and (folder / "doodlenet.npz").is_file()):
            raise Missing(f"DoodleNet not found at {folder} (expected doodlenet.py and doodlenet.npz); "
                          "pass --peer DIR")
        spec = importlib.util.spec_from_file_location("doodlenet", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.net = module.DoodleNet(str(folder / "doodlenet.npz"))
        unknown = sorted(set(categories) - set(self.net.words))
        if unknown:
            raise Missing(f"DoodleNet at {folder} lacks words of ours: {unknown[:5]}")
        self.categories = list(categories)
        self.columns = [self.net.words.index(w) for w in categories]

    def probabilities(self, bitmaps) -> np.ndarray:
        return self.net.probabilities(doodlenet_input(bitmaps), batch=BATCH)[:, self.columns]


class Timed:
    """A model whose `probabilities` calls are timed (seconds in `.seconds`), in batches of BATCH."""

    def __init__(self, model):
        self.model, self.categories, self.seconds = model, model.categories, 0.0

    def probabilities(self, bitmaps) -> np.ndarray:
        bitmaps = np.asarray(bitmaps)
        start = time.perf_counter()
        out = [self.model.probabilities(bitmaps[i:i + BATCH]) for i in range(0, len(bitmaps), BATCH)]
        self.seconds += time.perf_counter() - start
        return np.concatenate(out) if out else np.zeros((0, len(self.categories)), np.float32)


# --- the drawings -------------------------------------------------------------------


def per_word(split: data.Split, n: int | None) -> data.Split:
    """The first `n` stroke drawings of each word and the first `n` bitmap rows of each word and
    source of `split` (all of it when `n` is None)."""
    if n is None:
        return split
    out, seen = data.Split(), {}
    for drawing, label, raw in zip(split.drawings, split.drawing_labels, split.raw):
        if seen.setdefault(label, 0) < n:
            seen[label] += 1
            out.add_drawing(drawing, label, raw)
    for row, label, source in zip(split.bitmaps, split.bitmap_labels, split.bitmap_sources):
        if seen.setdefault((label, source), 0) < n:
            seen[(label, source)] += 1
            out.bitmaps.append(row)
            out.bitmap_labels.append(label)
            out.bitmap_sources.append(source)
    return out


def google_first_lines(data_dir: Path, words: list[str]) -> set[str]:
    """Google's lines 0-24 of each word's simplified file (rows 0-24 of its numpy_bitmap file,
    which DoodleNet's author trained on), as JSON, to tell them among the split's drawings: the
    simplified drawings and the raw ones of the same key_ids."""
    seen = set()
    for w in words:
        path = data_dir / "simplified" / f"{w}.ndjson"
        if w == "zigzag" or not path.exists():  # zigzag's first lines are not Google's (training.data)
            continue
        keys = set()
        for i, record in enumerate(iter_ndjson(path)):
            if i >= data.GOOGLE_LINES:
                break
            seen.add(json.dumps(record["drawing"]))
            keys.add(record["key_id"])
        raw = data_dir / "raw" / f"{w}.ndjson"
        if raw.exists():
            seen.update(json.dumps(r["drawing"]) for r in iter_ndjson(raw) if r["key_id"] in keys)
    return seen


class _Recorder:
    """Stands in for a classifier in `recognition.traces`: keeps the bitmaps of each drawing's
    moments, so that they are rendered once and both models judge them in large batches."""

    def __init__(self, categories: list[str]):
        self.categories, self.bitmaps = categories, []

    def probabilities(self, bitmaps) -> np.ndarray:
        self.bitmaps.append(np.asarray(bitmaps))
        return np.zeros((len(bitmaps), len(self.categories)), np.float32)


def moments(categories: list[str], drawings: dict[str, list], seconds: float, step: float) -> tuple[list, list]:
    """Each raw drawing's moments within `seconds`, as `recognition.traces` replays it: the drawing
    after each ink message, or with `step` the drawing as it stands every `step` seconds (the last
    message before each multiple of `step`, timed at it). Returns ({word, times}, bitmaps) a drawing."""
    recorder = _Recorder(categories)
    runs = traces(recorder, drawings, seconds)
    out = []
    for run, bitmaps in zip(runs, recorder.bitmaps):
        times = run["times"]
        if step > 0:
            grid = np.ceil(times / step - 1e-9) * step  # when a sampler every `step` seconds sees it
            keep = np.append(grid[:-1] < times[1:], True)  # the last message before each grid time
            times, bitmaps = grid[keep], bitmaps[keep]
        out.append(({"word": run["word"], "times": times}, bitmaps))
    return [r for r, _ in out], [b for _, b in out]


def judged(model, runs: list[dict], bitmaps: list[np.ndarray]) -> list[dict]:
    """`runs` with `model`'s top guess and its probability at every moment (recognition.traces's form)."""
    if not runs:
        return []
    probs = model.probabilities(np.concatenate(bitmaps))
    ends = np.cumsum([len(b) for b in bitmaps])[:-1]
    return [{**run, "top": p.argmax(1), "p": p.max(1)} for run, p in zip(runs, np.split(probs, ends))]


# --- the figures --------------------------------------------------------------------


def recognition(val: list[dict], test: list[dict], deck: list[int], max_false: float) -> dict:
    """A model's threshold chosen on `val` (the highest recognition with false recognition <=
    `max_false`; the highest threshold if none) and its figures on `test` there and at the game's."""
    curve = [measure(val, deck, t) for t in THRESHOLDS] if val else []
    ok = [m for m in curve if m["false_recognition_rate"] <= max_false]
    chosen = max(ok, key=lambda m: (m["recognition_rate"], m["threshold"]))["threshold"] if ok else THRESHOLDS[-1]
    return {"threshold": chosen, "val": next((m for m in curve if m["threshold"] == chosen), None),
            "test": measure(test, deck, chosen) if test else None,
            "test_at_game_threshold": measure(test, deck, GAME_THRESHOLD) if test else None,
            "val_curve": curve, "test_curve": [measure(test, deck, t) for t in THRESHOLDS] if test else []}


def run(clf, peer, data_dir: Path = data.DEFAULT_DATA, words: list[str] | None = None, per_word_n: int | None = None,
        seconds: float = SECONDS, step: float = 0.0, max_false: float = MAX_FALSE, deck_words: list[str] | None = None,
        log=lambda *a: print(*a, file=sys.stderr)) -> dict:
    """Every figure for `clf` (ours) and `peer` on the held-out drawings of `words` (default all),
    `per_word_n` drawings a word on each side (default all). `deck_words`: the game's deck."""
    data_dir = Path(data_dir)
    if not (data_dir / "simplified").is_dir() or not (data_dir / "raw").is_dir():
        raise Missing(f"Quick, Draw! data not found at {data_dir} (expected simplified/ and raw/); pass --data DIR")
    started = time.perf_counter()
    cats = list(clf.categories)
    words_used = words or cats
    models = {"ours": Timed(clf), "doodlenet": Timed(peer)}
    _, splits = data.load(data_dir, words, log=log)
    test = per_word(splits["test"], per_word_n)
    seconds_taken = {"data": time.perf_counter() - started}

    def figures(name: str, bitmaps: np.ndarray, y: np.ndarray) -> dict:
        row = {"drawings": len(y), "words": len(np.unique(y))}
        for key, model in models.items():
            m = metrics(model.probabilities(bitmaps), y) if len(y) else {}
            row[key] = {"top1": m.get("top1"), "top3": m.get("top3")}
        log(f"{name}: {row}")
        return row

    at = time.perf_counter()
    strokes = _bitmaps_of(test)
    seconds_taken["render_strokes"] = time.perf_counter() - at
    y = np.array(test.drawing_labels, dtype=np.int64)
    first = google_first_lines(data_dir, words_used)
    unseen = np.array([json.dumps(d) not in first for d in test.drawings], dtype=bool)
    result: dict = {"strokes": figures("strokes", strokes, y),
                    "strokes_not_google_lines_0_24": figures("strokes, not lines 0-24", strokes[unseen], y[unseen])}
    rows, yb, sources = np.array(test.bitmaps).reshape(-1, 784), np.array(test.bitmap_labels, np.int64), \
        np.array(test.bitmap_sources)
    for source in ("numpy_bitmap", "png_bitmap"):
        result[source] = figures(source, rows[sources == source], yb[sources == source])

    deck = [cats.index(w) for w in (deck_words or cats) if w in words_used]
    traced, unseen_runs = {}, []
    for side in ("val", "test"):
        at = time.perf_counter()
        try:
            drawings = load_drawings(data_dir / "raw", words_used, side, per_word_n or 10**9)
        except ReplayError:  # no raw drawing of these words on this side
            drawings = {}
        runs, bitmaps = moments(cats, drawings, seconds, step)
        if side == "test":  # in the order moments replays them
            unseen_runs = [json.dumps(d) not in first for items in drawings.values() for d in items]
        seconds_taken[f"render_{side}_moments"] = time.perf_counter() - at
        traced[side] = {key: judged(model, runs, bitmaps) for key, model in models.items()}
        log(f"{side}: {len(runs)} raw drawings, {sum(len(b) for b in bitmaps)} moments")
    every_word = list(range(len(cats)))
    for name, prompts in (("recognition", every_word), ("recognition_deck", deck)):
        kept = set(prompts)
        sides = {side: {key: [r for r in runs if r["word"] in kept] for key, runs in by_model.items()}
                 for side, by_model in traced.items()}
        result[name] = {key: recognition(sides["val"][key], sides["test"][key], prompts, max_false) for key in models}
        test_runs = sides["test"]["ours"]
        result[name].update({"drawings": len(test_runs), "words": len({r["word"] for r in test_runs}),
                             "val_drawings": len(sides["val"]["ours"]), "prompt_words": len(prompts)})
    # The same drawings but Google's lines 0-24, each model at the threshold chosen above.
    apart = {key: [r for r, fresh in zip(runs, unseen_runs) if fresh] for key, runs in traced["test"].items()}
    result["recognition_not_google_lines_0_24"] = {
        **{key: {"threshold": result["recognition"][key]["threshold"],
                 "test": measure(runs, every_word, result["recognition"][key]["threshold"]) if runs else None}
           for key, runs in apart.items()},
        "drawings": len(apart["ours"]), "words": len({r["word"] for r in apart["ours"]}),
        "prompt_words": len(every_word)}
    seconds_taken.update({f"{key}_forward": model.seconds for key, model in models.items()})
    seconds_taken["total"] = time.perf_counter() - started
    result["seconds"] = {k: round(v, 1) for k, v in seconds_taken.items()}
    result["settings"] = {"per_word": per_word_n, "step": step, "seconds": seconds, "max_false": max_false,
                          "game_threshold": GAME_THRESHOLD, "words": len(words_used)}
    return result


# --- the table ------------------------------------------------------------------------


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def table(result: dict, model: str) -> str:
    lines = [f"{'':<58}{'drawings':>9}{'words':>7}{'ours':>16}{'DoodleNet':>16}"]

    def row(name, n, words, ours, peer):
        lines.append(f"{name:<58}{n:>9}{words:>7}{ours:>16}{peer:>16}")

    for key, name in (("strokes", "stroke drawings, all words"),
                      ("strokes_not_google_lines_0_24", "  of them not Google's lines 0-24"),
                      ("numpy_bitmap", "big words' numpy_bitmap rows"),
                      ("png_bitmap", "big words' png_bitmap rows (not a target)")):
        r = result[key]
        for k in ("top1", "top3"):
            row(f"{name}: top-{k[-1]}", r["drawings"], r["words"], _pct(r["ours"][k]), _pct(r["doodlenet"][k]))
    for key, name in (("recognition", "all words"), ("recognition_not_google_lines_0_24", "  not lines 0-24"),
                      ("recognition_deck", "the game's deck")):
        r = result[key]
        ours, peer = r["ours"], r["doodlenet"]
        n, w = r["drawings"], r["words"]
        if not n:
            continue
        row(f"{name}: recognized within {result['settings']['seconds']:.0f} s (own threshold)", n, w,
            f"{_pct(ours['test']['recognition_rate'])} @{ours['threshold']}",
            f"{_pct(peer['test']['recognition_rate'])} @{peer['threshold']}")
        row(f"  false recognition ({r['prompt_words'] - 1} other prompts)", n, w,
            _pct(ours["test"]["false_recognition_rate"]), _pct(peer["test"]["false_recognition_rate"]))
        row("  seconds to recognize, median", n, w, str(ours["test"]["seconds_median"]),
            str(peer["test"]["seconds_median"]))
        if "test_at_game_threshold" not in ours:
            continue
        g = result["settings"]["game_threshold"]
        row(f"  at the game's threshold {g}: recognized / false", n, w,
            f"{_pct(ours['test_at_game_threshold']['recognition_rate'])} / "
            f"{_pct(ours['test_at_game_threshold']['false_recognition_rate'])}",
            f"{_pct(peer['test_at_game_threshold']['recognition_rate'])} / "
            f"{_pct(peer['test_at_game_threshold']['false_recognition_rate'])}")
    s, st = result["seconds"], result["settings"]
    moments = f"every {st['step']} s" if st["step"] else "every ink message (75 ms)"
    limit = f"; {st['per_word']} drawings a word a side" if st["per_word"] else ""
    rendering = s["render_strokes"] + s["render_val_moments"] + s["render_test_moments"]
    lines += ["",
              (f"ours: {model}; thresholds chosen on {result['recognition']['val_drawings']} validation raw drawings "
               f"(highest recognition with false <= {st['max_false']:.0%}); moments: {moments}{limit}"),
              ("DoodleNet trained on Google's first 50,000 numpy_bitmap rows a word: every numpy_bitmap row here, "
               "and Google's lines 0-24, may be among them."),
              (f"time: {s['total']:.0f} s (data {s['data']:.0f} s, rendering {rendering:.0f} s, "
               f"ours {s['ours_forward']:.0f} s, DoodleNet {s['doodlenet_forward']:.0f} s)")]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=Path(os.environ.get("DOODLE_MODEL") or DEFAULT_MODEL),
                   help="our model (default: $DOODLE_MODEL, else the shipped one, as the server)")
    p.add_argument("--data", type=Path, default=data.DEFAULT_DATA, help="Google's Quick, Draw! files")
    p.add_argument("--peer", type=Path, default=DEFAULT_PEER, help="DoodleNet's folder (default %(default)s)")
    p.add_argument("--per-word", type=int, default=None,
                   help="held-out drawings a word on each side, and bitmap rows a word and source (default: all)")
    p.add_argument("--step", type=float, default=0.0,
                   help="judge the drawing every STEP seconds (default 0: after every ink message, as the game)")
    p.add_argument("--seconds", type=float, default=SECONDS, help="the round's seconds (default %(default)s)")
    p.add_argument("--max-false", type=float, default=MAX_FALSE,
                   help="false recognition allowed when choosing a threshold on val (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args(argv)
    if (args.per_word is not None and args.per_word < 1) or args.step < 0:
        p.error("--per-word must be at least 1 and --step not negative")
    try:
        for folder, what in ((args.data / "simplified", "Quick, Draw! data"), (args.data / "raw", "raw drawings")):
            if not folder.is_dir():
                raise Missing(f"{what} not found at {folder}; pass --data DIR (Google's Quick, Draw! files)")
        clf = DoodleClassifier.load(args.model, mirror_up_to=None)  # as one player meets it: the mirror view too
        peer = Peer(args.peer, clf.categories)
        deck = load_deck(clf.categories, metrics_path(args.model))
        result = run(clf, peer, args.data, None, args.per_word, args.seconds, args.step, args.max_false, deck)
    except Missing as e:
        print(f"peer benchmark: {e}", file=sys.stderr)
        return 2
    result["model"] = str(args.model)
    if args.json:
        print(json.dumps(result))
    else:
        print(table(result, str(args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
