"""Classroom rooms' rules (game/classroom/rules.py) under a fake clock: no model, no server."""
from __future__ import annotations

import random
import re

import pytest
from flask import Flask

from game import i18n
from game.classroom.modes import PICTIONARY, RACE, speed_points
from game.classroom.rules import ALPHABET, HOST, Event, RoomConfig, RoomRegistry, UnknownWords
from game.classroom.text import clean_nickname, match_guess
from game.protocol import RECOGNITION_THRESHOLD as T
from fakes import Clock, refused

DECK = ["cat", "dog", "bicycle", "circle", "house", "tree", "sun", "fish", "car", "star", "moon", "cup"]
CATEGORIES = DECK + ["The Eiffel Tower", "alarm clock", "teddy-bear"]
CONFIG = RoomConfig(starts_in=3.0, break_seconds=5.0)


def registry(clock=None, **config) -> RoomRegistry:
    cfg = RoomConfig(**{**CONFIG.__dict__, **config})
    return RoomRegistry(clock or Clock(), random.Random(0), deck=DECK, categories=CATEGORIES, config=cfg)


def room_with(names=("Ana", "Ben", "Cleo"), mode=RACE, clock=None, **config):
    """A room whose host is connected, with players joined in the lobby."""
    clock = clock or Clock()
    rooms = registry(clock, **config)
    room = rooms.create(mode)
    room.host_connected(True)
    players = [room.join(n) for n in names]
    room.drain()
    return rooms, room, players, clock


def started(names=("Ana", "Ben", "Cleo"), mode=RACE, words=("cat", "dog", "sun"), seconds=20, **kwargs):
    """A game whose first round's clock has just started."""
    rooms, room, players, clock = room_with(names, mode, **kwargs)
    room.configure(room.host_token, rounds=len(words), seconds=seconds, words=list(words))
    room.start(room.host_token)
    clock.advance(CONFIG.starts_in)
    room.tick()
    assert room.round.state == "drawing"
    room.drain()
    return room, players, clock


def names(events: list[Event]) -> list[str]:
    return [e.name for e in events]


def line(n: int = 5) -> list[list[int]]:
    return [[i, 2 * i, 10 * i] for i in range(n)]


# --- rooms and codes -----------------------------------------------------------


def test_codes_are_five_characters_easy_to_read_aloud_and_unique():
    rooms = registry()
    codes = [rooms.create().code for _ in range(200)]
    assert len(set(codes)) == 200
    assert all(re.fullmatch(r"[A-Z2-9]{5}", c) for c in codes)
    assert not set("".join(codes)) & set("0O1IL")
    assert set("".join(codes)) <= set(ALPHABET) and len(ALPHABET) == 31


def test_a_server_of_a_cluster_deals_codes_starting_with_its_own_characters_only():
    rooms = RoomRegistry(Clock(), random.Random(3), deck=DECK, code_first="AK7")
    codes = [rooms.create().code for _ in range(100)]
    assert {c[0] for c in codes} == set("AK7")  # each of its own, no other
    assert len({c[1:] for c in codes}) > 90  # the rest drawn from the whole alphabet
    for wrong in ("", "a", "AO", "A1"):
        with pytest.raises(ValueError, match="first characters"):
            RoomRegistry(Clock(), deck=DECK, code_first=wrong)


def test_a_code_typed_in_lowercase_with_spaces_finds_the_room():
    rooms = registry()
    room = rooms.create()
    typed = f" {room.code[:3].lower()} {room.code[3:].lower()} "
    assert rooms.find(typed, "phone") is room
    refused("no_room", rooms.find, "ZZZZZ" if room.code != "ZZZZZ" else "YYYYY", "phone")
    refused("no_room", rooms.find, None, "phone")
    refused("no_room", rooms.find, "A" * 10_000, "phone")


def test_a_room_starts_in_the_lobby_with_default_settings():
    _, room, _, _ = room_with(())
    assert room.phase == "lobby" and room.mode.name == RACE
    assert room.public_settings() == {"rounds": 6, "seconds": 20, "words": None, "mode": "race",
                                      "host_draws": False}


# --- joining -------------------------------------------------------------------


def test_join_gives_a_player_with_a_token_and_announces_the_room():
    rooms, room, _, _ = room_with(())
    joined_room, ana = rooms.join(room.code, "phone-1", nickname="  Ana   María ")
    assert joined_room is room
    assert ana.nickname == "Ana María" and ana.score == 0 and len(ana.token) >= 20 and ana.id == "p1"
    event = room.drain()[-1]
    assert event.to is None and event.name == "room"
    assert event.payload["players"] == [{"id": "p1", "nickname": "Ana María", "score": 0, "connected": True}]


def test_nicknames_are_unique_in_the_room_ignoring_case():
    _, room, _, _ = room_with(("Ana",))
    refused("nickname_taken", room.join, "ANA")
    refused("nickname_taken", room.join, " ana ")
    assert room.join("Anabel").nickname == "Anabel"


def test_nicknames_are_normalised_to_nfc():
    decomposed = "Zoe\u0308"  # e + combining diaeresis
    assert clean_nickname(decomposed) == "Zoë" and len(clean_nickname(decomposed)) == 3
    _, room, _, _ = room_with(("Zoë",))
    refused("nickname_taken", room.join, decomposed)


@pytest.mark.parametrize("nickname", [
    "", "   ", "A" * 21, "A" * 10_000, "<b>Ana</b>", "<script>alert(1)</script>", "Tom & Jerry", "Ana\x00",
    "Ana\u200b", "Ana\u202e", "\x1b[31mAna", 42, None, ["Ana"],
])
def test_bad_nicknames_are_refused_with_a_clear_message(nickname):
    _, room, _, _ = room_with(())
    e = refused("bad_nickname", room.join, nickname)
    assert e.message and len(e.message) < 100
    assert room.players == {}


