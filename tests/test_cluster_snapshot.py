"""Snapshots (game/cluster/snapshot.py): a room or a game rebuilt from its bytes plays on as
the original would; the process's own objects come back as the loading process's; a
snapshot signed with another key is refused before it is unpickled. No Redis needed."""
from __future__ import annotations

import pickle
import random
import threading

import pytest

from fakes import CATEGORIES, Clock
from game.classroom.modes import RACE
from game.classroom.rules import HOST, RoomConfig, RoomRegistry
from game.cluster.snapshot import BadSnapshot, Codec
from game.solo.rules import Game, Settings


def test_a_room_rebuilt_from_its_snapshot_plays_on_as_the_original():
    clock = Clock()
    config = RoomConfig(starts_in=3.0, break_seconds=5.0)
    rooms = RoomRegistry(clock, random.Random(0), deck=["cat", "dog"], categories=CATEGORIES, config=config)
    room = rooms.create(RACE)
    room.host_connected(True)
    players = [room.join(n) for n in ("Ana", "Ben")]
    room.configure(room.host_token, rounds=2, seconds=20, words=["cat", "dog"])
    room.start(room.host_token)
    clock.advance(config.starts_in)
    room.tick()
    room.add_ink(players[0].id, 0, 0, [[0, 0, 0], [10, 10, 10]], 1)
    room.drain()
    codec = Codec("a secret", {"clock": clock, "filter": rooms.words_filter})

    copy = codec.loads(codec.dumps(room))
    assert copy.snapshot(HOST, drawings=True) == room.snapshot(HOST, drawings=True)
    assert copy._clock is clock and copy._filter is rooms.words_filter  # this process's own
    assert isinstance(copy.lock, type(threading.RLock())) and copy.lock is not room.lock
    for r in (room, copy):  # the same commands give the same events
        r.add_ink(players[1].id, 0, 0, [[5, 5, 0], [9, 9, 40]], 1)
        r.record_guesses(players[0].id, [("cat", 0.9), ("dog", 0.05)])
    clock.advance(25)
    for r in (room, copy):
        r.tick()
    assert copy.drain() == room.drain()
    assert copy.leaderboard() == room.leaderboard()


def test_a_game_and_its_token_travel_together():
    clock = Clock()
    game = Game(Settings(rounds=2, words=("cat", "dog")), ["cat", "dog"], clock)
    game.drain()
    codec = Codec(b"a secret", {"clock": clock})
    copy, token = codec.loads(codec.dumps((game, "the token")))
    assert token == "the token" and copy.id == game.id and copy.snapshot() == game.snapshot()


def test_a_snapshot_signed_with_another_key_is_refused_unread():
    blob = Codec("a secret", {}).dumps({"x": 1})
    with pytest.raises(BadSnapshot, match="DOODLE_SECRET_KEY"):
        Codec("another", {}).loads(blob)
    forged = blob[:32] + pickle.dumps({"x": 2})
    with pytest.raises(BadSnapshot):
        Codec("a secret", {}).loads(forged)


def test_a_snapshot_names_the_process_s_own_objects_for_its_codec_alone():
    clock = Clock()
    game = Game(Settings(rounds=2, words=("cat", "dog")), ["cat", "dog"], clock)
    blob = Codec("a secret", {"clock": clock}).dumps(game)
    other = Clock()
    assert Codec("a secret", {"clock": other}).loads(blob)._clock is other
    with pytest.raises(pickle.UnpicklingError, match="'clock' is a process's own object"):
        pickle.loads(blob[32:])  # without the Codec
