"""The solo game over Socket.IO (game/solo/transport.py, game/model/process.py), through
Flask-SocketIO's test client, with a fake clock and, mostly, a fake classifier."""
from __future__ import annotations

import json
import threading
import time

import pytest

from game.app import create_app
from game.protocol import RECOGNITION_THRESHOLD as T
from game.extensions import socketio
from game.model.batcher import Batcher
from game.model.service import ModelService
from game.solo.transport import Solo
from game.app import close_app
from fakes import WORDS, Clock, says
from sockets import RESERVED, UNKNOWN, ink, last, quiet, receive, start

@pytest.fixture
def app(clock, fake):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": fake, "DECK": WORDS[:12],
                      "GAME_CLOCK": clock, "TICK_INTERVAL": 0.005, "BATCH_WAIT": 0.002})
    yield app
    close_app(app)


@pytest.fixture
def client(connect):
    return connect()


# --- new_game ----------------------------------------------------------------------


def test_new_game_ack_then_the_first_round(client):
    ack = client.emit("new_game", callback=True)  # no payload: every setting is optional
    assert ack["ok"] is True
    assert len(ack["game_id"]) >= 8 and len(ack["token"]) >= 16
    assert ack["settings"] == {"rounds": 6, "seconds": 20, "words": None}
    events = receive(client, "round")
    assert events == [("round", {"game_id": ack["game_id"], "index": 0, "total": 6,
                                 "word": events[0][1]["word"], "seconds": 20, "prompt_in": 0.0, "starts_in": 2.0})]
    assert events[0][1]["word"] in WORDS[:12]  # dealt from the deck
    assert quiet(client) == []


def test_new_game_settings_and_words(client):
    ack = client.emit("new_game", {"rounds": 2, "seconds": 7.5, "words": ["anvil", "zigzag", "cat"]},
                      callback=True)
    assert ack["settings"] == {"rounds": 2, "seconds": 7.5, "words": ["anvil", "zigzag", "cat"]}
    first = last(client, "round")
    assert (first["word"], first["total"], first["seconds"]) == ("anvil", 2, 7.5)
    ack = client.emit("new_game", {"rounds": None, "seconds": None, "words": None}, callback=True)
    assert ack["settings"] == {"rounds": 6, "seconds": 20, "words": None}  # null: the default


@pytest.mark.parametrize("args", [
    ([],), ("cat",), (5,), ({"rounds": 0},), ({"rounds": "6"},), ({"seconds": 600},),
    ({"seconds": float("nan")},), ({"words": "cat"},), ({"words": ["unicorn"], "rounds": 1},),
    ({"words": ["cat", "dog"], "rounds": 3},), ({"words": ["cat"] * 100_000},), ({}, {}),
])
def test_new_game_refusals(client, args):
    ack = client.emit("new_game", *args, callback=True)
    assert ack["ok"] is False and ack["code"] == "bad_payload" and ack["error"]
    assert quiet(client) == []


# --- ink and guesses ---------------------------------------------------------------


