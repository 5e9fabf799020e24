"""Games feed the open dataset (issue 5): with `contribute: true` in `new_game` (solo) or
`join` / `rejoin` (classroom), each round's drawing is stored through the contributions
store when the round ends (game/dataset/contribute.py's GameDrawings, from game/solo/transport.py and
game/classroom/transport.py). Flask-SocketIO's test client, the solo tests' fake clock and
classifier, and a temporary SQLite database."""
from __future__ import annotations

import logging
import re

import pytest

from game.dataset import store as C
from game.app import create_app
from game.classroom.transport import NS
from game.dataset.contribute import Consent
from game.dataset.contribute import Contributions
from game.solo.transport import Solo
from game.app import close_app
from fakes import WORDS, says
from sockets import ink, last, next_round, quiet, start

CONTRIBUTOR = "anon-1234abcd"
FRANCE = {"CF-IPCountry": "FR"}


@pytest.fixture
def app(clock, fake, tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": fake, "DECK": WORDS[:12],
                      "GAME_CLOCK": clock, "TICK_INTERVAL": 0.005, "BATCH_WAIT": 0.002,
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'contributions.sqlite3'}",
                      "CLASSROOM_MOSAIC_INTERVAL": 0.01, "CLASSROOM_ROOM": {"starts_in": 1.0, "break_seconds": 2.0}})
    yield app
    close_app(app)


def stored(app) -> list[dict]:
    """Every stored drawing, oldest first, once the games' writer has caught up."""
    service = Contributions.of(app)
    assert service.games.flush(5.0)
    if service._store is None:
        return []  # nothing was ever written: the database was not even opened
    return sorted((r for word in service.store.counts(status=None) for r in service.store.newest(word, 100)),
                  key=lambda r: r["created_at"])


# --- solo ---------------------------------------------------------------------------


def test_a_consenting_players_rounds_are_stored(app, connect, clock):
    client = connect(headers=FRANCE)
    words = ["cat", "dog", "bicycle", "circle", "house", "tree"]
    ack, _ = start(client, clock, rounds=6, seconds=5, words=words, contribute=True, contributor=CONTRIBUTOR)
    game = ack["game_id"]
    sent = {}

    # 0: recognized.
    sent["cat"] = says("cat", 0.9, n=3)
    client.emit("ink", ink(game, sent["cat"], 0))
    assert last(client, "round_over")["recognized"] is True
    # 1: an anvil to the AI, then the time is up.
    next_round(client, clock)
    sent["dog"] = says("anvil", 0.3, n=2)
    client.emit("ink", ink(game, sent["dog"], 1))
    assert last(client, "guess")["recognized"] is False
    clock.advance(5)
    assert last(client, "round_over")["recognized"] is False
    # 2: no ink at all: nothing to store.
    next_round(client, clock)
    clock.advance(5)
    assert last(client, "round_over")["drawing"] == []
    # 3: some ink, then skipped: still a labelled drawing.
    next_round(client, clock)
    sent["circle"] = says("anvil", 0.2)
    client.emit("ink", ink(game, sent["circle"], 3))
    last(client, "guess")
    client.emit("skip", {"game_id": game, "round": 3})
    assert last(client, "round_over")["skipped"] is True
    # 4: ink, then cleared: empty again.
    next_round(client, clock)
    client.emit("ink", ink(game, says("anvil", 0.2), 4))
    last(client, "guess")
    client.emit("clear", {"game_id": game, "round": 4})
    clock.advance(5)
    assert last(client, "round_over")["drawing"] == []
    # 5: two strokes, recognized on the second.
    next_round(client, clock)
    client.emit("ink", ink(game, says("anvil", 0.2), 5))
    last(client, "guess")
    client.emit("ink", ink(game, says("tree", 0.8), 5, stroke=1, seq=2))
    over = last(client, "game_over")
    assert [r["recognized"] for r in over["results"]] == [True, False, False, False, False, True]

    records = stored(app)
    assert [(r["word"], r["recognized"]) for r in records] == [
        ("cat", True), ("dog", False), ("circle", False), ("tree", True)]
    as_raw = lambda points: [[p[0] for p in points], [p[1] for p in points], [p[2] for p in points]]  # noqa: E731
    for r in records[:3]:
        assert r["drawing"] == [as_raw(sent[r["word"]])]  # Google's raw format, as sent
    assert records[3]["drawing"] == [as_raw(says("anvil", 0.2)), as_raw(says("tree", 0.8))]
    for r in records:
        assert r["countrycode"] == "FR" and r["contributor"] == CONTRIBUTOR and r["status"] == "ok"
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? UTC", r["timestamp"])
        assert r["simplified"] == C.ink.simplify(r["drawing"])
    # And they are exported like any contribution, in Google's field order.
    assert [list(e) for e in Contributions.of(app).store.iter_export()][0] == list(C.FIELDS)


