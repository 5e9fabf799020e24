"""The one ink pipeline: a drawing (Google's list of strokes) to the model's input.

Training (`training/`) and serving (`game/classifier.py`) both call `to_bitmap`,
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
        if arr.ndim != 2 or not np.isfinite(arr).all():
            raise ValueError(f"stroke {i}: coordinates must be finite numbers (no NaN or infinity)")
        if np.abs(arr[:2]).max() > 1e7:
            raise ValueError(f"stroke {i}: coordinates are out of range")
        strokes.append(arr)
    return strokes


def _rdp(points: np.ndarray, epsilon: float) -> np.ndarray:
    """Ramer-Douglas-Peucker on an (n, 2) polyline; iterative to bound the stack.
    Compares |cross product| with epsilon * |chord| (no division, no 2-D slicing):
    this loop is most of the time a drawing takes to simplify."""
    n = len(points)
    if n < 3:
        return points
    xs, ys = points[:, 0].tolist(), points[:, 1].tolist()
    px, py = np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1])
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        lo, hi = stack.pop()
        if hi - lo < 2:
            continue
        ax, ay = xs[lo], ys[lo]
        dx, dy = xs[hi] - ax, ys[hi] - ay
        sx, sy = px[lo + 1:hi] - ax, py[lo + 1:hi] - ay
        norm = math.hypot(dx, dy)
        if norm == 0:  # a closed loop: distance to the point itself
            dist, limit = sx * sx + sy * sy, epsilon * epsilon
        else:
            dist, limit = np.abs(dx * sy - dy * sx), epsilon * norm
        j = int(dist.argmax())
        if dist[j] > limit:
            mid = lo + 1 + j
            keep[mid] = True
            stack.append((lo, mid))
            stack.append((mid, hi))
    return points[keep]


def _resample(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Resample an (n, 2) polyline at equal arc-length spacing, keeping both ends."""
    if len(points) < 2:
        return points
    seg = np.hypot(*np.diff(points, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    if total == 0:
        return points[:1]
    at = np.arange(0.0, total, spacing)
    if total - at[-1] > 1e-9:
        at = np.append(at, total)
    return np.stack([np.interp(at, cum, points[:, 0]), np.interp(at, cum, points[:, 1])], axis=1)


def normalize(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Align (n, 2) point arrays to the top-left and scale the longer side to 0-255."""
    allpts = np.concatenate(strokes)
    lo = allpts.min(axis=0)
    span = float((allpts.max(axis=0) - lo).max())
    scale = 255.0 / span if span > 0 else 1.0
    return [(pts - lo) * scale for pts in strokes]


def simplify(drawing, epsilon: float = 2.0) -> list[list[list[int]]]:
    """Google's simplification: align top-left, scale the longer side to 0-255,
    resample at 1-unit spacing, Ramer-Douglas-Peucker with `epsilon`, round to ints.

    Returns Google's simplified format: a list of ``[xs, ys]`` integer strokes.
    """
    out = []
    for pts in normalize([s[:2].T for s in validate(drawing)]):
        pts = np.rint(_rdp(_resample(pts), epsilon)).astype(np.int64)
        out.append([pts[:, 0].tolist(), pts[:, 1].tolist()])
    return out


def render(simplified, line_width: float = LINE_WIDTH, pad: float = PAD) -> np.ndarray:
    """Render a 0-255 drawing (Google's simplified format) to a 28 x 28 uint8
    bitmap in Google's numpy_bitmap style: the bounding box centred on the
    256-unit canvas, `pad` units of margin, round-capped lines `line_width`
    units wide, drawn SUPERSAMPLE times larger and box-averaged down."""
    strokes = [np.asarray(s, dtype=np.float64)[:2].T for s in simplified]
    pts = np.concatenate(strokes)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    offset = (255.0 - (hi - lo)) / 2.0 - lo + pad
    n = SIDE * SUPERSAMPLE
    scale = n / (256.0 + 2 * pad)
    width = line_width * scale
    r = width / 2.0
    img = Image.new("L", (n, n), 0)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        xy = [tuple(p) for p in ((stroke + offset) * scale).tolist()]
        if len(xy) > 1:
            draw.line(xy, fill=255, width=round(width))
        # PIL lines have flat caps and mitre-less joints; a disc at every point makes
        # Google's round caps and joins (2.5x faster than PIL's joint="curve", which
        # does the same in Python per vertex).
        for x, y in xy:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX))


def to_bitmap(drawing) -> np.ndarray:
    """Any drawing (raw screen pixels or 0-255) -> the model's 28 x 28 uint8 input."""
    return render(simplify(drawing))


def raw_prefix(drawing, fraction: float):
    """The first `fraction` of a drawing's strokes (at least one): what the model
    sees part way through, as in the game."""
    n = max(1, math.ceil(len(drawing) * fraction))
    return drawing[:n]