# Every refusal a person meets on the join form (static/join.js shows the message), as
# (nickname, code); "Kim" was removed by the teacher, the room holds 2 and has Ana and Bo.
REFUSALS = [("", "bad_nickname"), ("   ", "bad_nickname"), ("A" * 21, "bad_nickname"), ("A" * 10_000, "bad_nickname"),
            ("<b>Ana</b>", "bad_nickname"), ("Ana\u200b", "bad_nickname"), (42, "bad_nickname"),
            ("puta", "bad_nickname"), ("ANA", "nickname_taken"), ("Kim", "kicked"), ("Zed", "room_full")]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_nickname_refusals_are_full_sentences_in_english_and_spanish(lang):
    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context(headers={"Accept-Language": lang}):
        _, room, (ana, kim), _ = room_with(("Ana", "Kim"), max_players=2)
        room.kick(room.host_token, kim.id)
        room.join("Bo")
        messages = {}
        for nickname, code in REFUSALS:
            e = refused(code, room.join, nickname)
            messages[str(nickname)[:30]] = e.message
        assert sorted(p.nickname for p in room.players.values()) == ["Ana", "Bo"]  # nothing cut and let in
    for nickname, message in messages.items():
        # A sentence: a capital first, a full stop last (the codes stay as they were).
        assert re.fullmatch(r"[A-ZÁÉÍÓÚÑ].*[^ ]\.", message), (nickname, message)
    if lang == "en":
        assert messages["A" * 21] == "Nicknames are at most 20 characters."
        assert messages["ANA"] == "Someone in the room is already called ANA. Please choose another nickname."
    else:
        assert messages["A" * 21] == "Los apodos tienen como máximo 20 caracteres."
        assert messages["ANA"] == "Alguien en la sala ya se llama ANA. Elige otro apodo, por favor."
        assert messages["Zed"] == "La sala está llena (2 jugadores)."


def test_twenty_characters_and_emoji_are_fine():
    _, room, _, _ = room_with(())
    assert room.join("A" * 20).nickname == "A" * 20
    assert room.join("Zoë 🦊").nickname == "Zoë 🦊"
    assert room.join("O'Brien-Núñez").nickname == "O'Brien-Núñez"
    # Emoji joined into one picture by zero-width joiners: a family, a heart on fire.
    assert room.join("Team 👨\u200d👩\u200d👧").nickname == "Team 👨\u200d👩\u200d👧"
    assert room.join("Eva ❤\ufe0f\u200d🔥").nickname == "Eva ❤\ufe0f\u200d🔥"


@pytest.mark.parametrize("joiner", ["An\u200da", "\u200d🦊", "🦊\u200d", "A\u200d🦊", "Ana\u200b"])
def test_a_joiner_outside_an_emoji_is_refused(joiner):
    _, room, _, _ = room_with(())
    e = refused("bad_nickname", room.join, joiner)
    assert "invisible" in e.message


@pytest.mark.parametrize("lookalike", ["\u0410na", "An\u0430", "\u0391NA", "ａna", "𝐀na"])
def test_a_lookalike_of_a_taken_nickname_is_taken(lookalike):
    """Cyrillic А, Greek Α, full-width and mathematical letters look like Latin A to the
    class: Unicode's confusables skeleton (UTS #39) makes them the same nickname."""
    _, room, _, _ = room_with(("Ana",))
    refused("nickname_taken", room.join, lookalike)
    assert room.join("Anna").nickname == "Anna"  # a different name stays different
    refused("nickname_taken", room.join, "ANNA")  # and case still does not count


def test_a_lookalike_of_a_removed_nickname_stays_removed():
    room, (ana, ben, cleo), clock = started()
    room.kick(room.host_token, ben.id)
    refused("kicked", room.join, ben.nickname.replace("e", "\u0435"))  # Cyrillic е


@pytest.mark.parametrize("nickname", [
    "fuck", "FuCkEr99", "f u c k", "f.u.c.k", "sh1t", "shiiiiit", "@ss", "a55hole", "BigAss", "b!tch", "idiot",
    "n1gg3r",  # English, leetspeak, repeats, spacing
    "puta", "Hijo de puta", "Cabrón", "cabron", "coño", "P3nd3jo", "puuuuta", "m13rd4", "Estúpido", "maricón",
    "gilipollas", "GILIPOLLAS", "Pinche Juan",  # Spanish, accents either way
    "phuck", "Phucker", "cunt", "cunts", "a cunt",  # spelt as it sounds; a word not hidden inside names
])
def test_rude_nicknames_are_refused_in_english_and_spanish(nickname):
    _, room, _, _ = room_with(())
    e = refused("bad_nickname", room.join, nickname)
    assert "another" in e.message


@pytest.mark.parametrize("nickname", [
    "Cassandra", "Bass", "Hancock", "Dickens", "Penelope", "Computadora", "Conor", "Fast As Light", "Yoshitaka",
    "Ignazio", "Pakistan", "José", "Nguyễn", "Sebastián", "Glass", "Scunthorpe", "Philippa", "Stephan",
])
def test_innocent_names_containing_rude_letters_are_fine(nickname):
    _, room, _, _ = room_with(())
    assert room.join(nickname).nickname == nickname


def test_a_late_joiner_enters_at_the_next_round():
    room, (ana, ben, cleo), clock = started()
    dan = room.join("Dan")
    assert dan.id not in room.round.players
    refused("not_playing", room.add_ink, dan.id, 0, 0, line())
    assert room.inference_request(dan.id) is None
    assert room.record_guesses(dan.id, [("cat", 0.9)]) is None
    snap = room.snapshot(viewer=dan.id)
    assert [p["playing"] for p in snap["players"]] == [True, True, True, False]
    clock.advance(20)
    room.tick()
    clock.advance(CONFIG.break_seconds)
    room.tick()
    assert room.round.index == 1 and dan.id in room.round.players
    clock.advance(CONFIG.starts_in)
    room.add_ink(dan.id, 1, 0, line())


