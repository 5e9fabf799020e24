"""The game's rules (game/solo/rules.py) under a fake clock: no model, no server."""
from __future__ import annotations

import random

import pytest

from game.protocol import MAX_POINTS_PER_DRAWING, MAX_POINTS_PER_MESSAGE, GameError
from game.solo.rules import Game, GameRegistry, Settings
from game.protocol import RECOGNITION_THRESHOLD as T

DECK = ["cat", "dog", "bicycle", "circle", "house", "tree", "sun", "fish", "car", "star", "moon", "cup"]


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def new_game(clock=None, **settings) -> Game:
    return Game(Settings(**settings), DECK, clock or Clock(), rng=random.Random(0))


def started(clock=None, **settings) -> tuple[Game, Clock]:
    """A game whose first round's clock has just started."""
    clock = clock or Clock()
    game = new_game(clock, **settings)
    clock.advance(game.settings.starts_in)
    game.tick()
    return game, clock


def names(game: Game) -> list[str]:
    return [name for name, _ in game.drain()]


def line(n: int, t0: int = 0) -> list[list[int]]:
    return [[i, 2 * i, t0 + 10 * i] for i in range(n)]


def refused(code: str, call, *args, **kwargs) -> GameError:
    with pytest.raises(GameError) as e:
        call(*args, **kwargs)
    assert e.value.code == code, e.value.message
    return e.value


# --- rounds and time ---------------------------------------------------------


def test_a_default_game_is_six_rounds_of_twenty_seconds_ending_on_time():
    clock = Clock()
    game = new_game(clock)
    events = game.drain()
    assert events == [("round", {"game_id": game.id, "index": 0, "total": 6, "word": game.words[0],
                                 "seconds": 20, "prompt_in": 0.0, "starts_in": 2.0})]
    for i in range(6):
        assert game.round.index == i and game.round.state == "prompt"
        # After a round, its result stays up for the break (3 s) before the next prompt (2 s).
        clock.advance((3 if i else 0) + 2 + 20 - 0.001)
        game.tick()
        assert game.round.state == "drawing" and names(game) == []
        clock.advance(0.001)
        game.tick()
        events = game.drain()
        assert [n for n, _ in events] == (["round_over", "round"] if i < 5 else ["round_over", "game_over"])
        if i < 5:
            assert (events[1][1]["index"], events[1][1]["prompt_in"], events[1][1]["starts_in"]) == (i + 1, 3.0, 5.0)
    assert game.over
    assert [r["word"] for r in game.results] == game.words
    assert all(r["recognized"] is False and r["seconds"] is None and r["skipped"] is False
               for r in game.results)


def test_a_late_tick_starts_the_next_prompt_from_now():
    clock = Clock()
    game = new_game(clock)
    clock.advance(2 + 20 + 5)  # the server stalled: the round ends, the next break starts
    game.tick()
    assert names(game) == ["round", "round_over", "round"]
    assert game.round.index == 1 and game.round.state == "prompt"
    assert (game.round_info()["prompt_in"], game.round_info()["starts_in"]) == (3.0, 5.0)


def test_the_result_stays_up_for_the_break_unless_the_player_goes_on():
    clock = Clock()
    game = new_game(clock, rounds=3, seconds=10)
    game.drain()
    game.skip(0)
    events = game.drain()
    assert [n for n, _ in events] == ["round_over", "round"]
    assert (events[1][1]["prompt_in"], events[1][1]["starts_in"]) == (3.0, 5.0)
    clock.advance(1)
    refused("not_started", game.add_ink, 1, 0, line(2))  # the break: no drawing yet
    assert game.round_info()["prompt_in"] == 2.0
    game.end_break(1)  # "Next": the prompt now, the clock 2 s later; the round is sent again
    assert game.drain() == [("round", {**events[1][1], "prompt_in": 0.0, "starts_in": 2.0})]
    assert game.round_info()["remaining"] == 10.0
    game.end_break(1)  # once the prompt shows: nothing
    assert game.drain() == []
    refused("round_over", game.end_break, 0)
    refused("not_started", game.end_break, 2)
    refused("bad_payload", game.end_break, "1")
    clock.advance(2)
    game.add_ink(1, 0, line(2))
    game.end_break(1)  # while drawing: nothing either
    assert game.drain() == [] and game.round.deadline == clock.t + 10  # the clock kept its time
    game.skip(1)
    game.drain()
    clock.advance(3)  # without "Next" the prompt shows when the break ends
    assert game.round_info()["prompt_in"] == 0 and game.round.state == "prompt"
    clock.advance(2)
    game.tick()
    assert game.round.state == "drawing"
    game.skip(2)
    refused("round_over", game.end_break, 2)  # the game is over