def test_ink_gets_guesses_echoing_seq(client, clock, fake):
    ack, first = start(client, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    clock.advance(1.5)
    client.emit("ink", ink(gid, says("dog", 0.55, n=3), seq=41))
    guess = last(client, "guess")
    assert guess["game_id"] == gid and guess["round"] == 0 and guess["seq"] == 41
    assert guess["recognized"] is False and guess["elapsed"] == 1.5
    assert [g["word"] for g in guess["guesses"]][:2] == ["dog", "cat"] and len(guess["guesses"]) == 5
    assert guess["guesses"][0]["p"] == 0.55
    client.emit("ink", ink(gid, [[5, 5, 50]], stroke=1, seq=42))  # a second stroke
    assert last(client, "guess")["seq"] == 42
    assert fake.batches and all(n == 1 for n in fake.batches)


def test_recognition_ends_the_round(client, clock):
    ack, _ = start(client, clock, rounds=2, words=["cat", "dog"])
    gid = ack["game_id"]
    client.emit("ink", ink(gid, says("cat", T - 0.1)))  # the word, but below the threshold
    assert last(client, "guess")["recognized"] is False
    clock.advance(3)
    client.emit("ink", ink(gid, says("cat", T), stroke=1, seq=2))  # at the threshold
    events = receive(client, "round")
    assert [n for n, _ in events] == ["guess", "round_over", "round"]
    guess, over, nxt = (p for _, p in events)
    assert guess["recognized"] is True and guess["seq"] == 2
    assert over["recognized"] is True and over["seconds"] == 3.0 and over["word"] == "cat"
    assert over["drawing"][1] == [[WORDS.index("cat")], [T * 100], [0]]
    assert nxt["index"] == 1 and nxt["word"] == "dog"
    client.emit("ink", ink(gid, says("cat", 0.9), seq=3))  # round 0 is over
    assert last(client, "error") == {"event": "ink", "code": "round_over", "message": "round 0 is over", "seq": 3}


def test_next_ends_the_break_and_sends_the_round_again(client, clock):
    ack, _ = start(client, clock, rounds=2, seconds=10, words=["cat", "dog"])
    gid = ack["game_id"]
    client.emit("skip", {"game_id": gid, "round": 0})
    nxt = last(client, "round")
    assert (nxt["index"], nxt["prompt_in"], nxt["starts_in"]) == (1, 3.0, 5.0)  # the result's break first
    clock.advance(1)
    client.emit("next", {"game_id": gid, "round": 1})  # the player tapped "Next"
    again = last(client, "round")
    assert again == {**nxt, "prompt_in": 0.0, "starts_in": 2.0}
    client.emit("next", {"game_id": gid, "round": 1})  # twice (the break ran out meanwhile): nothing
    assert quiet(client) == []
    client.emit("next", {"game_id": gid, "round": 0})
    assert last(client, "error")["code"] == "round_over"
    client.emit("next", {"game_id": gid})
    assert last(client, "error")["code"] == "bad_payload"
    clock.advance(2)
    client.emit("ink", ink(gid, says("dog", 0.9), round_=1))
    assert last(client, "game_over")["results"][1]["recognized"] is True


def test_timeout_ends_the_round_from_the_ticker(client, clock):
    ack, _ = start(client, clock, rounds=1, seconds=5)
    clock.advance(4.9)
    assert quiet(client) == []
    clock.advance(0.1)
    events = receive(client, "game_over")
    assert [n for n, _ in events] == ["round_over", "game_over"]
    assert events[0][1]["recognized"] is False and events[0][1]["seconds"] is None


def test_skip_through_every_round_to_game_over(client, clock):
    ack = client.emit("new_game", {"rounds": 3}, callback=True)
    gid = ack["game_id"]
    words = []
    for i in range(3):
        words.append(last(client, "round")["word"])
        if i == 1:
            clock.advance(3 + 2)  # the break after round 0, then the prompt
            client.emit("ink", ink(gid, says("sun", 0.2), round_=1))
            receive(client, "guess")
        client.emit("skip", {"game_id": gid, "round": i})
    over = last(client, "game_over")
    assert len(set(words)) == 3
    assert [(r["index"], r["word"], r["skipped"], r["recognized"]) for r in over["results"]] == [
        (i, w, True, False) for i, w in enumerate(words)]
    assert over["results"][1]["drawing"] == [[[WORDS.index("sun")], [20.0], [0]]]
    assert over["results"][1]["guesses"][0] == {"word": "sun", "p": 0.2}
    client.emit("skip", {"game_id": gid, "round": 2})
    assert last(client, "error")["code"] == "round_over"


def test_undo_and_clear(client, clock, fake):
    ack, _ = start(client, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    client.emit("ink", ink(gid, says("dog", 0.3)))
    receive(client, "guess")
    client.emit("ink", ink(gid, says("cat", 0.3), stroke=1, seq=2))
    receive(client, "guess")
    client.emit("undo", {"game_id": gid, "round": 0})  # back to the dog: guessed again
    guess = last(client, "guess")
    assert guess["guesses"][0]["word"] == "dog" and guess["seq"] == 2
    client.emit("clear", {"game_id": gid, "round": 0})  # nothing left to guess at
    assert quiet(client) == []
    client.emit("ink", ink(gid, says("dog", 0.3), stroke=1))
    assert last(client, "error")["code"] == "bad_payload"  # after clear the next stroke is 0
    client.emit("skip", {"game_id": gid, "round": 0})
    assert last(client, "round_over")["drawing"] == []


def test_ink_during_the_prompt_is_refused(client):
    ack = client.emit("new_game", {"rounds": 1}, callback=True)
    receive(client, "round")
    client.emit("ink", ink(ack["game_id"], says("cat", 0.9)))
    assert last(client, "error")["code"] == "not_started"


# --- bad input ---------------------------------------------------------------------

GID = "<the game's id>"
GOOD = {"game_id": GID, "round": 0, "seq": 1, "stroke": 0, "points": [[1, 2, 3]]}


@pytest.mark.parametrize("event, payload, code", [
    ("ink", None, "bad_payload"),
    ("ink", [], "bad_payload"),
    ("ink", "ink", "bad_payload"),
    ("ink", 17, "bad_payload"),
    ("ink", {}, "bad_payload"),
    ("ink", {**GOOD, "game_id": 5}, "bad_payload"),
    ("ink", {**GOOD, "game_id": "x" * 65}, "bad_payload"),
    ("ink", {**GOOD, "round": "0"}, "bad_payload"),
    ("ink", {**GOOD, "round": -1}, "bad_payload"),
    ("ink", {**GOOD, "round": 0.0}, "bad_payload"),
    ("ink", {**GOOD, "round": True}, "bad_payload"),
    ("ink", {**GOOD, "seq": None}, "bad_payload"),
    ("ink", {**GOOD, "seq": 2 ** 60}, "bad_payload"),
    ("ink", {**GOOD, "stroke": [0]}, "bad_payload"),
    ("ink", {**GOOD, "stroke": 5}, "bad_payload"),
    ("ink", {**GOOD, "points": None}, "bad_payload"),
    ("ink", {**GOOD, "points": {"x": 1}}, "bad_payload"),
    ("ink", {**GOOD, "points": []}, "bad_payload"),
    ("ink", {**GOOD, "points": [[1, 2]]}, "bad_payload"),
    ("ink", {**GOOD, "points": [[1, 2, "3"]]}, "bad_payload"),
    ("ink", {**GOOD, "points": [[float("nan"), 2, 3]]}, "bad_payload"),
    ("ink", {**GOOD, "points": [[1, float("inf"), 3]]}, "bad_payload"),
    ("ink", {**GOOD, "points": [[1, 2, 3]] * 501}, "too_many_points"),
    ("ink", {**GOOD, "points": [[1, 2, 3]] * 20_000}, "too_many_points"),
    ("ink", {**GOOD, "points": [[[[[[1]]]]]]}, "bad_payload"),
    ("undo", {"round": 0}, "bad_payload"),
    ("undo", {"game_id": GID}, "bad_payload"),
    ("clear", {"game_id": GID, "round": "last"}, "bad_payload"),
    ("skip", [0], "bad_payload"),
])
def test_bad_payloads_get_an_error_and_change_nothing(client, clock, event, payload, code):
    ack, _ = start(client, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    if isinstance(payload, dict) and payload.get("game_id") == GID:
        payload = {**payload, "game_id": gid}
    client.emit(event, payload)
    error = last(client, "error")
    assert error["event"] == event and error["code"] == code and error["message"]
    client.emit("skip", {"game_id": gid, "round": 0})  # the game is intact
    assert last(client, "round_over")["drawing"] == []


def test_bad_argument_counts(client, clock):
    ack, _ = start(client, clock, rounds=1, words=["cat"])
    client.emit("ink")
    client.emit("undo", {"game_id": ack["game_id"], "round": 0}, "extra")
    assert [(n, p["code"]) for n, p in receive(client, "error") + receive(client, "error")] == [
        ("error", "bad_payload")] * 2


# Names Socket.IO keeps for itself (a client's event of that name once ran the server's
# disconnect handler on an open socket), and names no handler takes.


def test_unknown_and_reserved_events_are_refused_and_change_nothing(client, clock):
    ack, _ = start(client, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    for name in RESERVED + UNKNOWN:
        refusal = {"code": "unknown_event", "message": f"unknown event: {name[:64]}"}
        nack = client.emit(name, {"game_id": gid, "score": 1000}, callback=True)
        assert nack == {"ok": False, "code": "unknown_event", "error": refusal["message"]}, name
        assert quiet(client) == [("error", {"event": name[:64], **refusal})]
        client.emit(name, {"game_id": gid})  # without an acknowledgement: the error event alone
        assert quiet(client) == [("error", {"event": name[:64], **refusal})]
    # The connection still owns its game: the next ink is judged.
    assert client.is_connected()
    client.emit("ink", ink(gid, says("cat", 0.9)))
    assert last(client, "round_over")["recognized"] is True


def test_a_drawing_is_capped_at_5000_points(client, clock):
    ack, _ = start(client, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    for i in range(10):
        client.emit("ink", ink(gid, says("dog", 0.1, n=500), stroke=i, seq=i))
    client.emit("ink", ink(gid, [[1, 1, 1]], stroke=10, seq=10))
    assert last(client, "error")["code"] == "too_many_points"


def test_unknown_and_other_players_games(connect, clock):
    alice, mallory = connect(), connect()
    ack, _ = start(alice, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    mallory.emit("ink", ink("no-such-game", says("cat", 0.9)))
    assert last(mallory, "error")["code"] == "no_game"
    for event, payload in [("ink", ink(gid, says("cat", 0.9))), ("undo", {"game_id": gid, "round": 0}),
                           ("clear", {"game_id": gid, "round": 0}), ("skip", {"game_id": gid, "round": 0})]:
        mallory.emit(event, payload)
        assert last(mallory, "error") == {"event": event, "code": "not_your_game",
                                          "message": "this game belongs to another connection",
                                          **({"seq": 1} if event == "ink" else {})}  # a refused ink names its seq
    nack = mallory.emit("resume", {"game_id": gid, "token": "guess"}, callback=True)
    assert nack == {"ok": False, "code": "not_your_game", "error": "wrong token for this game"}
    assert quiet(alice) == []  # alice's game never noticed
    alice.emit("ink", ink(gid, says("cat", 0.9)))
    assert last(alice, "round_over")["recognized"] is True


def test_a_flood_is_rate_limited(client, clock):
    codes = []
    for i in range(120):  # in no time on the game's clock: 60 burst, then nothing refilled
        client.emit("ink", ink("no-such-game", [[1, 2, 3]], seq=i))
    while client.queue:
        codes.append(client.queue.pop(0)["args"][0]["code"])
    assert codes == ["no_game"] * 60 + ["rate_limited"] * 60
    nack = client.emit("new_game", callback=True)
    assert nack["code"] == "rate_limited"
    clock.advance(0.2)  # 30 a second come back
    client.emit("ink", ink("no-such-game", [[1, 2, 3]]))
    assert last(client, "error")["code"] == "no_game"


# --- disconnect and resume ---------------------------------------------------------


def test_disconnect_pauses_and_resume_continues(connect, clock):
    first = connect()
    ack, _ = start(first, clock, rounds=2, seconds=10, words=["cat", "dog"])
    gid, token = ack["game_id"], ack["token"]
    first.emit("ink", ink(gid, says("sun", 0.3, n=2)))
    receive(first, "guess")
    clock.advance(4)
    first.disconnect()
    clock.advance(29)  # gone 29 s: the round's clock stood still
    second = connect()
    assert second.emit("resume", {"game_id": gid, "token": "x" * 22}, callback=True)["code"] == "not_your_game"
    ack2 = second.emit("resume", {"game_id": gid, "token": token}, callback=True)
    assert ack2["ok"] is True and ack2["results"] == []
    assert ack2["round"] == {"game_id": gid, "index": 0, "total": 2, "word": "cat", "seconds": 10,
                             "prompt_in": 0, "starts_in": 0, "remaining": 6.0}
    assert ack2["drawing"] == [[[WORDS.index("sun"), 1], [30.0, 1], [0, 10]]]
    second.emit("ink", ink(gid, says("cat", 0.9), stroke=1, seq=3))  # carries on drawing
    events = receive(second, "round")
    assert [n for n, _ in events] == ["guess", "round_over", "round"] and events[1][1]["seconds"] == 4.0
    second.disconnect()  # during the break: it waits too
    clock.advance(10)
    third = connect()
    ack3 = third.emit("resume", {"game_id": gid, "token": token}, callback=True)
    assert (ack3["round"]["index"], ack3["round"]["prompt_in"], ack3["round"]["starts_in"]) == (1, 3.0, 5.0)
    assert [r["word"] for r in ack3["results"]] == ["cat"]  # the result the break shows
    clock.advance(3 + 2 + 10)
    assert last(third, "game_over")["results"][1]["word"] == "dog"
    again = connect().emit("resume", {"game_id": gid, "token": token}, callback=True)
    assert again["ok"] is True and again["round"] is None and len(again["results"]) == 2


def test_a_game_is_gone_30_seconds_after_its_player(app, connect, clock):
    first = connect()
    ack, _ = start(first, clock, rounds=1)
    first.disconnect()
    clock.advance(30.5)
    Solo.of(app).tick()  # the ticker would do it within a tick
    nack = connect().emit("resume", {"game_id": ack["game_id"], "token": ack["token"]}, callback=True)
    assert nack == {"ok": False, "code": "no_game", "error": "no such game (it ended or expired)"}


@pytest.mark.parametrize("payload", [None, {}, {"game_id": "g"}, {"game_id": "g", "token": 5},
                                     {"game_id": ["g"], "token": "t"}])
def test_resume_refusals(client, payload):
    nack = client.emit("resume", payload, callback=True)
    assert nack["ok"] is False and nack["code"] == "bad_payload"


# --- the batcher -------------------------------------------------------------------


def test_slow_inference_never_blocks_other_players(connect, clock, fake):
    alice, bob = connect(), connect()
    ack, _ = start(alice, clock, rounds=1, words=["cat"])
    fake.delay = 0.3
    t0 = time.monotonic()
    alice.emit("ink", ink(ack["game_id"], says("dog", 0.5)))
    alice.emit("ink", ink(ack["game_id"], [[3, 3, 3]], seq=2))
    assert bob.emit("new_game", {"rounds": 1}, callback=True)["ok"]
    assert time.monotonic() - t0 < 0.25
    guesses = [p for n, p in receive(alice, "guess") + quiet(alice, 0.5) if n == "guess"]
    assert [g["seq"] for g in guesses][-1] == 2 and len(guesses) <= 2


def test_batcher_batches_and_coalesces():
    seen = []
    gate = threading.Event()

    def classify(drawings):
        gate.wait(5)
        seen.append(list(drawings))
        return [f"result {d}" for d in drawings]

    results = {}
    done = threading.Event()

    def callback(key):
        def cb(result):
            results[key] = result
            if len(results) == 5:
                done.set()
        return cb

    batcher = Batcher(classify, max_batch=3, max_wait=0.001)
    try:
        batcher.submit("a", "a0", callback("a"))
        time.sleep(0.05)  # "a0" is in flight, held at the gate
        for key in "abcde":
            batcher.submit(key, f"{key}1", callback(key))
        batcher.submit("a", "a2", callback("a"))  # replaces "a1", keeps its place
        assert batcher.pending() == 5
        gate.set()
        assert done.wait(5)
        assert seen == [["a0"], ["a2", "b1", "c1"], ["d1", "e1"]]
        assert results == {k: f"result {k}{2 if k == 'a' else 1}" for k in "abcde"}
    finally:
        batcher.close()


def test_a_bad_drawing_never_kills_the_worker_or_its_batch():
    calls = []

    def classify(drawings):
        calls.append(list(drawings))
        if "bad" in drawings:
            raise ValueError("not a drawing")
        return [d.upper() for d in drawings]

    got, done = [], threading.Event()

    def cb(result):
        got.append(result)
        if result == "FAIL-CALLBACK":
            raise RuntimeError("callbacks may fail too")
        if len(got) == 3:
            done.set()

    batcher = Batcher(classify, max_batch=8, max_wait=0.05)
    try:
        for key, drawing in enumerate(["ok", "bad", "fail-callback", "fine"]):
            batcher.submit(key, drawing, cb)
        assert done.wait(5)
        assert calls[0] == ["ok", "bad", "fail-callback", "fine"]  # then one at a time
        assert sorted(got) == ["FAIL-CALLBACK", "FINE", "OK"]
        batcher.submit("later", "still", cb)
        deadline = time.monotonic() + 5
        while "STILL" not in got and time.monotonic() < deadline:
            time.sleep(0.005)
        assert "STILL" in got
    finally:
        batcher.close()
    with pytest.raises(RuntimeError):
        batcher.submit("x", "y", cb)


def test_a_failing_classifier_answers_nothing_and_the_game_goes_on(client, clock):
    ack, _ = start(client, clock, rounds=1, words=["cat"])
    gid = ack["game_id"]
    client.emit("ink", ink(gid, [[-1, 0, 0]]))  # the fake refuses it
    assert quiet(client, 0.1) == []
    client.emit("ink", ink(gid, says("cat", 0.9), stroke=1, seq=2))
    assert last(client, "round_over")["recognized"] is True


# --- configuration -----------------------------------------------------------------


def test_the_deck_comes_from_the_models_recall(tmp_path, fake):
    model = tmp_path / "m.onnx"  # never loaded: the classifier is injected
    recall = {w: (0.9 if i < 12 else 0.5) for i, w in enumerate(reversed(WORDS))}
    model.with_suffix(".metrics.json").write_text(json.dumps({"per_category_recall_val": recall}))

    def deck(**config):
        app = create_app({"TESTING": True, "CLASSIFIER": fake, "MODEL_PATH": str(model), **config})
        close_app(app)
        return ModelService.of(app).deck

    assert deck() == WORDS[2:]  # recall >= 0.75, in model order
    assert deck(DECK_MIN_RECALL=0.95) == WORDS  # fewer than 12 words: every category
    assert deck(DECK=["cat", "dog", "cat"]) == ["cat", "dog"]
    model.with_suffix(".metrics.json").write_text("{not json")
    assert deck() == WORDS
    with pytest.raises(ValueError, match="unicorn"):
        deck(DECK=["cat", "unicorn"])


def test_with_the_real_classifier():
    """The default model (the shipped one; $DOODLE_MODEL overrides), end to end."""
    clock = Clock()
    app = create_app({"TESTING": True, "GAME_CLOCK": clock, "TICK_INTERVAL": 0.005})
    try:
        doodle = ModelService.of(app)
        assert len(doodle.categories) == 345 and set(doodle.deck) <= set(doodle.categories)
        assert len(doodle.deck) >= 12
        client = socketio.test_client(app, flask_test_client=app.test_client())
        ack, _ = start(client, clock, rounds=1, words=["circle"])
        circle = [[round(100 + 80 * x), round(100 + 80 * y), 20 * i]
                  for i, (x, y) in enumerate([(1, 0), (0.7, 0.7), (0, 1), (-0.7, 0.7), (-1, 0), (-0.7, -0.7),
                                              (0, -1), (0.7, -0.7), (1, 0)])]
        clock.advance(1)
        client.emit("ink", ink(ack["game_id"], circle, seq=9))
        guess = last(client, "guess", timeout=20)
        assert guess["seq"] == 9 and len(guess["guesses"]) == 5
        assert all(g["word"] in doodle.categories for g in guess["guesses"])
        ps = [g["p"] for g in guess["guesses"]]
        assert ps == sorted(ps, reverse=True) and 0 < sum(ps) <= 1.0001
        top = guess["guesses"][0]
        assert guess["recognized"] == (top["word"] == "circle" and top["p"] >= doodle.threshold)
        client.disconnect()
    finally:
        close_app(app)