def test_rejoin_with_the_token_gives_back_the_same_player_with_score():
    room, (ana, ben, cleo), clock = started()
    clock.advance(5)
    room.add_ink(ana.id, 0, 0, line())
    assert room.record_guesses(ana.id, [("cat", 0.9)]) is True
    score = ana.score
    room.set_connected(ana.id, False)  # the phone refreshed
    again = room.rejoin(ana.token)
    assert again is ana and again.score == score > 0 and again.connected
    refused("no_player", room.rejoin, "not-a-token")


def test_rejoin_through_the_registry_and_wrong_codes_are_rate_limited():
    rooms, room, (ana,), clock = room_with(("Ana",), join_failures=5, join_window=60, join_lockout=300)
    assert rooms.join(room.code, "10.0.0.7", token=ana.token) == (room, ana)
    wrong = "ZZZZZ" if room.code != "ZZZZZ" else "YYYYY"
    for _ in range(4):
        refused("no_room", rooms.join, wrong, "10.0.0.9", nickname="Eve")
        clock.advance(5)
    assert not rooms.join_blocked("10.0.0.9")
    refused("no_room", rooms.join, wrong, "10.0.0.9", nickname="Eve")  # the fifth within a minute
    assert rooms.join_blocked("10.0.0.9")
    # Locked out: even the right code is refused, so guessing cannot find rooms.
    refused("rate_limited", rooms.join, room.code, "10.0.0.9", nickname="Eve")
    assert rooms.join(room.code, "10.0.0.8", nickname="Fay")[1].nickname == "Fay"  # other phones are fine
    clock.advance(300)
    assert rooms.join(room.code, "10.0.0.9", nickname="Eve")[1].nickname == "Eve"


def test_failures_spread_out_over_time_do_not_lock_out():
    rooms, room, _, clock = room_with((), join_failures=5, join_window=60)
    for _ in range(20):
        refused("no_room", rooms.find, "ZZZZ2", "phone")
        clock.advance(15)  # 4 a minute
    assert rooms.find(room.code, "phone") is room


def test_a_full_room_refuses_more_players():
    _, room, _, _ = room_with(("A1", "B2"), max_players=2)
    refused("room_full", room.join, "C3")


# --- host controls ---------------------------------------------------------------


@pytest.mark.parametrize("control, args", [
    ("configure", ()), ("start", ()), ("pause", ()), ("resume", ()), ("skip", ()), ("end", ()), ("kick", ("p2",)),
])
def test_host_controls_are_refused_to_students(control, args):
    room, (ana, ben, cleo), clock = started()
    for token in (ana.token, "", None, "x" * 1000, room.host_token + "x", "é"):
        e = refused("not_host", getattr(room, control), token, *args)
        assert "teacher" in e.message
    assert room.phase == "playing" and not room.paused and len(room.players) == 3


def test_settings_default_and_their_ranges_are_the_engines():
    _, room, _, _ = room_with()
    assert room.configure(room.host_token) == {"rounds": 6, "seconds": 20, "words": None, "mode": "race",
                                               "host_draws": False}
    for bad in ({"rounds": 0}, {"rounds": 13}, {"seconds": 4}, {"seconds": 61}, {"rounds": "6"},
                {"mode": "chess"}, {"host_draws": "yes"}, {"words": "cat"}, {"words": [1, 2]},
                {"rounds": 3, "words": ["cat", "dog"]}):
        refused("bad_payload", room.configure, room.host_token, **bad)
    assert room.public_settings()["rounds"] == 6  # a refusal changes nothing


def test_the_teachers_deck_is_matched_to_known_words_and_unknown_ones_reported():
    _, room, _, _ = room_with()
    settings = room.configure(room.host_token, rounds=3, words=["  Cat", "eiffel tower", "Alarm-Clock", ""])
    assert settings["words"] == ["cat", "The Eiffel Tower", "alarm clock"]
    with pytest.raises(UnknownWords) as e:
        room.configure(room.host_token, rounds=1, words=["cat", "unicorn", "dragon"])
    assert e.value.code == "unknown_words" and e.value.words == ["unicorn", "dragon"]
    assert "unicorn" in e.value.message and "dragon" in e.value.message
    room.start(room.host_token)
    assert room.words == ["cat", "The Eiffel Tower", "alarm clock"]


def test_the_default_deck_is_dealt_without_repeats():
    _, room, _, _ = room_with()
    room.configure(room.host_token, rounds=12)
    room.start(room.host_token)
    assert sorted(room.words) == sorted(DECK)


def test_start_needs_players_and_only_once():
    _, room, _, _ = room_with(())
    refused("not_enough_players", room.start, room.host_token)
    room.join("Ana")
    room.configure(room.host_token, mode=PICTIONARY)
    refused("not_enough_players", room.start, room.host_token)  # a drawer and a guesser
    room.configure(room.host_token, mode=PICTIONARY, host_draws=True)
    room.start(room.host_token)
    refused("wrong_phase", room.start, room.host_token)
    refused("wrong_phase", room.configure, room.host_token)


def test_pause_freezes_the_clock_and_resume_keeps_the_time_left():
    room, (ana, ben, cleo), clock = started(seconds=20)
    clock.advance(8)
    room.pause(room.host_token)
    assert names(room.drain()) == ["paused"]
    clock.advance(600)  # a long pause
    room.tick()
    assert room.round.state == "drawing" and room.snapshot()["round"]["remaining"] == 12
    assert room.snapshot()["paused"] is True
    refused("paused", room.add_ink, ana.id, 0, 0, line())
    assert room.inference_request(ana.id) is None
    assert room.record_guesses(ana.id, [("cat", 0.9)]) is None
    room.pause(room.host_token)  # again: nothing changes
    room.resume(room.host_token)
    assert room.drain()[0] == Event(None, "resumed", {"round": 0, "starts_in": 0.0, "remaining": 12.0,
                                                      "next_in": None})
    room.add_ink(ana.id, 0, 0, line())
    clock.advance(11.9)
    room.tick()
    assert room.round.state == "drawing"
    clock.advance(0.1)
    room.tick()
    assert room.round.state == "over" and room.round.reason == "time"


