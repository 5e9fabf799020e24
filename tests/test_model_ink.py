"""game.model.ink, the one ink pipeline: ground truth from Google's own files, and bad input."""
import json
import math

import numpy as np
import pytest

from game.model import ink
from game.dataset.quickdraw import iter_ndjson, read_numpy_bitmap


def cosine(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def test_render_matches_googles_numpy_bitmap(quickdraw_dir):
    """Line i of simplified/<word>.ndjson is row i of numpy_bitmap/<word>.npy for i < 25."""
    index = json.loads((quickdraw_dir / "numpy_bitmap" / "index.json").read_text())
    sims = []
    for word in index:
        rows = read_numpy_bitmap(quickdraw_dir / "numpy_bitmap" / f"{word}.npy")
        for i, rec in enumerate(iter_ndjson(quickdraw_dir / "simplified" / f"{word}.ndjson", limit=25)):
            sims.append(cosine(ink.render(rec["drawing"]), rows[i]))
    assert len(sims) == 500
    assert np.mean(sims) >= 0.97
    assert np.min(sims) >= 0.9


def test_simplify_matches_google_on_shared_key_ids(quickdraw_dir):
    same, total, sims = 0, 0, []
    for word in ("cat", "bicycle", "The Eiffel Tower", "zigzag", "snowflake"):
        google = {r["key_id"]: r["drawing"] for r in iter_ndjson(quickdraw_dir / "simplified" / f"{word}.ndjson")}
        for rec in iter_ndjson(quickdraw_dir / "raw" / f"{word}.ndjson"):
            if rec["key_id"] not in google:
                continue
            ours, theirs = ink.simplify(rec["drawing"]), google[rec["key_id"]]
            total += 1
            same += ours == theirs
            sims.append(cosine(ink.render(ours), ink.render(theirs)))
    assert total >= 50
    assert same / total >= 0.5  # point for point identical to Google's output
    assert np.mean(sims) >= 0.99


def test_simplify_is_googles_format():
    drawing = [[[10.5, 110.5, 210.5], [40.0, 40.0, 90.0], [0, 50, 100]], [[60.0], [60.0], [200]]]
    out = ink.simplify(drawing)
    xs = [x for s in out for x in s[0]]
    ys = [y for s in out for y in s[1]]
    assert min(xs) == 0 and min(ys) == 0 and max(xs) == 255  # top-left, longer side 0-255
    assert all(isinstance(v, int) for v in xs + ys)
    assert out[1] == [[63], [26]]  # a single tap stays a point: (60 - 10.5) * 255 / 200


def test_a_batch_gives_each_drawing_what_it_gets_alone(quickdraw_dir):
    """to_bitmaps resamples and simplifies every stroke of a batch at once: no stroke may
    leak into a neighbour, and odd strokes (one point, a repeated point, a closed loop)
    must come out as they do alone."""
    drawings = [rec["drawing"] for word in ("cat", "zigzag", "snowflake")
                for rec in iter_ndjson(quickdraw_dir / "raw" / f"{word}.ndjson", limit=12)]
    drawings += [[[[5], [5]]], [[[3, 3, 3], [4, 4, 4]], [[0, 9], [0, 9]]],
                 [[[0, 100, 100, 0, 0], [0, 0, 100, 100, 0]]], [[[0, 30, 0], [0, 30, 0]]]]
    batch = ink.to_bitmaps(drawings)
    assert batch.shape == (len(drawings), 28, 28) and batch.dtype == np.uint8
    for drawing, bitmap in zip(drawings, batch):
        assert np.array_equal(bitmap, ink.to_bitmap(drawing))
        assert np.array_equal(bitmap, ink.render(ink.simplify(drawing)))
    assert ink.to_bitmaps([]).shape == (0, 28, 28)
    with pytest.raises(ValueError, match="stroke 0"):
        ink.to_bitmaps([drawings[0], [[[1, 2], [3]]]])
    # Both ends at once (contributions keep the simplification the model judged): the same.
    simplified, bitmaps = ink.simplify_and_render(drawings)
    assert simplified == [ink.simplify(d) for d in drawings]
    assert np.array_equal(bitmaps, batch)
    assert ink.simplify_and_render([])[0] == [] and ink.simplify_and_render([])[1].shape == (0, 28, 28)


def test_rdp_over_the_candidates_is_rdp_over_every_sample():
    """RDP runs only over each straight run's end samples (ink._rdp_candidates). With
    coordinates in general position (no run exactly parallel to a chord, where rounding
    alone decides) that is the same result as over every resampled point."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        strokes = [np.cumsum(rng.normal(0, 20, (rng.integers(1, 40), 2)), axis=0) + rng.uniform(0, 500, 2)
                   for _ in range(rng.integers(1, 6))]
        pts = ink.normalize(strokes)
        lens = np.array([len(p) for p in pts])
        resampled, counts, candidate = ink._resample(np.concatenate(pts), lens)
        assert candidate.sum() < len(candidate) or len(candidate) < 10
        every = ink._rdp(resampled, counts, ink.EPSILON)
        fewer = ink._rdp(*ink._rdp_candidates(resampled, counts, candidate), ink.EPSILON)
        assert np.array_equal(every[0], fewer[0]) and np.array_equal(every[1], fewer[1])


def test_rdp_keeps_corners_and_drops_collinear_points():
    line = [[list(range(0, 101)), [0] * 101]]
    assert ink.simplify(line) == [[[0, 255], [0, 0]]]
    corner = [[[0, 50, 100], [0, 100, 0]]]
    assert len(ink.simplify(corner)[0][0]) == 3


def test_render_is_scale_and_shift_invariant_through_to_bitmap():
    base = [[[0, 40, 80, 80], [0, 0, 40, 80]], [[10, 70], [70, 10]]]
    moved = [[[x * 3.7 + 500 for x in s[0]], [y * 3.7 + 80 for y in s[1]]] for s in base]
    assert cosine(ink.to_bitmap(base), ink.to_bitmap(moved)) > 0.99
    bitmap = ink.to_bitmap(base)
    assert bitmap.shape == (28, 28) and bitmap.dtype == np.uint8 and bitmap.max() == 255


def test_raw_prefix():
    d = [[[0], [0]], [[1], [1]], [[2], [2]], [[3], [3]]]
    assert ink.raw_prefix(d, 0.25) == d[:1]
    assert ink.raw_prefix(d, 0.5) == d[:2]
    assert ink.raw_prefix(d, 0.01) == d[:1]
    assert ink.raw_prefix(d, 1.0) == d


@pytest.mark.parametrize("bad, message", [
    ([], "no strokes"),
    ("not a drawing", "list of strokes"),
    ([[[1, 2], [3]]], "different lengths"),
    ([[[1, 2]]], r"\[xs, ys\]"),
    ([[[], []]], "no points"),
    ([[[1, math.nan], [1, 2]]], "finite"),
    ([[[1, math.inf], [1, 2]]], "finite"),
    ([[["a", "b"], [1, 2]]], "numbers"),
    ([[[1, [2]], [1, 2]]], "numbers"),
    ([[None, [1]]], "list of numbers"),
    ([[list(range(ink.MAX_POINTS + 1)), list(range(ink.MAX_POINTS + 1))]], "more than"),
    ([[[0], [0]]] * (ink.MAX_STROKES + 1), "strokes; the limit"),
    ([[[1e300, 0], [0, 1]]], "out of range"),
])
def test_bad_drawings_raise_clear_value_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        ink.to_bitmap(bad)