def test_a_game_without_a_break_prompts_at_once():
    game = new_game(rounds=2, break_seconds=0)
    game.drain()
    game.skip(0)
    assert game.drain()[1][1]["prompt_in"] == 0 and game.round_info()["starts_in"] == 2.0


def test_no_word_repeats_within_a_game():
    for seed in range(50):
        game = Game(Settings(rounds=12), DECK, Clock(), rng=random.Random(seed))
        assert len(set(game.words)) == 12 and set(game.words) <= set(DECK)


def test_a_deck_smaller_than_the_game_is_refused():
    refused("bad_payload", Game, Settings(rounds=12), DECK[:5], Clock())


def test_player_words_are_dealt_in_order_and_must_be_known():
    game = Game(Settings(rounds=2, words=("circle", "circle", "cat", "dog")), DECK, Clock(),
                categories=DECK + ["anvil"])
    assert game.words == ["circle", "cat"]
    assert game.settings.public() == {"rounds": 2, "seconds": 20, "words": ["circle", "cat", "dog"]}
    game = Game(Settings(rounds=1, words=["anvil"]), DECK, Clock(), categories=DECK + ["anvil"])
    assert game.words == ["anvil"]  # any known category, not only the deck's
    e = refused("bad_payload", Game, Settings(rounds=1, words=["unicorn"]), DECK, Clock(), categories=DECK)
    assert "unicorn" in e.message
    refused("bad_payload", Settings, rounds=3, words=["cat", "cat", "dog"])  # 2 distinct < 3 rounds


@pytest.mark.parametrize("settings", [
    {"rounds": 0}, {"rounds": 13}, {"rounds": 2.0}, {"rounds": True}, {"rounds": "6"},
    {"seconds": 4}, {"seconds": 61}, {"seconds": float("nan")}, {"seconds": float("inf")}, {"seconds": "20"},
    {"seconds": False}, {"words": "cat"}, {"words": [1, 2, 3, 4, 5, 6]}, {"words": [["cat"]] * 6},
    {"words": ["cat"] * 1001},
])
def test_bad_settings_are_refused(settings):
    refused("bad_payload", Settings, **settings)


def test_seconds_may_be_fractional():
    clock = Clock()
    game = new_game(clock, rounds=1, seconds=7.5)
    clock.advance(2 + 7.5)
    game.tick()
    assert game.over


# --- recognition -------------------------------------------------------------


def test_recognition_ends_the_round_with_the_time_it_took():
    game, clock = started(rounds=2)
    word = game.words[0]
    game.drain()
    game.add_ink(0, 0, line(5), seq=7)
    clock.advance(3.25)
    assert game.record_guesses([(word, T), ("dog", 0.3)], game.inference_request()) is True  # at the threshold
    events = game.drain()
    assert [n for n, _ in events] == ["guess", "round_over", "round"]
    guess, over = events[0][1], events[1][1]
    assert guess == {"game_id": game.id, "round": 0, "seq": 7, "recognized": True, "elapsed": 3.25,
                     "guesses": [{"word": word, "p": T}, {"word": "dog", "p": 0.3}]}
    assert over["recognized"] is True and over["seconds"] == 3.25 and over["skipped"] is False
    assert over["guesses"] == guess["guesses"]
    assert over["drawing"] == [[[0, 1, 2, 3, 4], [0, 2, 4, 6, 8], [0, 10, 20, 30, 40]]]
    assert game.round.index == 1