def test_pause_and_resume_need_a_game():
    _, room, _, _ = room_with()
    refused("wrong_phase", room.pause, room.host_token)
    refused("wrong_phase", room.resume, room.host_token)
    refused("wrong_phase", room.skip, room.host_token)
    refused("wrong_phase", room.end, room.host_token)


def test_skip_ends_the_round_and_during_the_break_starts_the_next():
    room, (ana, ben, cleo), clock = started()
    room.skip(room.host_token)
    events = room.drain()
    assert names(events) == ["round_over"] and events[0].payload["reason"] == "skipped"
    assert events[0].payload["next_in"] == CONFIG.break_seconds
    room.skip(room.host_token)
    assert names(room.drain()) == ["round"] and room.round.index == 1 and room.round.state == "prompt"


def test_end_shows_the_podium():
    room, (ana, ben, cleo), clock = started()
    room.end(room.host_token)
    events = room.drain()
    assert names(events) == ["round_over", "game_over"]
    assert events[0].payload["reason"] == "ended" and events[0].payload["next_in"] is None
    assert room.phase == "ended"
    refused("round_over", room.add_ink, ana.id, 0, 0, line())
    room.start(room.host_token)  # another game in the same room
    assert room.phase == "playing" and room.round.index == 0


def test_a_kicked_player_is_removed_and_their_token_refused():
    rooms, room, (ana, ben, cleo), clock = room_with()
    room.kick(room.host_token, ben.id)
    events = room.drain()
    assert events[0] == Event(ben.id, "kicked", {"message": "the teacher removed you from this room"})
    assert events[1].name == "room" and [p["id"] for p in events[1].payload["players"]] == [ana.id, cleo.id]
    refused("kicked", room.rejoin, ben.token)
    refused("kicked", rooms.join, room.code, "phone", token=ben.token)
    refused("kicked", room.join, "ben")  # the nickname waits a while...
    clock.advance(CONFIG.kick_block + 1)
    assert room.join("Ben").token != ben.token  # ...then is a new player
    refused("kicked", room.rejoin, ben.token)
    refused("no_player", room.kick, room.host_token, ben.id)


# --- race ------------------------------------------------------------------------


def test_race_everyone_draws_the_same_word_and_the_round_event_shows_it():
    rooms, room, players, clock = room_with()
    room.configure(room.host_token, rounds=2, words=["cat", "dog"])
    room.drain()
    room.start(room.host_token)
    events = room.drain()
    assert names(events) == ["room", "round"]
    rnd = events[1].payload
    assert rnd["word"] == "cat" and rnd["index"] == 0 and rnd["total"] == 2 and rnd["starts_in"] == 3.0
    assert rnd["remaining"] == 20 and rnd["players"] == [p.id for p in players]
    refused("not_started", room.add_ink, players[0].id, 0, 0, line())  # the prompt is showing


def test_race_faster_scores_more_and_the_round_ends_when_everyone_is_recognized():
    room, (ana, ben, cleo), clock = started(seconds=20)
    for p in (ana, ben, cleo):
        room.add_ink(p.id, 0, 0, line(), seq=1)
    clock.advance(2)
    assert room.record_guesses(ana.id, [("cat", 0.7), ("dog", 0.1)], room.inference_request(ana.id)) is True
    events = room.drain()
    assert events[0] == Event(ana.id, "guess", {"round": 0, "player": ana.id, "seq": 1, "recognized": True,
                                                "elapsed": 2.0, "guesses": [{"word": "cat", "p": 0.7},
                                                                            {"word": "dog", "p": 0.1}]})
    assert events[1] == Event(None, "recognized", {"round": 0, "player": ana.id, "nickname": "Ana",
                                                   "seconds": 2.0, "points": 95})
    refused("round_over", room.add_ink, ana.id, 0, 0, line())  # done drawing
    assert room.inference_request(ana.id) is None
    clock.advance(8)
    assert room.record_guesses(ben.id, [("dog", 0.9)]) is False  # not recognized yet
    assert room.record_guesses(ben.id, [("cat", T - 0.01), ("dog", 0.3)]) is False  # below the threshold
    assert room.record_guesses(ben.id, [("cat", T)]) is True  # at the threshold
    assert room.round.state == "drawing"
    clock.advance(9)
    assert room.record_guesses(cleo.id, [("cat", 0.99)]) is True
    assert room.round.state == "over" and room.round.reason == "all_recognized"
    over = [e for e in room.drain() if e.name == "round_over"][0].payload
    assert [(r["nickname"], r["points"]) for r in over["results"]] == [("Ana", 95), ("Ben", 75), ("Cleo", 52)]
    assert ana.score > ben.score > cleo.score
    assert [e["nickname"] for e in over["leaderboard"]] == ["Ana", "Ben", "Cleo"]


def test_speed_points_formula():
    assert speed_points(0, 20) == 100
    assert speed_points(10, 20) == 75
    assert speed_points(20, 20) == 50
    assert speed_points(25, 20) == 50 and speed_points(-1, 20) == 100


