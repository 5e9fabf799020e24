"""The replay tool (game/replay/solo.py): its parts, and whole runs against a live server."""
from __future__ import annotations

import json
import random

import pytest

from game.app import create_app
from game.replay.__main__ import main
from game.replay.client import CHUNK_MS, ReplayError, chunks, load_drawings
from game.replay.solo import plan_games, replay
from live_server import serve

WORDS = ["cat", "dog", "cup", "sun", "car", "fish", "tree", "moon"]


class BandClassifier:
    """Says WORDS[x // 1000] (p 0.9) for a drawing whose first x is x: the replay data
    below draws word i at x in [1000 i, 1000 i + 100], so the verdict is known."""

    categories = WORDS

    def classify_batch(self, drawings, k=5):
        out = []
        for drawing in drawings:
            word = WORDS[int(drawing[0][0][0]) // 1000]
            out.append([(word, 0.9)] + [(w, 0.1 / (len(WORDS) - 1)) for w in WORDS if w != word][: k - 1])
        return out


def raw_drawing(band: int, rng: random.Random) -> list:
    """Two strokes over about 1.2 s, in Google's raw format [[x...], [y...], [t...]]."""
    strokes, t = [], 5000  # raw times need not start at 0
    for _ in range(2):
        n = rng.randint(5, 12)
        xs = [1000 * band + rng.uniform(0, 100) for _ in range(n)]
        ys = [rng.uniform(0, 100) for _ in range(n)]
        ts = [t + 40 * i for i in range(n)]
        strokes.append([xs, ys, ts])
        t = ts[-1] + 300
    return strokes


@pytest.fixture
def raw_dir(tmp_path):
    rng = random.Random(1)
    for band, word in enumerate(WORDS):
        with open(tmp_path / f"{word}.ndjson", "w") as f:
            for i in range(3):
                f.write(json.dumps({"word": word, "key_id": f"{band}{i:04d}", "countrycode": "ZZ",
                                    "timestamp": "2017-01-01 00:00:00.0 UTC", "recognized": True,
                                    "drawing": raw_drawing(band, rng)}) + "\n")
            # A simplified drawing (no times) cannot be replayed: it is skipped.
            f.write(json.dumps({"word": word, "key_id": "9", "drawing": [[[1, 2], [3, 4]]]}) + "\n")
    return tmp_path


@pytest.fixture
def server():
    yield from serve(create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": BandClassifier(),
                                 "DECK": WORDS, "ROUND_STARTS_IN": 0.3}))


def test_chunks_keep_every_point_in_order_within_75_ms_windows():
    drawing = raw_drawing(0, random.Random(2))
    messages = chunks(drawing)
    assert [i for _, i, _ in messages] == sorted(i for _, i, _ in messages)
    for stroke_index, stroke in enumerate(drawing):
        sent = [p for _, i, pts in messages if i == stroke_index for p in pts]
        assert [p[0] for p in sent] == pytest.approx(stroke[0], abs=0.01)
        assert [p[2] for p in sent] == [t - 5000 for t in stroke[2]]  # ms since the first point
    for at, _, points in messages:
        assert len({p[2] // CHUNK_MS for p in points}) == 1
        assert at == points[-1][2] / 1000  # sent once its last point is drawn


def test_plans_never_repeat_a_prompt_and_swap_some(raw_dir):
    drawings = load_drawings(raw_dir, WORDS, "all", 10)
    assert all(len(d) == 3 for d in drawings.values())  # the simplified line is skipped
    plans = plan_games(drawings, players=20, games=1, rounds=6, swap=0.5, seed=3)
    rounds = [r for player in plans for game in player for r in game]
    for game in (g for player in plans for g in player):
        assert len({r["prompt"] for r in game}) == 6
    assert all((r["prompt"] != r["word"]) == r["swapped"] for r in rounds)
    assert 0.3 < sum(r["swapped"] for r in rounds) / len(rounds) < 0.7
    assert all(r["drawing"] in drawings[r["word"]] for r in rounds)


def test_a_run_measures_both_sides_of_recognition(server, raw_dir):
    result = replay(server, raw_dir, players=3, rounds=2, seconds=5, swap=0.5, split="all", seed=4)
    assert result["rounds_played"] == result["rounds_planned"] == 6 and result["rounds_dropped"] == 0
    assert result["errors"] == 0, result["error_samples"]
    assert result["genuine_rounds"] + result["swapped_rounds"] == 6
    # The band classifier is always right: every genuine round is recognized, no swapped one.
    if result["genuine_rounds"]:
        assert result["recognition_rate"] == 1.0
        assert 0 < result["seconds_to_recognize_median"] < 1.5
    if result["swapped_rounds"]:
        assert result["false_recognition_rate"] == 0.0
    assert result["guesses"] > 0 and 0 < result["guess_latency_ms_p50"] <= result["guess_latency_ms_p95"]


def test_the_cli_prints_json_and_explains_setup_problems(server, raw_dir, capsys, tmp_path):
    assert main(["--url", server, "--data", str(raw_dir), "--rounds", "1", "--seconds", "5",
                 "--swap", "0", "--split", "all", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["recognition_rate"] == 1.0 and result["false_recognition_rate"] is None

    assert main(["--url", server, "--data", str(tmp_path / "nope")]) == 2
    assert "no data folder" in capsys.readouterr().err
    assert main(["--url", "http://127.0.0.1:9", "--data", str(raw_dir)]) == 2
    assert "cannot reach the game server" in capsys.readouterr().err
    assert main(["--url", server, "--data", str(raw_dir), "--split", "test", "--words", "zzz"]) == 2
    assert "no test raw drawings" in capsys.readouterr().err


def test_too_few_words_is_a_clear_error(raw_dir):
    with pytest.raises(ReplayError, match="at least 7 words"):
        plan_games(load_drawings(raw_dir, WORDS[:3], "all", 5), 1, 1, 6, 0.5, 0)