def test_a_server_made_contributor_id_and_an_unknown_country(app, connect, clock):
    client = connect()
    ack, _ = start(client, clock, rounds=1, words=["cat"], contribute=True)
    client.emit("ink", ink(ack["game_id"], says("cat", 0.9)))
    last(client, "game_over")
    [record] = stored(app)
    assert record["countrycode"] == "ZZ" and re.fullmatch(r"[A-Za-z0-9_-]{8,64}", record["contributor"])


@pytest.mark.parametrize("settings", [{}, {"contribute": False, "contributor": CONTRIBUTOR}, {"contribute": None}])
def test_nothing_is_stored_without_consent(app, connect, clock, settings):
    client = connect(headers=FRANCE)
    ack, _ = start(client, clock, rounds=2, seconds=5, words=["cat", "dog"], **settings)
    client.emit("ink", ink(ack["game_id"], says("cat", 0.9)))
    last(client, "round_over")
    next_round(client, clock)
    client.emit("ink", ink(ack["game_id"], says("anvil", 0.3), 1))
    last(client, "guess")
    clock.advance(5)
    last(client, "game_over")
    assert stored(app) == []
    assert Contributions.of(app)._store is None  # the database was never even opened


@pytest.mark.parametrize("settings", [
    {"contribute": "true"}, {"contribute": "yes"}, {"contribute": 1}, {"contribute": 0}, {"contribute": []},
    {"contribute": {}}, {"contribute": True, "contributor": "short"}, {"contribute": True, "contributor": 12345678},
    {"contribute": True, "contributor": "x" * 65}, {"contribute": True, "contributor": "has spaces in it"},
    {"contribute": True, "contributor": "<script>alert(1)</script>"},
    {"contribute": False, "contributor": ["anon-1234abcd"]},
])
def test_bad_contribute_fields_are_refused(app, connect, settings):
    client = connect()
    nack = client.emit("new_game", {"rounds": 1, **settings}, callback=True)
    assert nack["ok"] is False and nack["code"] == "bad_payload", nack
    assert "contribut" in nack["error"]
    assert [name for name, _ in quiet(client)] == []  # no game, no round
    assert len(Solo.of(app).registry) == 0


def test_a_failing_store_never_stops_the_game(app, connect, clock, monkeypatch, caplog):
    def broken(self, *args, **kwargs):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(C.Store, "add", broken)
    client = connect()
    ack, _ = start(client, clock, rounds=2, seconds=5, words=["cat", "dog"], contribute=True)
    with caplog.at_level(logging.ERROR):
        client.emit("ink", ink(ack["game_id"], says("cat", 0.9)))
        assert last(client, "round_over")["recognized"] is True
        next_round(client, clock)
        client.emit("ink", ink(ack["game_id"], says("dog", 0.9), 1))
        over = last(client, "game_over")
        assert [r["recognized"] for r in over["results"]] == [True, True]
        assert stored(app) == []
    failures = [r for r in caplog.records if "could not store" in r.getMessage()]
    assert len(failures) == 2 and "the database is down" in failures[0].exc_text


def test_a_drawing_the_store_refuses_is_logged_and_the_game_goes_on(app, connect, clock, caplog):
    """The engine takes negative times; the dataset does not (game.dataset.store.validate)."""
    client = connect()
    ack, _ = start(client, clock, rounds=2, seconds=5, words=["cat", "dog"], contribute=True)
    with caplog.at_level(logging.ERROR):
        client.emit("ink", ink(ack["game_id"], [[WORDS.index("cat"), 90, -5]]))
        assert last(client, "round_over")["recognized"] is True
        next_round(client, clock)
        client.emit("ink", ink(ack["game_id"], says("dog", 0.9), 1))
        last(client, "game_over")
        assert [r["word"] for r in stored(app)] == ["dog"]
    assert any("could not store a 'cat' drawing" in r.getMessage() for r in caplog.records)


def test_the_writer_keeps_only_ink_and_nothing_after_closing(app, caplog):
    games = Contributions.of(app).games
    consent = Consent(CONTRIBUTOR, "ZZ")
    assert games.keep(consent, "cat", [], True) is False
    assert games.keep(consent, "cat", [[[1, 2], [3, 4], [0, 10]]], True) is True
    games.close()  # stores what is queued
    assert [r["word"] for r in stored(app)] == ["cat"]
    assert games.keep(consent, "dog", [[[1], [2], [0]]], False) is False
    assert "after shutdown" in caplog.text


# --- classroom ------------------------------------------------------------------------


def call(client, event: str, *args) -> dict:
    return client.emit(event, *args, namespace=NS, callback=True)


def join(connect, code: str, nickname: str, **fields):
    client = connect(NS, headers=FRANCE)
    ack = call(client, "join", {"code": code, "nickname": nickname, **fields})
    assert ack["ok"], ack
    client.ack = ack
    return client


def room_ink(client, index: int, points) -> None:
    client.emit("ink", {"round": index, "stroke": 0, "points": points, "seq": 1}, namespace=NS)


def host(connect, mode: str):
    client = connect(NS)
    ack = call(client, "create", {"mode": mode})
    assert ack["ok"], ack
    client.ack = ack
    return client