def test_a_new_mode_is_one_class(monkeypatch):
    """docs/layout.md: a mode is one class in game/classroom/modes.py. This one, written
    here, is a race whose word stays secret until the round is over, whose drawings the
    class does not see, and where only the first recognized drawing scores, ending the
    round; the room plays it without a line of its own."""
    from game.classroom.modes import MODES, Mode

    class Secret(Mode):
        name = "secret"
        drawings_public = False

        def shows_word(self, room, r, viewer):
            return r.state == "over"

        def on_recognized(self, room, r, player_id, elapsed):
            room.score_recognized(r, player_id, elapsed)
            if r.state != "over":
                room.end_round(r, "first_recognized")

    monkeypatch.setitem(MODES, "secret", Secret())
    room, (ana, ben, cleo), clock = started(mode="secret", words=("cat", "dog"))
    assert room.snapshot(ana.id)["round"]["word"] is None and room.public_settings()["mode"] == "secret"
    for p in (ana, ben):
        room.add_ink(p.id, 0, 0, line(), seq=1)
    clock.advance(2)
    assert room.record_guesses(ben.id, [("dog", 0.9)], room.inference_request(ben.id)) is False
    assert room.snapshot(ana.id)["players"][1]["guess"] is None  # Ben's drawing's guess: not shown
    assert room.record_guesses(ana.id, [("cat", 0.9)], room.inference_request(ana.id)) is True
    assert room.round.state == "over" and room.round.reason == "first_recognized"
    over = [e for e in room.drain() if e.name == "round_over"][0].payload
    assert over["mode"] == "secret" and over["word"] == "cat"
    assert [(r["nickname"], r["points"]) for r in over["results"]] == [("Ana", 95), ("Ben", 0), ("Cleo", 0)]
    refused("bad_payload", registry().create, "relay")  # only registered modes


def test_race_round_ends_on_time_with_no_points_for_the_unrecognized():
    room, (ana, ben, cleo), clock = started()
    room.add_ink(ana.id, 0, 0, line())
    clock.advance(19.999)
    room.tick()
    assert room.round.state == "drawing"
    clock.advance(0.001)
    assert room.record_guesses(ana.id, [("cat", 0.9)]) is None  # too late, even before a tick
    events = room.drain()
    assert names(events) == ["round_over"] and events[0].payload["reason"] == "time"
    assert all(r["points"] == 0 for r in events[0].payload["results"])
    assert events[0].payload["next_in"] == 5.0
    clock.advance(5)
    room.tick()
    assert names(room.drain()) == ["round"] and room.round.index == 1


def test_away_players_do_not_hold_up_the_round():
    room, (ana, ben, cleo), clock = started()
    room.set_connected(cleo.id, False)
    room.record_guesses(ana.id, [("cat", 0.9)])
    assert room.round.state == "drawing"
    room.record_guesses(ben.id, [("cat", 0.9)])
    assert room.round.reason == "all_recognized"


def test_kicking_the_last_unrecognized_player_ends_the_race_round():
    room, (ana, ben, cleo), clock = started()
    room.record_guesses(ana.id, [("cat", 0.9)])
    room.record_guesses(ben.id, [("cat", 0.9)])
    room.kick(room.host_token, cleo.id)
    assert room.round.reason == "all_recognized"


def test_ink_uses_the_engines_limits_and_stale_guesses_are_dropped():
    room, (ana, ben, cleo), clock = started()
    refused("bad_payload", room.add_ink, ana.id, 0, 0, [[0, 0]])
    refused("too_many_points", room.add_ink, ana.id, 0, 0, line(501))
    refused("bad_payload", room.add_ink, ana.id, 0, 5, line())  # stroke index
    refused("bad_payload", room.add_ink, ana.id, "0", 0, line())
    refused("not_started", room.add_ink, ana.id, 1, 0, line())
    refused("no_player", room.add_ink, "p99", 0, 0, line())
    room.add_ink(ana.id, 0, 0, line(3), seq=1)
    request = room.inference_request(ana.id)
    assert request.round == 0 and request.drawing == [[[0, 1, 2], [0, 2, 4], [0, 10, 20]]]
    room.undo(ana.id, 0)
    assert room.record_guesses(ana.id, [("cat", 0.9)], request) is None  # for an undone drawing
    room.add_ink(ana.id, 0, 0, line(3), seq=2)
    room.clear(ana.id, 0)
    assert room.inference_request(ana.id) is None


def test_snapshot_for_the_projector_mosaic():
    room, (ana, ben, cleo), clock = started()
    room.add_ink(ana.id, 0, 0, line(3))
    room.record_guesses(ana.id, [("dog", 0.3), ("cat", 0.2)])
    clock.advance(4)
    snap = room.snapshot(drawings=True)
    assert snap["code"] == room.code and snap["phase"] == "playing" and snap["paused"] is False
    assert snap["round"]["word"] == "cat" and snap["round"]["remaining"] == 16
    a = snap["players"][0]
    assert a["nickname"] == "Ana" and a["guess"] == {"word": "dog", "p": 0.3} and a["recognized"] is False
    assert a["drawing"] == [[[0, 1, 2], [0, 2, 4], [0, 10, 20]]] and a["ink"] == [0, 3]
    assert snap["players"][1]["guess"] is None and snap["players"][1]["drawing"] == []
    assert [e["score"] for e in snap["leaderboard"]] == [0, 0, 0]
    assert "me" not in snap and "drawing" not in room.snapshot()["players"][0]
    assert room.snapshot(viewer=ana.id)["me"]["drawing"] == a["drawing"]