@pytest.mark.parametrize("guesses", [
    [("WORD", T - 0.01), ("dog", 0.3)],  # below the threshold
    [("dog", 0.6), ("WORD", 0.39)],  # not the top guess
    [("dog", 0.99)],  # another word, however sure
    [],
])
def test_no_recognition_without_the_prompted_word_on_top_above_threshold(guesses):
    game, _ = started()
    word = game.words[0]
    game.add_ink(0, 0, line(3))
    game.drain()
    guesses = [(word if w == "WORD" else w, p) for w, p in guesses]
    assert game.record_guesses(guesses) is False
    assert names(game) == ["guess"]
    assert game.round.state == "drawing"


def test_the_threshold_is_a_setting():
    game, _ = started(threshold=0.9)
    game.add_ink(0, 0, line(3))
    assert game.record_guesses([(game.words[0], 0.89)]) is False
    assert game.record_guesses([(game.words[0], 0.9)]) is True


def test_late_or_stale_guesses_are_ignored():
    game, clock = started(rounds=2)
    word = game.words[0]
    game.add_ink(0, 0, line(3))
    before_undo = game.inference_request()
    game.add_ink(0, 1, line(3))
    game.undo(0)
    game.drain()
    assert game.record_guesses([(word, 0.99)], before_undo) is None  # for a drawing since undone
    grown = game.inference_request()
    game.add_ink(0, 0, line(2, t0=100))  # more ink after the request: its guesses still count
    assert game.record_guesses([("dog", 0.5)], grown) is False
    assert names(game) == ["guess"]
    clock.advance(20)  # time is up, even if no tick has run yet
    assert game.record_guesses([(word, 0.99)], game.inference_request()) is None
    assert names(game) == ["round_over", "round"]
    assert game.results[0]["recognized"] is False


def test_nothing_to_classify_before_ink_or_after_clear():
    game, _ = started()
    assert game.inference_request() is None
    game.add_ink(0, 0, line(3), seq=4)
    request = game.inference_request()
    assert (request.round, request.seq, request.drawing) == (0, 4, [[[0, 1, 2], [0, 2, 4], [0, 10, 20]]])
    request.drawing[0][0].append(99)  # a copy: the worker thread reads it unlocked
    assert game.round.strokes[0][0] == [0, 1, 2]
    game.clear(0)
    assert game.inference_request() is None


# --- ink -----------------------------------------------------------------------


def test_stroke_index_rules():
    game, _ = started()
    refused("bad_payload", game.add_ink, 0, 1, line(2))  # the first stroke is 0
    game.add_ink(0, 0, line(2))
    game.add_ink(0, 0, line(2, t0=20))  # continue the last stroke
    game.add_ink(0, 1, line(2, t0=100))  # a new one
    refused("bad_payload", game.add_ink, 0, 0, line(2))  # not the last stroke any more
    refused("bad_payload", game.add_ink, 0, 3, line(2))  # skips an index
    refused("bad_payload", game.add_ink, 0, -1, line(2))
    refused("bad_payload", game.add_ink, 0, True, line(2))
    assert [len(s[0]) for s in game.round.strokes] == [4, 2]
    assert game.round.strokes[0][2] == [0, 10, 20, 30]


@pytest.mark.parametrize("points", [
    None, {}, "1,2,3", [], [[1, 2]], [[1, 2, 3, 4]], [(1, 2, 3)], [[1, 2, "3"]], [[1, None, 3]],
    [[True, 2, 3]], [[float("nan"), 2, 3]], [[1, float("inf"), 3]], [[1, 2, float("-inf")]],
    [[1e7, 2, 3]], [[1, 2, 10 ** 400]], [[[1], 2, 3]], [[1, 2, 3], 5], [[1, 2, 3], [1.5, 2, 10 ** 400]],
])
def test_bad_points_are_refused_and_nothing_is_kept(points):
    game, _ = started()
    game.add_ink(0, 0, line(2))
    refused("bad_payload", game.add_ink, 0, 0, points)
    refused("bad_payload", game.add_ink, 0, 1, points)
    assert game.round.strokes == [[[0, 1], [0, 2], [0, 10]]] and game.round.points == 2


