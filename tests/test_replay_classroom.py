"""The replay tool's classroom mode (game/replay/classroom.py, `python -m game.replay
--classroom`): its plan and its mosaic figures, and a whole run of real held-out drawings
through a live server with the shipped model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from game.app import create_app
from game.replay.__main__ import main
from game.replay.classroom import Host, Student, mosaic_figures, plan_rooms, replay_classroom
from live_server import serve

RAW = Path(__file__).resolve().parents[1].parent / "shared" / "quickdraw" / "raw"


def test_each_room_deals_distinct_words_and_its_students_distinct_drawings():
    drawings = {w: [[[[i], [i], [i]]] for i in range(3)] for w in ("cat", "dog", "cup", "sun")}
    plans = plan_rooms(drawings, rooms=2, players=3, rounds=3, seed=1)
    assert len(plans) == 2
    for deck, students in plans:
        assert len(set(deck)) == 3 and len(students) == 3
        for index, word in enumerate(deck):
            mine = [s[index] for s in students]
            assert all(d in drawings[word] for d in mine)
            assert len({json.dumps(d) for d in mine}) == 3


def test_mosaic_rate_and_lag_come_from_the_projectors_updates():
    host = object.__new__(Host)  # no connection: only the figures
    host.mosaics, host.updates, host._counts = [], {}, {}
    student = object.__new__(Student)
    student.id, student.late_ink, student.refused_seqs = "p1", 0, set()
    # Ink at 0.0 s (stroke 0: 3 points), 0.1 s (stroke 0: 5), 1.0 s (stroke 1: 2).
    student.ink = {0: [(1, 0, 3, 10.0), (2, 0, 5, 10.1), (3, 1, 2, 11.0)]}
    host.updates = {(0, "p1"): [(10.2, {0: 5}), (11.2, {0: 5, 1: 2})]}
    figures = mosaic_figures([host], [[student]], interval=0.25)
    # Drawing time: [10.0, 10.35] and [11.0, 11.25] = 0.6 s; 2 updates.
    assert figures["mosaic_hz_min"] == figures["mosaic_hz_median"] == pytest.approx(2 / 0.6, abs=0.01)
    assert figures["mosaic_lag_ms_p50"] == pytest.approx(200.0, abs=0.5)
    assert figures["mosaic_lag_ms_max"] == pytest.approx(200.0, abs=0.5)
    assert figures["mosaic_missing_ink"] == 0
    # A last message the projector never showed is missing, unless the server refused it (by its seq).
    student.ink[0].append((4, 1, 4, 11.3))
    assert mosaic_figures([host], [[student]], interval=0.25)["mosaic_missing_ink"] == 1
    student.refused_seqs.add(4)
    assert mosaic_figures([host], [[student]], interval=0.25)["mosaic_missing_ink"] == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with the shipped model on a free port, with a short prompt and break."""
    taught = tmp_path_factory.mktemp("taught") / "taught_words.json"
    yield from serve(create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSROOM_TAUGHT_PATH": str(taught),
                                 "CLASSROOM_ROOM": {"starts_in": 0.5, "break_seconds": 1.0}}))


def test_a_classroom_of_real_drawings_through_the_server(server, capsys):
    if not RAW.is_dir():
        pytest.skip(f"Quick, Draw! raw drawings not found at {RAW}: this run needs Google's files there")
    code = main(["--classroom", "--url", server, "--data", str(RAW), "--players", "2", "--rooms", "1",
                 "--rounds", "2", "--seconds", "5", "--per-word", "3", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == 0, result["error_samples"]
    assert code == 0
    assert result["players_joined"] == 2
    assert result["rounds_played"] == result["rounds_planned"] == 4 and result["rounds_dropped"] == 0
    assert result["guesses"] > 0 and 0 < result["guess_latency_ms_p50"] <= result["guess_latency_ms_p95"]
    assert result["mosaic_events"] > 0 and result["mosaic_hz_min"] > 0
    assert 0 < result["mosaic_lag_ms_p50"] <= result["mosaic_lag_ms_p95"]
    assert result["recognition_rate"] is not None


def test_a_class_teaching_the_ai_beside_a_class_playing(server):
    """The load benchmark's teach scenario: a room teaches a word (a full 20 s teach round of
    real drawings) while another plays; the word is learned and timed, nothing is refused."""
    if not RAW.is_dir():
        pytest.skip(f"Quick, Draw! raw drawings not found at {RAW}: this run needs Google's files there")
    result = replay_classroom(server, RAW, players=3, rooms=1, rounds=1, seconds=5, per_word=3, lessons=1)
    assert result["errors"] == 0, result["error_samples"]
    assert result["rounds_played"] == 3 and result["lessons_learned"] == 1
    assert 0 < result["learning_ms_p50"] < 30_000