def test_gallery_per_word_and_podium_at_the_end():
    room, (ana, ben, cleo), clock = started(words=("cat", "dog"))
    room.add_ink(ana.id, 0, 0, line(3))
    clock.advance(1)
    room.record_guesses(ana.id, [("cat", 0.8)])
    room.add_ink(ben.id, 0, 0, line(2))
    room.record_guesses(ben.id, [("cup", 0.6), ("cat", 0.2)])
    clock.advance(19)
    room.tick()
    clock.advance(5)
    room.tick()  # round 1's prompt
    clock.advance(3 + 2)
    room.record_guesses(ben.id, [("dog", 0.9)])  # 95
    clock.advance(1)
    room.record_guesses(cleo.id, [("dog", 0.9)])  # 92
    room.record_guesses(ana.id, [("dog", 0.9)])
    assert room.phase == "ended"
    events = room.drain()
    game_over = events[-1]
    assert game_over.name == "game_over" and game_over.to is None
    podium = game_over.payload["podium"]
    assert [(e["rank"], e["nickname"]) for e in podium] == [(1, "Ana"), (2, "Ben"), (3, "Cleo")]
    assert [e["score"] for e in podium] == [98 + 92, 95, 92]
    gallery = room.gallery()
    assert [g["word"] for g in gallery] == ["cat", "dog"]
    cat = {d["nickname"]: d for d in gallery[0]["drawings"]}
    assert cat["Ana"] == {"player": ana.id, "nickname": "Ana", "drawing": [[[0, 1, 2], [0, 2, 4], [0, 10, 20]]],
                          "guesses": [{"word": "cat", "p": 0.8}], "recognized": True, "seconds": 1.0}
    assert cat["Ben"]["recognized"] is False and cat["Ben"]["guesses"][0] == {"word": "cup", "p": 0.6}
    assert cat["Cleo"]["drawing"] == [] and cat["Cleo"]["guesses"] == []
    room.kick(room.host_token, ben.id)
    assert [d["nickname"] for d in room.gallery()[0]["drawings"]] == ["Ana", "Cleo"]


def test_ties_share_a_place_on_the_podium():
    room, (ana, ben, cleo, dan), clock = started(names=("Ana", "Ben", "Cleo", "Dan"), words=("cat",))
    room.record_guesses(ana.id, [("cat", 0.9)])
    room.record_guesses(ben.id, [("cat", 0.9)])
    room.end(room.host_token)
    assert [(e["rank"], e["nickname"]) for e in room.podium()] == [(1, "Ana"), (1, "Ben"), (3, "Cleo"), (3, "Dan")]


# --- pictionary --------------------------------------------------------------------


def test_pictionary_word_only_to_the_drawer_and_the_drawer_rotates_in_join_order():
    rooms, room, (ana, ben, cleo), clock = room_with(mode=PICTIONARY)
    room.configure(room.host_token, rounds=4, words=["cat", "dog", "sun", "cup"])
    room.start(room.host_token)
    drawers = []
    for i in range(4):
        events = room.drain()
        rnd = next(e for e in events if e.name == "round")
        assert rnd.to is None and rnd.payload["word"] is None and rnd.payload["hint"] == "___"
        secret = next(e for e in events if e.name == "your_word")
        assert secret.to == rnd.payload["drawer"] and secret.payload == {"round": i, "word": room.words[i]}
        drawers.append(rnd.payload["drawer"])
        assert room.snapshot()["round"]["word"] is None
        assert room.snapshot(viewer=rnd.payload["drawer"])["round"]["word"] == room.words[i]
        room.skip(room.host_token)
        if room.phase == "playing":
            room.skip(room.host_token)
    assert drawers == [ana.id, ben.id, cleo.id, ana.id]


def test_pictionary_rotation_passes_over_away_phones_and_includes_the_teacher_when_asked():
    rooms, room, (ana, ben, cleo), clock = room_with(mode=PICTIONARY)
    room.configure(room.host_token, rounds=5, words=DECK[:5], host_draws=True)
    room.set_connected(ben.id, False)
    room.start(room.host_token)
    drawers = []
    for _ in range(5):
        drawers.append(room.round.drawer)
        room.skip(room.host_token)
        if room.phase == "playing":
            room.skip(room.host_token)
    assert drawers == [HOST, ana.id, cleo.id, HOST, ana.id]


def pictionary(names=("Ana", "Ben", "Cleo"), words=("bicycle", "cat")):
    room, players, clock = started(names=names, mode=PICTIONARY, words=words)
    return room, players, clock


@pytest.mark.parametrize("text, verdict", [
    ("bicycle", "correct"), ("  BiCyCle ", "correct"), ("bícyclé", "correct"), ("bi cycle", "correct"),
    ("bicycles", "almost"), ("bicicle", "almost"), ("bicylce", "almost"), ("bycicle", "wrong"), ("bcycle", "almost"),
    ("byciclee", "wrong"), ("car", "wrong"), ("!!!", "wrong"),
])
def test_guess_matching(text, verdict):
    assert match_guess(text, "bicycle") == verdict


def test_close_guesses_depend_on_the_words_length():
    assert match_guess("cats", "cat") == "almost" and match_guess("cta", "cat") == "wrong"  # no typos under 4
    assert match_guess("hosue", "house") == "almost" and match_guess("huose", "house") == "almost"
    assert match_guess("hoose", "house") == "almost" and match_guess("hooze", "house") == "wrong"
    assert match_guess("umbrela", "umbrella") == "almost" and match_guess("umbrla", "umbrella") == "almost"
    assert match_guess("umbrl", "umbrella") == "wrong"
    assert match_guess("matches", "match") == "almost" and match_guess("Eiffel Tower", "The Eiffel Tower") == "correct"
    assert match_guess("teddy bear", "teddy-bear") == "correct"


