"""benchmarks/peer.py: our classifier and DoodleNet side by side, on a handful of held-out drawings."""
import importlib.util
import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("peer_benchmark", ROOT / "benchmarks" / "peer.py")
peer_benchmark = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(peer_benchmark)

WORDS = ["cat", "lion", "apple", "moon", "house", "snowman"]  # numpy_bitmap and png_bitmap words among them


@pytest.fixture(scope="module")
def peer_dir() -> Path:
    folder = peer_benchmark.DEFAULT_PEER
    if not (folder / "doodlenet.py").is_file() or not (folder / "doodlenet.npz").is_file():
        pytest.skip(f"DoodleNet not found at {folder}: the side-by-side needs the peer there")
    return folder


def test_missing_data_or_peer_exits_with_a_reason(tmp_path, capsys):
    assert peer_benchmark.main(["--data", str(tmp_path)]) == 2
    assert "Quick, Draw! data not found" in capsys.readouterr().err


def test_missing_peer_exits_with_a_reason(quickdraw_dir, tmp_path, capsys):
    assert peer_benchmark.main(["--data", str(quickdraw_dir), "--peer", str(tmp_path), "--per-word", "1"]) == 2
    assert "DoodleNet not found" in capsys.readouterr().err


def test_figures_on_a_handful_of_drawings(quickdraw_dir, peer_dir):
    from game.dataset.quickdraw import iter_ndjson
    from game.model.classifier import DoodleClassifier
    from game.replay.client import load_drawings
    from training import data

    clf = DoodleClassifier.load()
    peer = peer_benchmark.Peer(peer_dir, clf.categories)
    result = peer_benchmark.run(clf, peer, quickdraw_dir, WORDS, per_word_n=5, step=0.5,
                                deck_words=["cat", "apple", "house"], log=lambda *a: None)

    def fractions(row):
        return [row[m][k] for m in ("ours", "doodlenet") for k in ("top1", "top3")]

    _, splits = data.load(quickdraw_dir, WORDS, log=lambda *a: None)
    test = peer_benchmark.per_word(splits["test"], 5)
    strokes = result["strokes"]
    assert strokes["drawings"] == len(test.drawings) > 0
    assert strokes["words"] == len(set(test.drawing_labels)) <= len(WORDS)
    assert 0 <= result["strokes_not_google_lines_0_24"]["drawings"] <= strokes["drawings"]
    bitmaps = result["numpy_bitmap"]["drawings"] + result["png_bitmap"]["drawings"]
    assert bitmaps == len(test.bitmaps) and result["numpy_bitmap"]["drawings"] and result["png_bitmap"]["drawings"]
    for key in ("strokes", "numpy_bitmap", "png_bitmap"):
        assert all(0 <= x <= 1 for x in fractions(result[key])), result[key]

    raw = load_drawings(quickdraw_dir / "raw", WORDS, "test", 5)
    everything, deck = result["recognition"], result["recognition_deck"]
    assert everything["drawings"] == sum(len(v) for v in raw.values())
    assert everything["words"] == len(raw) and everything["prompt_words"] == 345
    assert deck["drawings"] == sum(len(raw.get(w, [])) for w in ("cat", "apple", "house")) <= everything["drawings"]
    assert deck["prompt_words"] == 3
    for figures in (everything, deck):
        for model in ("ours", "doodlenet"):
            r = figures[model]
            assert r["threshold"] in peer_benchmark.THRESHOLDS
            for m in (r["test"], r["test_at_game_threshold"]):
                assert m["drawings"] == figures["drawings"]
                assert 0 <= m["recognition_rate"] <= 1 and 0 <= m["false_recognition_rate"] <= 1
    # Recognition apart on the drawings DoodleNet's author could not have trained on, each model
    # at the threshold chosen for all words.
    first_keys = {r["key_id"] for w in WORDS if w != "zigzag"
                  for r in islice(iter_ndjson(quickdraw_dir / "simplified" / f"{w}.ndjson"), 25)}
    first_raw = {json.dumps(r["drawing"]) for w in WORDS for r in iter_ndjson(quickdraw_dir / "raw" / f"{w}.ndjson")
                 if r["key_id"] in first_keys}
    fresh = [d for drawings in raw.values() for d in drawings if json.dumps(d) not in first_raw]
    apart = result["recognition_not_google_lines_0_24"]
    assert 0 < apart["drawings"] == len(fresh) < everything["drawings"]
    for model in ("ours", "doodlenet"):
        assert apart[model]["threshold"] == everything[model]["threshold"]
        assert apart[model]["test"]["drawings"] == len(fresh) and 0 <= apart[model]["test"]["recognition_rate"] <= 1
    shown = peer_benchmark.table(result, "ours")
    assert "time" in shown and "  not lines 0-24: recognized within 20 s" in shown


def test_ink_bitmaps_are_doodlenets_input_as_they_are():
    rows = np.arange(2 * 784).reshape(2, 28, 28) % 256
    assert np.array_equal(peer_benchmark.doodlenet_input(rows), rows.reshape(2, 784).astype(np.uint8))
