"""The one ink pipeline: a drawing (Google's list of strokes) to the model's input.

Training (`training/`) and serving (`game/model/classifier.py`) both call `to_bitmap`,
so the model sees in the game exactly what it saw in training.

A *drawing* is Google's list of strokes, each ``[xs, ys]`` or ``[xs, ys, ts]``,
in any coordinate scale (raw screen pixels or 0-255).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SIDE = 28  # Google's numpy_bitmap is 28 x 28, white ink on black
MAX_POINTS = 20_000  # a 20-second doodle has a few hundred; more is abuse
MAX_STROKES = 1_000
EPSILON = 2.0  # Google's Ramer-Douglas-Peucker tolerance, in 0-255 units

# Rendering constants fitted to Google's numpy_bitmap rows (benchmarks/ink_fidelity.py):
# mean cosine 0.995 over the 500 paired rows.
PAD = 24.0
LINE_WIDTH = 16.0
SUPERSAMPLE = 8


def validate(drawing) -> list[np.ndarray]:
    """Check a drawing and return its strokes as float arrays of shape (2 or 3, n).

    Raises ValueError with a clear message for anything that is not a drawing.
    """
    if not isinstance(drawing, (list, tuple)):
        raise ValueError(f"a drawing must be a list of strokes, got {type(drawing).__name__}")
    if len(drawing) == 0:
        raise ValueError("the drawing has no strokes")
    if len(drawing) > MAX_STROKES:
        raise ValueError(f"the drawing has {len(drawing)} strokes; the limit is {MAX_STROKES}")
    strokes, total = [], 0
    for i, stroke in enumerate(drawing):
        if not isinstance(stroke, (list, tuple, np.ndarray)) or len(stroke) not in (2, 3):
            raise ValueError(f"stroke {i} must be [xs, ys] or [xs, ys, ts]")
        lengths = set()
        for axis in stroke:
            if not isinstance(axis, (list, tuple, np.ndarray)):
                raise ValueError(f"stroke {i}: each of xs, ys, ts must be a list of numbers")
            lengths.add(len(axis))
        if len(lengths) != 1:
            raise ValueError(f"stroke {i}: xs, ys (and ts) have different lengths {sorted(lengths)}")
        n = lengths.pop()
        if n == 0:
            raise ValueError(f"stroke {i} has no points")
        total += n
        if total > MAX_POINTS:
            raise ValueError(f"the drawing has more than {MAX_POINTS} points")
        try:
            arr = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"stroke {i}: coordinates must be numbers") from None
        if arr.ndim != 2:
            raise ValueError(f"stroke {i}: coordinates must be finite numbers (no NaN or infinity)")
        strokes.append(arr)
    # Values are checked a drawing at a time (a stroke at a time cost more than the checks),
    # and the first bad stroke named.
    xy = np.concatenate([a[:2] for a in strokes], axis=1)
    if not (np.isfinite(xy).all() and all(np.isfinite(a[2]).all() for a in strokes if len(a) == 3)):
        i = next(i for i, a in enumerate(strokes) if not np.isfinite(a).all())
        raise ValueError(f"stroke {i}: coordinates must be finite numbers (no NaN or infinity)")
    if np.abs(xy).max() > 1e7:
        i = next(i for i, a in enumerate(strokes) if np.abs(a[:2]).max() > 1e7)
        raise ValueError(f"stroke {i}: coordinates are out of range")
    return strokes


def _cumsum_each(values: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """np.cumsum of each run of `values` (runs `lens` long, laid end to end), with the very
    numbers np.cumsum gives run by run: runs of about the same length share a zero-padded
    matrix summed along its rows (the padding at most doubles the work)."""
    first = np.cumsum(lens) - lens
    out = np.empty(len(values))
    width = 1 << np.ceil(np.log2(lens)).astype(np.int64)
    for w in np.unique(width):
        runs = np.flatnonzero(width == w)
        cols = np.arange(w)
        inside = cols < lens[runs, None]
        where = (first[runs, None] + cols)[inside]
        padded = np.zeros((len(runs), w))
        padded[inside] = values[where]
        out[where] = np.cumsum(padded, axis=1)[inside]
    return out


def _resample(pts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample polylines at 1-unit arc-length spacing, keeping both ends. The strokes
    are `pts` (n, 2) laid end to end, `lens` points each; so is the result. Also returns
    which of its points RDP could keep (`_rdp_candidates`).

    All strokes (of a whole batch of drawings) go through numpy at once, with the
    very numbers np.interp gives stroke by stroke: sample k of a stroke lies on its
    last segment starting at or before arc length k, found by counting the stroke's
    points whose arc length rounded up is at most k."""
    first = np.cumsum(lens) - lens
    owner = np.repeat(np.arange(len(lens)), lens)
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    dx, dy = np.diff(x), np.diff(y)
    seg = np.zeros(len(pts))  # the length of the segment ending at each point; 0 at a stroke's first
    seg[1:] = np.hypot(dx, dy)
    seg[first] = 0.0
    cum = _cumsum_each(seg, lens)  # arc length from each stroke's start
    total = cum[first + lens - 1]
    moving = (lens > 1) & (total > 0)  # the others stay a single point
    n = np.where(moving, np.ceil(total), 0).astype(np.int64)  # samples at 0, 1, ... below the total
    with_end = moving & (total - (n - 1) > 1e-9)  # then the end itself, unless a sample lies on it

    up = np.ceil(cum).astype(np.int64)
    counted = up < n[owner]
    sample0 = np.cumsum(n) - n
    running = np.cumsum(np.bincount(sample0[owner[counted]] + up[counted], minlength=n.sum()))
    before = np.bincount(owner[counted], minlength=len(lens))
    j = np.repeat(first - np.cumsum(before) + before, n) + running - 1
    k = np.arange(n.sum()) - np.repeat(sample0, n)
    # np.interp's arithmetic, its slopes taken once a segment (a segment between two
    # strokes, or of zero length, gets a slope that no sample uses)
    with np.errstate(divide="ignore", invalid="ignore"):
        span = np.diff(cum)
        slope_x, slope_y = dx / span, dy / span
    along = k - cum[j]

    m = n + with_end + ~moving
    start = np.cumsum(m) - m
    out = np.empty((m.sum(), 2))
    at = np.repeat(start, n) + k
    out[at, 0] = slope_x[j] * along + x[j]
    out[at, 1] = slope_y[j] * along + y[j]
    out[start[with_end] + n[with_end]] = pts[(first + lens - 1)[with_end]]
    out[start[~moving]] = pts[first[~moving]]
    # The first and last sample on each input segment, and the end and lone points.
    candidate = np.ones(len(out), dtype=bool)
    same_segment = np.zeros(len(j) + 1, dtype=bool)
    same_segment[1:-1] = (j[1:] == j[:-1]) & (k[1:] > 0)
    candidate[at] = ~(same_segment[:-1] & same_segment[1:])
    return out, m, candidate