def test_pictionary_first_correct_guess_scores_for_guesser_and_drawer():
    room, (ana, ben, cleo), clock = pictionary()
    assert room.round.drawer == ana.id
    room.add_ink(ana.id, 0, 0, line())
    clock.advance(2)
    assert room.submit_guess(ben.id, "bike") == "wrong"
    assert room.submit_guess(cleo.id, "bicycles") == "almost"
    events = room.drain()
    assert events == [Event(ben.id, "guess_result", {"round": 0, "text": "bike", "verdict": "wrong"}),
                      Event(cleo.id, "guess_result", {"round": 0, "text": "bicycles", "verdict": "almost"}),
                      Event(None, "almost", {"round": 0, "player": cleo.id, "nickname": "Cleo"})]
    clock.advance(2)
    assert room.submit_guess(cleo.id, "Bicycle") == "correct"
    events = room.drain()
    assert names(events) == ["guess_result", "guessed", "round_over"]
    guessed = events[1].payload
    assert guessed["player"] == cleo.id and guessed["seconds"] == 4.0 and guessed["points"] == 90
    assert guessed["drawer"] == ana.id and guessed["drawer_points"] == 90
    assert (ana.score, ben.score, cleo.score) == (90, 0, 90)
    over = events[2].payload
    assert over["reason"] == "guessed" and over["guessed_by"] == cleo.id and over["class_seconds"] == 4.0
    assert over["first"] == "class" and over["word"] == "bicycle"
    refused("round_over", room.submit_guess, ben.id, "bicycle")  # too late


def test_pictionary_the_drawer_cannot_guess_and_the_others_cannot_draw():
    room, (ana, ben, cleo), clock = pictionary()
    e = refused("not_your_turn", room.submit_guess, ana.id, "bicycle")
    assert "drawing" in e.message
    e = refused("not_your_turn", room.add_ink, ben.id, 0, 0, line())
    assert "Ana is drawing" in e.message
    assert room.inference_request(ben.id) is None


def test_pictionary_guesses_are_length_and_rate_limited():
    room, (ana, ben, cleo), clock = pictionary()
    refused("bad_payload", room.submit_guess, ben.id, "x" * 41)
    refused("bad_payload", room.submit_guess, ben.id, "x" * 10_000)
    refused("bad_payload", room.submit_guess, ben.id, "   ")
    refused("bad_payload", room.submit_guess, ben.id, None)
    for _ in range(3):
        room.submit_guess(ben.id, "car")
    refused("rate_limited", room.submit_guess, ben.id, "bicycle")
    assert room.submit_guess(cleo.id, "tree") == "wrong"  # other players are not held up
    clock.advance(2)
    assert room.submit_guess(ben.id, "bicycle") == "correct"


def test_pictionary_refuses_guesses_before_the_clock_and_from_late_joiners():
    rooms, room, (ana, ben), clock = room_with(("Ana", "Ben"), mode=PICTIONARY)
    room.configure(room.host_token, rounds=2, words=["cat", "dog"])
    room.start(room.host_token)
    refused("not_started", room.submit_guess, ben.id, "cat")
    clock.advance(3)
    dan = room.join("Dan")
    refused("not_playing", room.submit_guess, dan.id, "cat")
    refused("no_player", room.submit_guess, "p42", "cat")


def test_race_mode_has_no_typed_guesses():
    room, (ana, ben, cleo), clock = started()
    refused("wrong_phase", room.submit_guess, ben.id, "cat")


def test_pictionary_records_when_the_ai_got_it_and_the_round_goes_on():
    room, (ana, ben, cleo), clock = pictionary()
    room.add_ink(ana.id, 0, 0, line(), seq=3)
    clock.advance(1.5)
    assert room.record_guesses(ana.id, [("bicycle", 0.3), ("wheel", 0.2)], room.inference_request(ana.id)) is False
    clock.advance(1.5)
    assert room.record_guesses(ana.id, [("bicycle", 0.8), ("wheel", 0.1)]) is True
    events = room.drain()
    assert [(e.to, e.name) for e in events] == [(ana.id, "guess"), (None, "ai_got_it"), (ana.id, "guess")]
    assert events[1].payload == {"round": 0, "seconds": 3.0}
    assert room.round.state == "drawing" and room.round.ai_seconds == 3.0
    room.add_ink(ana.id, 0, 0, line())  # the drawer keeps drawing for the class
    clock.advance(1)
    room.record_guesses(ana.id, [("bicycle", 0.9)])
    assert room.round.ai_seconds == 3.0  # the first time counts
    # The projector sees the AI's confidence but not the word; the drawer sees it all.
    assert room.snapshot()["ai"]["guesses"] == [{"word": None, "p": 0.9}]
    assert room.snapshot()["ai"]["seconds"] == 3.0
    assert room.snapshot(viewer=ana.id)["ai"]["guesses"] == [{"word": "bicycle", "p": 0.9}]
    clock.advance(2)
    room.submit_guess(ben.id, "bicycle")
    over = [e for e in room.drain() if e.name == "round_over"][0].payload
    assert over["ai_seconds"] == 3.0 and over["class_seconds"] == 6.0 and over["first"] == "ai"
    assert room.snapshot()["ai"]["guesses"][0]["word"] == "bicycle"  # shown once the round is over
    gallery = room.gallery()[0]
    assert gallery["word"] == "bicycle" and gallery["ai_seconds"] == 3.0 and gallery["guessed_by"] == ben.id
    assert [d["player"] for d in gallery["drawings"]] == [ana.id] and gallery["drawings"][0]["recognized"] is True


def test_pictionary_kicking_the_drawer_ends_the_round():
    room, (ana, ben, cleo), clock = pictionary()
    room.kick(room.host_token, ana.id)
    assert room.round.reason == "drawer_left"
    room.skip(room.host_token)
    assert room.round.drawer == ben.id


def test_pictionary_with_the_teacher_drawing():
    rooms, room, (ana,), clock = room_with(("Ana",), mode=PICTIONARY)
    room.configure(room.host_token, rounds=1, words=["cat"], host_draws=True)
    room.start(room.host_token)
    assert room.round.drawer == HOST
    assert [e for e in room.drain() if e.name == "your_word"][0].to == HOST
    clock.advance(3)
    room.add_ink(HOST, 0, 0, line())
    assert room.snapshot(viewer=HOST)["round"]["word"] == "cat"
    assert room.submit_guess(ana.id, "cat") == "correct"
    assert ana.score == 100 and [e["nickname"] for e in room.leaderboard()] == ["Ana"]  # the teacher is not ranked


