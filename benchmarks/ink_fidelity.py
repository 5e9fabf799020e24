"""How faithfully `game/model/ink.py` reproduces Google's own Quick, Draw! pipeline.

Three measurements, all on the shared Quick, Draw! data (../shared/quickdraw, read
with `game.dataset.quickdraw`):

1. Renderer vs Google's numpy_bitmap (TARGET: mean cosine >= 0.97).
   For each of the 20 words in numpy_bitmap/index.json, line i of
   simplified/<word>.ndjson is Google's drawing whose 28x28 bitmap is row i of
   numpy_bitmap/<word>.npy, for i < 25 (500 pairs). Each simplified drawing is
   rendered with `ink.render` and compared with Google's row by cosine similarity:
   mean, min and 5th percentile over all pairs, and the mean per word.

2. Simplifier vs Google's simplified drawings (no hard target; diagnostics).
   For every key_id found in both raw/<word>.ndjson and simplified/<word>.ndjson
   (7,934 pairs over all 345 words), `ink.simplify` runs on the raw drawing and is
   compared with Google's simplified drawing: the share with identical structure
   (same number of strokes and of points in each stroke), the mean absolute
   coordinate difference where the structure is identical, the ratio of point
   counts (ours / Google's; median), and the cosine between `ink.render` of ours
   and `ink.render` of Google's (mean, min).

3. Speed: `ink.render` and `ink.simplify` per drawing (median ms), timed on the
   calls made for 1 and 2.

    python benchmarks/ink_fidelity.py                    # everything (~30 s on an idle core)
    python benchmarks/ink_fidelity.py --limit-words 3    # a quick run
    python benchmarks/ink_fidelity.py --json             # ... plus a final one-line JSON summary

The data folder is read, never written. Exit status 1 if the data is missing; the
targets are reported as PASS/FAIL but do not change the exit status.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(REPO))

from game.model import ink  # noqa: E402
from game.dataset.quickdraw import iter_ndjson, read_numpy_bitmap  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "quickdraw"
GOOGLE_PAIRED_ROWS = 25  # lines 0-24 of simplified/<word>.ndjson are Google's lines 0-24
RENDER_TARGET = 0.97
EXPECTED_SIMPLIFIER_PAIRS = 7934  # over all words, per the data README


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def finite(obj):
    """NaN -> None, recursively, so the JSON line is strict JSON."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1e3


def check_data(data: Path) -> None:
    missing = [p for p in ("raw", "simplified", "numpy_bitmap/index.json") if not (data / p).exists()]
    if missing:
        print(f"error: Quick, Draw! data not found in {data} (missing: {', '.join(missing)}).\n"
              f"Point --data at the shared quickdraw folder (see its README.md).", file=sys.stderr)
        sys.exit(1)


# --- 1. renderer vs Google's numpy_bitmap ----------------------------------------------------------

def bench_renderer(data: Path, rows: int, limit_words: int | None, render_ms: list[float]) -> dict:
    index = json.loads((data / "numpy_bitmap" / "index.json").read_text())
    words = list(index)[:limit_words] if limit_words else list(index)
    scores, per_word, worst = [], {}, []
    for word in words:
        n = min(rows, int(index[word].get("google_rows", rows)))
        bitmaps = read_numpy_bitmap(data / "numpy_bitmap" / f"{word}.npy")
        word_scores = []
        for i, rec in enumerate(iter_ndjson(data / "simplified" / f"{word}.ndjson", limit=n)):
            ours, ms = timed(ink.render, rec["drawing"])
            render_ms.append(ms)
            c = cosine(ours, bitmaps[i])
            word_scores.append(c)
            worst.append((c, word, i))
        per_word[word] = float(np.mean(word_scores)) if word_scores else float("nan")
        scores += word_scores
    s = np.asarray(scores)
    worst.sort()
    return {
        "pairs": len(s),
        "words": len(words),
        "cosine_mean": float(s.mean()) if len(s) else float("nan"),
        "cosine_min": float(s.min()) if len(s) else float("nan"),
        "cosine_p5": float(np.percentile(s, 5)) if len(s) else float("nan"),
        "per_word_mean": per_word,
        "worst": [{"word": w, "row": i, "cosine": c} for c, w, i in worst[:5]],
        "target_mean": RENDER_TARGET,
        "pass": bool(len(s) and s.mean() >= RENDER_TARGET),
    }