def _rdp_candidates(pts: np.ndarray, lens: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The resampled strokes cut to the points that RDP can keep, so that its passes go
    over 5 times fewer points. Samples on one straight input segment form a run, and a
    point's distance to any chord (|cross product|, or the distance to a closed chord's
    end) is convex along a run: the farthest point of a run is one of its ends, and the
    first such (RDP's argmax) the earlier end. The result is RDP's on every point but
    where a run is parallel to the chord (integer screen coordinates make that common):
    there rounding picks among equally far points, and this picks the first, as exact
    arithmetic does (2 % of raw drawings get a point moved along its run)."""
    return pts[candidate], np.add.reduceat(candidate, np.cumsum(lens) - lens)


def _rdp(pts: np.ndarray, lens: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """Ramer-Douglas-Peucker on polylines laid end to end (as `_resample`), all at once.

    Each pass splits every open interval of every stroke at its farthest point, if
    farther than `epsilon`: the recursion's result (its intervals are independent),
    with numpy working on whole batches of strokes instead of one interval a call.
    Compares |cross product| with epsilon * |chord| (no division); a closed chord
    measures the distance to its end point."""
    x, y = np.ascontiguousarray(pts[:, 0]), np.ascontiguousarray(pts[:, 1])
    first = np.cumsum(lens) - lens
    keep = np.zeros(len(pts), dtype=bool)
    keep[first] = keep[first + lens - 1] = True
    lo, hi = first, first + lens - 1
    while True:
        wide = hi - lo >= 2
        lo, hi = lo[wide], hi[wide]
        if len(lo) == 0:
            break
        inner = hi - lo - 1
        starts = np.cumsum(inner) - inner
        owner = np.repeat(np.arange(len(lo)), inner)
        idx = np.arange(inner.sum()) - starts[owner] + lo[owner] + 1
        ax, ay = x[lo], y[lo]
        dx, dy = x[hi] - ax, y[hi] - ay
        sx, sy = x[idx] - ax[owner], y[idx] - ay[owner]
        norm = np.hypot(dx, dy)
        dist = np.abs(dx[owner] * sy - dy[owner] * sx)
        closed = norm == 0
        if closed.any():
            c = closed[owner]
            dist[c] = sx[c] * sx[c] + sy[c] * sy[c]
        limit = np.where(closed, epsilon * epsilon, epsilon * norm)
        best = np.maximum.reduceat(dist, starts)
        hit = np.flatnonzero(dist == best[owner])
        hit = hit[np.diff(owner[hit], prepend=-1) != 0]  # the first farthest point, as argmax
        split = best > limit
        mid = idx[hit][split]
        keep[mid] = True
        lo, hi = np.concatenate([lo[split], mid]), np.concatenate([mid, hi[split]])
    return pts[keep], np.add.reduceat(keep, first)


def normalize(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Align (n, 2) point arrays to the top-left and scale the longer side to 0-255."""
    lens = [len(p) for p in strokes]
    return np.split(_normalize(np.concatenate(strokes), np.array([sum(lens)])), np.cumsum(lens)[:-1])


def _normalize(pts: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`normalize` for drawings laid end to end, `points` points each, all at once."""
    first = np.cumsum(points) - points
    lo = np.minimum.reduceat(pts, first)
    span = (np.maximum.reduceat(pts, first) - lo).max(axis=1)
    scale = 255.0 / np.where(span > 0, span, 255.0)  # a single dot stays where it is
    return (pts - np.repeat(lo, points, axis=0)) * np.repeat(scale, points)[:, None]


def _simplify_many(drawings, epsilon: float) -> list[list[np.ndarray]]:
    """Google's simplification of many drawings, as integer (n, 2) arrays a stroke.
    Validation goes a drawing at a time; normalisation, resampling and RDP take every
    stroke of every drawing in one go (most of the time a drawing costs)."""
    if not drawings:
        return []
    per_drawing = [validate(d) for d in drawings]
    strokes = [s[:2].T for d in per_drawing for s in d]
    lens = np.array([len(p) for p in strokes])
    points = np.add.reduceat(lens, np.cumsum([0] + [len(d) for d in per_drawing[:-1]]))
    pts = _normalize(np.concatenate(strokes), points)
    pts, lens = _rdp_candidates(*_resample(pts, lens))
    pts, lens = _rdp(pts, lens, epsilon)
    flat = np.split(np.rint(pts).astype(np.int64), np.cumsum(lens)[:-1])
    ends = np.cumsum([len(d) for d in per_drawing])
    return [flat[end - len(d):end] for d, end in zip(per_drawing, ends)]


def _google(strokes: list[np.ndarray]) -> list[list[list[int]]]:
    return [[p[:, 0].tolist(), p[:, 1].tolist()] for p in strokes]


def simplify(drawing, epsilon: float = EPSILON) -> list[list[list[int]]]:
    """Google's simplification: align top-left, scale the longer side to 0-255,
    resample at 1-unit spacing, Ramer-Douglas-Peucker with `epsilon`, round to ints.

    Returns Google's simplified format: a list of ``[xs, ys]`` integer strokes.
    """
    return _google(_simplify_many([drawing], epsilon)[0])


def render(simplified, line_width: float = LINE_WIDTH, pad: float = PAD) -> np.ndarray:
    """Render a 0-255 drawing (Google's simplified format) to a 28 x 28 uint8
    bitmap in Google's numpy_bitmap style: the bounding box centred on the
    256-unit canvas, `pad` units of margin, round-capped lines `line_width`
    units wide, drawn SUPERSAMPLE times larger and box-averaged down."""
    return _render([np.asarray(s, dtype=np.float64)[:2].T for s in simplified], line_width, pad)


def _render(strokes: list[np.ndarray], line_width: float = LINE_WIDTH, pad: float = PAD) -> np.ndarray:
    pts = np.concatenate(strokes)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    offset = (255.0 - (hi - lo)) / 2.0 - lo + pad
    n = SIDE * SUPERSAMPLE
    scale = n / (256.0 + 2 * pad)
    width = line_width * scale
    r = width / 2.0
    img = Image.new("L", (n, n), 0)
    draw = ImageDraw.Draw(img)
    xy = (pts + offset) * scale
    start = 0
    for stroke in strokes:
        if len(stroke) > 1:
            draw.line(xy[start:start + len(stroke)].ravel().tolist(), fill=255, width=round(width))
        start += len(stroke)
    # PIL lines have flat caps and mitre-less joints; a disc at every point makes Google's
    # round caps and joins (2.5x faster than PIL's joint="curve", which does the same in
    # Python per vertex). All ink is the same white, so the order of drawing is free.
    # The discs go straight to the drawing core, as ImageDraw.ellipse(fill=) does after
    # parsing its colour each call: the parsing was a fifth of the renderer's time.
    disc, white = draw.draw.draw_ellipse, draw.draw.draw_ink(255)
    for box in np.concatenate([xy - r, xy + r], axis=1).tolist():
        disc(box, white, 1)
    return np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX))


def _render_many(many: list[list[np.ndarray]]) -> np.ndarray:
    """`_simplify_many`'s drawings -> uint8 (N, 28, 28)."""
    return np.stack([_render(s) for s in many]) if many else np.zeros((0, SIDE, SIDE), dtype=np.uint8)


def to_bitmaps(drawings) -> np.ndarray:
    """Drawings (raw screen pixels or 0-255) -> the model's inputs, uint8 (N, 28, 28)."""
    return _render_many(_simplify_many(drawings, EPSILON))


def simplify_and_render(drawings) -> tuple[list[list[list[list[int]]]], np.ndarray]:
    """Both ends of the pipeline at once: Google's simplified drawings (as `simplify`) and
    the model's inputs rendered from them (as `to_bitmaps`), for a caller that keeps both
    (the dataset stores the very simplification the model judged)."""
    many = _simplify_many(drawings, EPSILON)
    return [_google(s) for s in many], _render_many(many)


def to_bitmap(drawing) -> np.ndarray:
    """Any drawing (raw screen pixels or 0-255) -> the model's 28 x 28 uint8 input."""
    return to_bitmaps([drawing])[0]


def raw_prefix(drawing, fraction: float):
    """The first `fraction` of a drawing's strokes (at least one): what the model
    sees part way through, as in the game."""
    n = max(1, math.ceil(len(drawing) * fraction))
    return drawing[:n]