def test_point_limits():
    game, _ = started()
    refused("too_many_points", game.add_ink, 0, 0, line(MAX_POINTS_PER_MESSAGE + 1))
    assert game.round.strokes == []
    for i in range(MAX_POINTS_PER_DRAWING // MAX_POINTS_PER_MESSAGE):
        game.add_ink(0, i, line(MAX_POINTS_PER_MESSAGE))
    assert game.round.points == MAX_POINTS_PER_DRAWING
    refused("too_many_points", game.add_ink, 0, 10, line(1))
    game.undo(0)  # room again
    game.add_ink(0, 9, line(MAX_POINTS_PER_MESSAGE))
    assert game.round.points == MAX_POINTS_PER_DRAWING


def test_stroke_limit():
    game, _ = started()
    for i in range(1000):
        game.add_ink(0, i, [[i, i, i]])
    refused("too_many_points", game.add_ink, 0, 1000, [[0, 0, 0]])
    game.add_ink(0, 999, [[1, 1, 1]])  # the last stroke may still grow


def test_ink_only_while_the_round_clock_runs():
    clock = Clock()
    game = new_game(clock, rounds=2)
    e = refused("not_started", game.add_ink, 0, 0, line(2))  # the prompt is showing
    assert "not started" in e.message
    refused("not_started", game.undo, 0)
    refused("not_started", game.clear, 0)
    refused("not_started", game.add_ink, 1, 0, line(2))  # a later round
    clock.advance(2)
    game.add_ink(0, 0, line(2))
    clock.advance(20)
    refused("round_over", game.add_ink, 0, 0, line(2))  # time is up, before any tick
    refused("round_over", game.undo, 0)
    assert game.results[0]["drawing"] == [[[0, 1], [0, 2], [0, 10]]]
    game.skip(1)
    refused("round_over", game.add_ink, 1, 0, line(2))  # the game is over
    refused("round_over", game.skip, 1)
    refused("bad_payload", game.skip, "1")


def test_undo_and_clear():
    game, _ = started()
    game.undo(0)  # nothing to undo: fine
    game.add_ink(0, 0, line(3))
    game.add_ink(0, 1, line(4))
    game.undo(0)
    assert game.round.strokes == [[[0, 1, 2], [0, 2, 4], [0, 10, 20]]] and game.round.points == 3
    game.add_ink(0, 1, line(2))  # the next stroke reuses the undone index
    game.clear(0)
    assert game.round.strokes == [] and game.round.points == 0
    game.add_ink(0, 0, line(1))
    assert game.round.points == 1


def test_erased_ink_takes_its_guesses_with_it():
    game, _ = started(rounds=1)
    game.add_ink(0, 0, line(3))
    game.record_guesses([("dog", 0.3)])
    game.clear(0)
    game.add_ink(0, 0, line(2))
    game.record_guesses([("cup", 0.2)])
    game.undo(0)  # back to an empty canvas
    game.skip(0)
    assert game.results[0]["drawing"] == [] and game.results[0]["guesses"] == []


def test_skip_during_the_prompt_or_the_drawing():
    clock = Clock()
    game = new_game(clock, rounds=3)
    game.drain()
    game.skip(0)  # straight from the prompt
    assert names(game) == ["round_over", "round"]
    clock.advance(3 + 2.5)
    game.add_ink(1, 0, line(2))
    game.skip(1)
    refused("round_over", game.skip, 1)
    refused("not_started", game.skip, 5)
    game.skip(2)
    assert names(game) == ["round_over", "round", "round_over", "game_over"]
    assert [(r["skipped"], r["recognized"], r["seconds"]) for r in game.results] == [(True, False, None)] * 3
    assert game.results[1]["drawing"] == [[[0, 1], [0, 2], [0, 10]]]


# --- pause and results ---------------------------------------------------------


def test_pause_keeps_the_remaining_time():
    clock = Clock()
    game = new_game(clock)
    clock.advance(1.5)  # half a second of prompt left
    game.pause()
    clock.advance(100)
    game.tick()
    assert game.round.state == "prompt" and game.round_info()["starts_in"] == 0.5
    game.resume()
    clock.advance(0.5 + 12)
    game.pause()
    clock.advance(25)
    info = game.round_info()
    assert (info["starts_in"], info["remaining"]) == (0, 8.0)
    game.add_ink(0, 0, line(2))  # a paused game's clock is stopped, not its rules
    game.resume()
    clock.advance(7.9)
    game.tick()
    assert game.round.index == 0
    clock.advance(0.1)
    game.tick()
    assert game.round.index == 1
    game.resume()  # resuming a running game changes nothing
    assert game.round_info()["starts_in"] == 5.0
    game.pause()  # the break stands still too
    clock.advance(60)
    assert (game.round_info()["prompt_in"], game.round_info()["starts_in"]) == (3.0, 5.0)


def test_game_over_results_and_snapshot():
    clock = Clock()
    game = new_game(clock, rounds=3, seconds=10)
    assert game.snapshot() == {"round": {**game.round_info(), "remaining": 10.0}, "drawing": [], "results": []}
    clock.advance(2)
    game.add_ink(0, 0, [[1.5, 2.5, 0]])
    game.add_ink(0, 0, [[3, 4, 16]])
    game.add_ink(0, 1, [[5, 6, 40], [7, 8, 56]])
    clock.advance(4)
    snapshot = game.snapshot()
    assert snapshot["drawing"] == [[[1.5, 3], [2.5, 4], [0, 16]], [[5, 7], [6, 8], [40, 56]]]
    assert snapshot["round"]["remaining"] == 6.0 and snapshot["results"] == []
    game.record_guesses([(game.words[0], 0.8), ("dog", 0.1)])
    game.skip(1)
    clock.advance(3 + 2 + 10)
    game.tick()
    events = game.drain()
    assert events[-1][0] == "game_over"
    results = events[-1][1]["results"]
    assert results == game.results == [payload for name, payload in events if name == "round_over"]
    assert [(r["index"], r["word"], r["recognized"], r["seconds"], r["skipped"]) for r in results] == [
        (0, game.words[0], True, 4.0, False), (1, game.words[1], False, None, True),
        (2, game.words[2], False, None, False)]
    assert results[0]["drawing"] == snapshot["drawing"]
    assert results[0]["guesses"] == [{"word": game.words[0], "p": 0.8}, {"word": "dog", "p": 0.1}]
    assert game.snapshot() == {"round": None, "drawing": [], "results": results}


# --- registry ------------------------------------------------------------------


def test_registry_owners_tokens_and_expiry():
    clock = Clock()
    reg = GameRegistry(clock)
    game = new_game(clock)
    token = reg.add(game, "sid-a")
    assert reg.owned(game.id, "sid-a") is game and reg.sid_of(game.id) == "sid-a"
    refused("not_your_game", reg.owned, game.id, "sid-b")
    refused("no_game", reg.get, "nope")
    refused("not_your_game", reg.resume, game.id, "wrong", "sid-b")
    refused("not_your_game", reg.resume, game.id, None, "sid-b")

    assert reg.disconnect("sid-a") is game and game.paused
    assert reg.disconnect("sid-a") is None
    assert reg.sid_of(game.id) is None
    clock.advance(30)
    assert reg.expire() == []  # 30 s: still there
    assert reg.resume(game.id, token, "sid-b") is game and not game.paused
    assert reg.owned(game.id, "sid-b") is game
    refused("not_your_game", reg.owned, game.id, "sid-a")

    reg.disconnect("sid-b")
    clock.advance(30.1)
    assert reg.expire() == [game.id]
    refused("no_game", reg.get, game.id)
    refused("no_game", reg.resume, game.id, token, "sid-c")
    assert len(reg) == 0


def test_registry_one_game_a_connection_and_takeover():
    clock = Clock()
    reg = GameRegistry(clock)
    first, second = new_game(clock), new_game(clock)
    token = reg.add(first, "a")
    reg.add(second, "a")  # a new game drops the connection's old one
    refused("no_game", reg.get, first.id)
    third = new_game(clock)
    token3 = reg.add(third, "b")
    assert token3 != token
    reg.resume(third.id, token3, "a")  # the token's holder takes the game over...
    refused("no_game", reg.get, second.id)  # ...leaving the connection's other game
    refused("not_your_game", reg.owned, third.id, "b")
    assert reg.disconnect("b") is None  # "b" has no game left
    assert reg.games() == [third]