# --- the room's life -----------------------------------------------------------


def test_the_room_outlives_the_hosts_tab_then_expires():
    clock = Clock()
    rooms = registry(clock, host_grace=600)
    room = rooms.create()
    room.host_connected(True)
    ana = room.join("Ana")
    room.host_connected(False)  # the projector tab closed
    clock.advance(599)
    assert rooms.expire() == []
    assert rooms.host(room.code, room.host_token, "teacher") is room  # the teacher is back
    refused("not_host", rooms.host, room.code, ana.token, "teacher")
    clock.advance(10_000)
    assert rooms.expire() == []  # the host is here: the room stays
    room.host_connected(False)
    clock.advance(601)
    other = rooms.create()
    assert rooms.expire() == [room] and len(rooms) == 1
    assert room.drain()[-1] == Event(None, "closed", {"code": "teacher_away",
                                                      "reason": "the teacher has been away too long"})
    refused("no_room", rooms.find, room.code, "phone")
    refused("no_room", rooms.get, room.code)
    assert rooms.get(other.code) is other  # other rooms untouched


def test_a_room_whose_host_never_connects_expires_too():
    clock = Clock()
    rooms = registry(clock, host_grace=600)
    rooms.create()
    clock.advance(601)
    assert len(rooms.expire()) == 1


def test_the_teacher_can_close_the_room():
    rooms, room, (ana,), clock = room_with(("Ana",))
    refused("not_host", rooms.close, room.code, ana.token)
    rooms.close(room.code, room.host_token)
    assert len(rooms) == 0 and room.drain()[-1] == Event(None, "closed", {"code": "closed_by_teacher",
                                                                          "reason": "closed by the teacher"})


def test_rooms_do_not_touch_each_other():
    rooms, room, (ana,), clock = room_with(("Ana",))
    other = rooms.create()
    assert other.code != room.code
    other.join("Ana")  # the same nickname elsewhere is fine
    refused("not_host", other.start, room.host_token)
    refused("no_player", other.rejoin, ana.token)
    refused("no_room", rooms.join, "ZZZZ3" if room.code != "ZZZZ3" else "ZZZZ4", "phone", token=ana.token)


def test_one_address_opens_a_few_rooms_until_those_it_left_expire():
    clock = Clock()
    rooms = registry(clock, rooms_per_client=2)
    first, second = rooms.create(RACE, "10.0.0.1"), rooms.create(PICTIONARY, "10.0.0.1")
    refused("too_many_rooms_from_you", rooms.create, RACE, "10.0.0.1")
    rooms.create(RACE, "10.0.0.2").host_connected(True)  # another address is not held up
    rooms.close(first.code, first.host_token)  # closing one makes room for another
    third = rooms.create(RACE, "10.0.0.1")
    refused("too_many_rooms_from_you", rooms.create, RACE, "10.0.0.1")
    # Left behind (the creator's tab gone): the host-away expiry frees the address.
    third.host_connected(True)
    clock.advance(CONFIG.host_grace / 2)
    third.host_connected(False)
    clock.advance(CONFIG.host_grace / 2 + 1)
    assert rooms.expire() == [second]
    rooms.create(RACE, "10.0.0.1")
    refused("too_many_rooms_from_you", rooms.create, RACE, "10.0.0.1")
    clock.advance(CONFIG.host_grace / 2)
    assert rooms.expire() == [third]
    rooms.create(RACE, "10.0.0.1")


def test_too_many_rooms_are_refused():
    rooms = registry(max_rooms=2)
    rooms.create()
    rooms.create()
    refused("too_many_rooms", rooms.create)
    refused("bad_payload", registry().create, "chess")


def test_a_lesson_between_games_teaches_without_a_podium_and_the_room_goes_back():
    """The teach mode (Room.teach): every phone draws the word, the AI guesses nothing, and
    when the round ends the room is where it was (phase, mode, scores), with `learning` for
    the transport; once `learned`, the word may be dealt."""
    room, (ana, ben, cleo, dan), clock = started(("Ana", "Ben", "Cleo", "Dan"), mode=PICTIONARY, words=("cat",))
    room.end(room.host_token)
    everyone = (ana, ben, cleo, dan)
    scores = [p.score for p in everyone]
    room.drain()
    assert room.teach(room.host_token, "  Axolotl ") == "Axolotl"
    r = [e for e in room.drain() if e.name == "round"][0].payload
    assert (r["mode"], r["word"], r["players"], r["seconds"]) == ("teach", "Axolotl", [p.id for p in everyone], 20.0)
    clock.advance(CONFIG.starts_in)
    for p in everyone:
        room.add_ink(p.id, 0, 0, line(), seq=1)
        assert room.inference_request(p.id) is None  # the AI does not know the word yet
    room.clear(cleo.id, 0)  # an empty canvas teaches nothing
    clock.advance(20)
    room.tick()
    events = room.drain()
    assert names(events)[:2] == ["round_over", "learning"] and "game_over" not in names(events)
    assert events[1].payload == {"word": "Axolotl", "drawings": 3}
    assert len(room.teach_drawings(room.round)) == 3
    assert (room.phase, room.mode.name, [p.score for p in everyone]) == ("ended", PICTIONARY, scores)
    refused("unknown_words", room.configure, room.host_token, words=["axolotl"])
    room.learned("Axolotl", 3)
    assert [e.name for e in room.drain()] == ["learned", "room"] and room.state()["taught"] == ["Axolotl"]
    assert room.configure(room.host_token, rounds=1, words=["axolotl"])["words"] == ["Axolotl"]
    refused("bad_payload", room.configure, room.host_token, mode="teach")  # not a game's mode