# --- 2. simplifier vs Google's simplified drawings -------------------------------------------------

def _points(drawing) -> int:
    return sum(len(stroke[0]) for stroke in drawing)


def bench_simplifier(data: Path, limit_words: int | None, render_ms: list[float],
                     simplify_ms: list[float]) -> dict:
    raw_words = {p.stem for p in (data / "raw").glob("*.ndjson")}
    words = sorted(raw_words & {p.stem for p in (data / "simplified").glob("*.ndjson")})
    if limit_words:
        words = words[:limit_words]
    pairs = identical = exact = same_strokes = errors = 0
    abs_diff_sum, abs_diff_count = 0.0, 0
    ratios, cosines, worst = [], [], []
    for word in words:
        google = {}
        for rec in iter_ndjson(data / "simplified" / f"{word}.ndjson"):
            google.setdefault(str(rec["key_id"]), rec["drawing"])
        seen = set()
        for rec in iter_ndjson(data / "raw" / f"{word}.ndjson"):
            key = str(rec["key_id"])
            if key not in google or key in seen:
                continue
            seen.add(key)
            pairs += 1
            theirs = google[key]
            try:
                ours, ms = timed(ink.simplify, rec["drawing"])
                simplify_ms.append(ms)
                ours_bitmap, ms = timed(ink.render, ours)
                render_ms.append(ms)
                theirs_bitmap = ink.render(theirs)
            except ValueError as e:  # e.g. an empty drawing
                errors += 1
                print(f"  ! {word} key_id {key}: {e}", file=sys.stderr)
                continue
            c = cosine(ours_bitmap, theirs_bitmap)
            cosines.append(c)
            worst.append((c, word, key))
            ratios.append(_points(ours) / max(1, _points(theirs)))
            if len(ours) == len(theirs):
                same_strokes += 1
                if all(len(a[0]) == len(b[0]) for a, b in zip(ours, theirs)):
                    identical += 1
                    diff = np.concatenate([np.abs(np.asarray(a[:2], float) - np.asarray(b[:2], float)).ravel()
                                           for a, b in zip(ours, theirs)])
                    abs_diff_sum += float(diff.sum())
                    abs_diff_count += diff.size
                    exact += int(not diff.any())
    r, c = np.asarray(ratios), np.asarray(cosines)
    worst.sort()
    ok = len(c)
    return {
        "pairs": pairs,
        "words": len(words),
        "errors": errors,
        "same_stroke_count_share": same_strokes / ok if ok else float("nan"),
        "identical_structure_share": identical / ok if ok else float("nan"),
        "identical_coordinates_share": exact / ok if ok else float("nan"),
        "mean_abs_coord_diff_where_identical": abs_diff_sum / abs_diff_count if abs_diff_count else float("nan"),
        "point_ratio_median": float(np.median(r)) if ok else float("nan"),
        "point_ratio_p5": float(np.percentile(r, 5)) if ok else float("nan"),
        "point_ratio_p95": float(np.percentile(r, 95)) if ok else float("nan"),
        "render_cosine_mean": float(c.mean()) if ok else float("nan"),
        "render_cosine_min": float(c.min()) if ok else float("nan"),
        "render_cosine_p5": float(np.percentile(c, 5)) if ok else float("nan"),
        "worst": [{"word": w, "key_id": k, "cosine": v} for v, w, k in worst[:5]],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help=f"the shared Quick, Draw! folder (default: {DEFAULT_DATA})")
    ap.add_argument("--limit-words", type=int, default=None, metavar="N",
                    help="only the first N words of each comparison (a quick run)")
    ap.add_argument("--rows", type=int, default=GOOGLE_PAIRED_ROWS, choices=range(1, GOOGLE_PAIRED_ROWS + 1),
                    metavar="1-25", help="paired rows per numpy_bitmap word (default: 25, all that are paired)")
    ap.add_argument("--skip-simplifier", action="store_true", help="only the renderer comparison")
    ap.add_argument("--json", action="store_true", help="end with a one-line JSON summary")
    args = ap.parse_args(argv)
    if args.limit_words is not None and args.limit_words < 1:
        ap.error("--limit-words must be at least 1")
    data = args.data.expanduser().resolve()
    check_data(data)

    render_ms, simplify_ms = [], []
    t0 = time.perf_counter()

    rend = bench_renderer(data, args.rows, args.limit_words, render_ms)
    print(f"Renderer vs Google's numpy_bitmap ({rend['pairs']} pairs, {rend['words']} words)")
    print(f"  cosine  mean {rend['cosine_mean']:.4f}   min {rend['cosine_min']:.4f}   "
          f"p5 {rend['cosine_p5']:.4f}")
    print(f"  target  mean >= {RENDER_TARGET}: {'PASS' if rend['pass'] else 'FAIL'}")
    print("  per word (mean cosine):")
    for word, m in sorted(rend["per_word_mean"].items(), key=lambda kv: kv[1]):
        print(f"    {word:<14} {m:.4f}")
    print("  worst pairs: " + ", ".join(f"{d['word']} row {d['row']} ({d['cosine']:.3f})" for d in rend["worst"]))

    simp = None
    if not args.skip_simplifier:
        simp = bench_simplifier(data, args.limit_words, render_ms, simplify_ms)
        full = "" if args.limit_words else f" (README: {EXPECTED_SIMPLIFIER_PAIRS})"
        print(f"\nSimplifier vs Google's simplified ({simp['pairs']} key_id pairs{full}, "
              f"{simp['words']} words, {simp['errors']} errors)")
        print(f"  same number of strokes          {simp['same_stroke_count_share']:.1%}")
        print(f"  identical structure             {simp['identical_structure_share']:.1%}"
              f"   (same strokes and points per stroke)")
        print(f"  identical coordinates           {simp['identical_coordinates_share']:.1%}")
        print(f"  mean |coord diff| (identical)   {simp['mean_abs_coord_diff_where_identical']:.3f} units of 0-255")
        print(f"  point count ratio ours/Google   median {simp['point_ratio_median']:.3f}   "
              f"p5 {simp['point_ratio_p5']:.3f}   p95 {simp['point_ratio_p95']:.3f}")
        print(f"  render cosine ours vs Google    mean {simp['render_cosine_mean']:.4f}   "
              f"min {simp['render_cosine_min']:.4f}   p5 {simp['render_cosine_p5']:.4f}")
        print("  worst: " + ", ".join(f"{d['word']} {d['key_id']} ({d['cosine']:.3f})" for d in simp["worst"]))

    speed = {
        "render_ms_median": float(np.median(render_ms)) if render_ms else float("nan"),
        "render_calls": len(render_ms),
        "simplify_ms_median": float(np.median(simplify_ms)) if simplify_ms else float("nan"),
        "simplify_calls": len(simplify_ms),
    }
    print("\nSpeed (median per drawing, this machine)")
    print(f"  ink.render    {speed['render_ms_median']:.3f} ms  ({speed['render_calls']} calls)")
    if simplify_ms:
        print(f"  ink.simplify  {speed['simplify_ms_median']:.3f} ms  ({speed['simplify_calls']} calls, raw drawings)")
    elapsed = time.perf_counter() - t0
    print(f"\n({elapsed:.1f} s)")

    if args.json:
        print(json.dumps(finite({"benchmark": "ink_fidelity", "data": str(data), "limit_words": args.limit_words,
                          "renderer": rend, "simplifier": simp, "speed": speed,
                          "elapsed_s": round(elapsed, 2)}), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