def test_classroom_race_stores_only_the_consenting_players_drawings(app, connect, clock):
    teacher = host(connect, "race")
    code = teacher.ack["code"]
    ana = join(connect, code, "Ana", contribute=True, contributor="ana-phone-1")
    bo = join(connect, code, "Bo", contribute=False)
    assert call(teacher, "configure", {"rounds": 2, "seconds": 5, "words": ["cat", "dog"]})["ok"]
    assert call(teacher, "start", {})["ok"]
    for index, word in enumerate(["cat", "dog"]):
        last(ana, "round")
        clock.advance(1.0)
        room_ink(bo, index, says(word, 0.9))
        assert last(bo, "guess")["recognized"] is True
        room_ink(ana, index, says(word if index == 0 else "anvil", 0.9))
        assert last(ana, "guess")["recognized"] is (index == 0)
        clock.advance(5.0)
        assert last(teacher, "round_over")["index"] == index
        clock.advance(2.0)
    last(teacher, "game_over")
    records = stored(app)
    assert [(r["word"], r["recognized"], r["contributor"], r["countrycode"]) for r in records] == [
        ("cat", True, "ana-phone-1", "FR"), ("dog", False, "ana-phone-1", "FR")]
    assert records[1]["drawing"] == [[[WORDS.index("anvil")], [90.0], [0]]]


def test_classroom_rejoin_restates_the_choice_and_bad_fields_seat_nobody(app, connect, clock):
    teacher = host(connect, "race")
    code = teacher.ack["code"]
    phone = connect(NS)
    for bad in ({"contribute": "yes"}, {"contribute": True, "contributor": "no"}):
        nack = call(phone, "join", {"code": code, "nickname": "Ana", **bad})
        assert nack["ok"] is False and nack["code"] == "bad_payload", nack
    assert call(teacher, "state")["room"]["players"] == []
    ana = join(connect, code, "Ana", contribute=True)
    token = ana.ack["token"]
    assert call(phone, "rejoin", {"code": code, "token": token, "contribute": 1})["code"] == "bad_payload"
    assert call(teacher, "configure", {"rounds": 2, "seconds": 5, "words": ["cat", "dog"]})["ok"]
    assert call(teacher, "start", {})["ok"]
    last(ana, "round")
    clock.advance(1.0)
    room_ink(ana, 0, says("cat", 0.9))
    last(teacher, "round_over")
    # A refreshed phone whose toggle is now off: the next round is not kept.
    again = call(phone, "rejoin", {"code": code, "token": token, "contribute": False})
    assert again["ok"] and again["player"] == ana.ack["player"]
    clock.advance(2.0)
    last(phone, "round")
    clock.advance(1.0)
    room_ink(phone, 1, says("dog", 0.9))
    last(teacher, "game_over")
    assert [r["word"] for r in stored(app)] == ["cat"]


def test_classroom_pictionary_stores_the_consenting_drawers_drawing(app, connect, clock):
    teacher = host(connect, "pictionary")
    code = teacher.ack["code"]
    ana = join(connect, code, "Ana", contribute=True, contributor="ana-phone-1")
    bo = join(connect, code, "Bo", contribute=True, contributor="bo-phone-22")
    assert call(teacher, "configure", {"rounds": 2, "seconds": 10, "words": ["bicycle", "house"],
                                       "mode": "pictionary"})["ok"]
    assert call(teacher, "start", {})["ok"]
    assert last(ana, "your_word")["word"] == "bicycle"
    clock.advance(1.0)
    room_ink(ana, 0, says("bicycle", 0.9))
    assert last(teacher, "ai_got_it")["round"] == 0
    assert call(bo, "guess", {"text": "bicycle"})["verdict"] == "correct"
    last(teacher, "round_over")
    clock.advance(2.0)
    assert last(bo, "your_word")["word"] == "house"  # Bo draws; the AI never gets it
    clock.advance(1.0)
    room_ink(bo, 1, says("anvil", 0.9))
    last(bo, "guess")
    clock.advance(10.0)
    last(teacher, "game_over")
    assert [(r["word"], r["recognized"], r["contributor"]) for r in stored(app)] == [
        ("bicycle", True, "ana-phone-1"), ("house", False, "bo-phone-22")]


# --- the pages ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/play", "/join", "/join/ABCDE"])
def test_the_pages_toggle_is_off_and_says_what_is_kept(app, path):
    web = app.test_client()
    html = web.get(path).get_data(as_text=True)
    box = re.search(r"<input [^>]*data-dataset-consent[^>]*>", html).group(0)
    assert 'type="checkbox"' in box and "checked" not in box  # off until chosen
    assert "Add my drawings to the open dataset (CC BY 4.0)" in " ".join(html.split())
    assert "https://creativecommons.org/licenses/by/4.0/" in html and "What is kept" in html
    for kept in ("the drawing", "the word", "country code", "anonymous contributor id", "local storage"):
        assert kept in html
    assert "/static/dataset.js" in html
    # The same words as the /contribute page's consent card: one partial.
    terms = web.get("/contribute").get_data(as_text=True)
    assert re.search(r"<ul>.*?</ul>", terms, re.S).group(0) in html
