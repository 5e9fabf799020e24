"""The replay tool's classroom mode (`python -m game.replay --classroom`): real drawings
through the classroom protocol (docs/classroom.md, namespace /classroom).

Each room is a host client (the teacher's projector) and `players` student clients. The
host creates the room; the students join; the host configures the game (its rounds, its
seconds and a deck of words that have held-out drawings) and starts it. In each round
every student draws a real held-out drawing of the round's word with its original timing
(the solo player's ink messages, `Client.draw`), and times each AI guess against the ink
message that asked for it. The host times the `mosaic`: for each player, how often an
update brings that player's new points, and how long ink takes from a phone to the
projector. The drawing code and figures are game/replay/client.py's, the CLI game/replay/__main__.py.
"""
from __future__ import annotations

import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from game.protocol import ELSEWHERE
from game.replay.client import (Client, ReplayError, client_figures, fetch_words, load_drawings, round_figures,
                                start_all, timing_figures)

NS = "/classroom"
MOSAIC_INTERVAL = 0.25  # the server's default CLASSROOM_MOSAIC_INTERVAL: 4 mosaics a second
# A phone stays this long after game_over, as a real one does: the refusals of its last ink,
# still in flight when the last round ended, come after game_over.
SETTLE_SECONDS = 1.0


def plan_rooms(drawings: dict[str, list], rooms: int, players: int, rounds: int,
               seed: int) -> list[tuple[list[str], list[list]]]:
    """For each room, its deck (`rounds` distinct words) and, for each student, the
    drawing it draws in each round (students of a room draw different drawings)."""
    words = sorted(drawings)
    if len(words) < rounds:
        raise ReplayError(f"need drawings of at least {rounds} words, found {len(words)}")
    rng = random.Random(seed)
    plans = []
    for _ in range(rooms):
        deck = rng.sample(words, rounds)
        offsets = {w: rng.randrange(len(drawings[w])) for w in deck}
        students = [[drawings[w][(offsets[w] + i) % len(drawings[w])] for w in deck] for i in range(players)]
        plans.append((deck, students))
    return plans


class Student(Client):
    """A phone: joins the room and draws its planned drawing in each round."""

    namespace = NS
    game = True  # the rounds are a game's: a game_over ends them

    def __init__(self, url: str, nickname: str, drawings: list, seconds: float):
        super().__init__(url)
        self.nickname, self.drawings, self.seconds = nickname, drawings, seconds
        self.id: str | None = None
        self.rounds: list[dict] = []  # what each round came to for this student
        self.ink: dict[int, list[tuple]] = {}  # round -> its ink messages (Client.draw's log)
        self.joined = threading.Event()  # set once the join is answered, accepted or not
        self.code: str | None = None
        self.name_room = True  # connect naming the room, as join.js does
        self.deck: list[str] = []

    def join(self) -> None:
        """Join the room `self.code` names (the host's)."""
        try:
            if not self.connect(room=self.code if self.name_room else None):
                return
            ack = self.sio.call("join", {"code": self.code, "nickname": self.nickname}, namespace=NS, timeout=15)
            if not ack or not ack.get("ok"):
                raise ReplayError(f"join refused: {ack}")
            self.id = ack["player"]
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.joined.set()

    def run(self) -> None:
        if self.id is None:
            self.sio.disconnect()
            return
        try:
            for index, (word, drawing) in enumerate(zip(self.deck, self.drawings)):
                self.play(index, word, drawing)
            if self.game:
                self._expect("game_over", timeout=30)
                time.sleep(SETTLE_SECONDS)
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.sio.disconnect()

    def play(self, index: int, word: str, drawing: list) -> None:
        """Round `index` of the game: draw, then record what it came to for this student."""
        started = self._expect("round", timeout=90)
        if started["index"] != index or started["word"] != word:
            raise ReplayError(f"round {started['index']} ({started['word']}) came instead of "
                              f"round {index} ({word})")
        self.ink[index] = self.draw(drawing, started, self.seconds, {"round": index})
        over = self._expect("round_over", timeout=self.seconds + started["starts_in"] + 30)
        mine = [r for r in over["results"] if r["player"] == self.id]
        if over["index"] != index or not mine:
            raise ReplayError(f"round_over for round {over['index']} without this player "
                              f"during round {index}")
        self.rounds.append({"word": word, "recognized": mine[0]["recognized"], "seconds": mine[0]["seconds"]})


class Host(Client):
    """The teacher's projector: creates the room, configures and starts the game, and
    records every `mosaic`: per (round, player), when each update brought new points
    and how many points each stroke had reached by then."""

    namespace = NS
    queued = ("game_over",)

    def __init__(self, url: str, deck: list[str], seconds: float):
        super().__init__(url)
        self.deck, self.seconds = deck, seconds
        self.code: str | None = None
        self.mosaics: list[float] = []  # when each mosaic event came
        self.updates: dict[tuple[int, str], list[tuple[float, dict]]] = {}  # (round, player) -> [(at, counts)]
        self._counts: dict[tuple[int, str], dict[int, int]] = {}
        self.sio.on("mosaic", self._on_mosaic, namespace=NS)

    def _on_mosaic(self, payload: dict) -> None:
        at = time.monotonic()
        self.mosaics.append(at)
        for entry in payload.get("drawings", []):
            key = (payload["round"], entry["player"])
            counts = self._counts.setdefault(key, {})
            if entry["reset"]:
                counts.clear()
            new = False
            for index, xs, _ys in entry["strokes"]:
                counts[index] = counts.get(index, 0) + len(xs)
                new = new or bool(xs)
            if new:
                self.updates.setdefault(key, []).append((at, dict(counts)))

    def create(self) -> bool:
        try:
            if not self.connect():
                return False
            ack = self.sio.call("create", {"mode": "race"}, namespace=NS, timeout=15)
            if ack and ack.get("code") == ELSEWHERE:  # another server holds fewer rooms: as the page, move
                self.sio.disconnect()
                if not self.connect(room=ack["route"]):
                    return False
                ack = self.sio.call("create", {"mode": "race", "here": True}, namespace=NS, timeout=15)
            if not ack or not ack.get("ok"):
                raise ReplayError(f"create refused: {ack}")
            self.code = ack["code"]
            return True
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
            return False

    def start_game(self) -> bool:
        """Configure the game (its rounds, seconds and deck) and start it."""
        try:
            for event, data in (("configure", {"rounds": len(self.deck), "seconds": self.seconds,
                                               "words": self.deck}), ("start", {})):
                ack = self.sio.call(event, data, namespace=NS, timeout=15)
                if not ack or not ack.get("ok"):
                    raise ReplayError(f"{event} refused: {ack}")
            return True
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
            self.sio.disconnect()
            return False

    def run(self) -> None:
        """Watch the game to its end."""
        try:
            self._expect("game_over", timeout=(self.seconds + 60) * len(self.deck))
            time.sleep(1.5)  # the last ink's mosaic comes after game_over (later under load)
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.sio.disconnect()


class Teacher(Host):
    """A projector that teaches the AI words instead of playing (docs/classroom.md, "Teaching
    the AI a word"): one teach round after another, each timed from its `round_over` to
    `learned` (the drawings through the model and the word the room's)."""

    queued = ("round", "round_over", "learned", "teach_failed")

    def __init__(self, url: str, words: list[str]):
        super().__init__(url, words, seconds=0)
        self.learning: list[float] = []  # seconds from a teach round's end to its `learned`

    def start_game(self) -> bool:
        return True  # no game: run() teaches

    def run(self) -> None:
        try:
            for word in self.deck:
                ack = self.sio.call("teach", {"word": word}, namespace=NS, timeout=15)
                if not ack or not ack.get("ok"):
                    raise ReplayError(f"teach refused: {ack}")
                started = self._expect("round", timeout=30)
                self._expect("round_over", timeout=started["starts_in"] + started["seconds"] + 30)
                ended = self.received_at
                self._expect("learned", timeout=30)
                self.learning.append(self.received_at - ended)
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.sio.disconnect()


class Learner(Student):
    """A phone in a teach round: draws its planned drawing of each word the teacher teaches.
    Lessons are no game: nothing is recognized or scored, and no `game_over` ends them."""

    queued = ("round", "round_over")
    game = False

    def play(self, index: int, word: str, drawing: list) -> None:
        started = self._expect("round", timeout=90)
        if started.get("mode") != "teach" or started["word"] != word:
            raise ReplayError(f"a {started.get('mode')} round of {started['word']} came instead of "
                              f"the lesson of {word}")
        self.ink[index] = self.draw(drawing, started, started["seconds"], {"round": started["index"]})
        self._expect("round_over", timeout=started["seconds"] + started["starts_in"] + 30)


def mosaic_figures(hosts: list[Host], rooms: list[list[Student]],
                   interval: float = MOSAIC_INTERVAL) -> dict[str, Any]:
    """Per player: the mosaic's rate (updates that bring the player's new points, per
    second of drawing: of time within `interval` after one of its ink messages, so a
    projector that keeps up scores about 1 / interval) and its lag (an ink message sent ->
    the first mosaic whose stroke holds its points)."""
    rates, lags, missing = [], [], 0
    for host, students in zip(hosts, rooms):
        for s in students:
            if s.id is None:
                continue
            updates, drawing, unseen = 0, 0.0, 0
            for index, log in s.ink.items():
                seen = host.updates.get((index, s.id), [])
                updates += len(seen)
                edge = None  # the end of the time counted so far
                for seq, stroke, count, sent in log:
                    if seq in s.refused_seqs:  # the server refused it (late): no ink to show
                        continue
                    start = sent if edge is None else max(sent, edge)
                    edge = sent + interval
                    drawing += max(0.0, edge - start)
                    at = next((t for t, counts in seen if t >= sent and counts.get(stroke, 0) >= count), None)
                    if at is None:
                        unseen += 1
                    else:
                        lags.append(at - sent)
            missing += unseen
            if drawing > 0:
                rates.append(updates / drawing)
    return {
        "mosaic_events": sum(len(h.mosaics) for h in hosts),
        "mosaic_hz_min": round(min(rates), 2) if rates else None,
        "mosaic_hz_median": round(statistics.median(rates), 2) if rates else None,
        **timing_figures("mosaic_lag", lags),
        "mosaic_missing_ink": missing,  # ink messages the projector never showed
    }


def replay_classroom(url: str, data: Path, players: int = 2, rooms: int = 1, rounds: int = 6,
                     seconds: float = 20, split: str = "test", per_word: int = 50,
                     words: list[str] | None = None, seed: int = 0, lessons: int = 0,
                     name_room: bool = True) -> dict[str, Any]:
    """`rooms` classrooms of `players` students at once; the figures as a dict. With `lessons`,
    one more room of `players` at the same time teaches the AI that many new words, its
    students drawing real drawings for each (their ink and errors count with the others').
    Without `name_room`, phones connect without naming their room (`?room=`), so that
    behind nginx they spread over the servers as they did before join.js named it."""
    if not data.is_dir():
        raise ReplayError(f"no data folder at {data} (Google's raw ndjson, e.g. ../shared/quickdraw/raw)")
    drawings = load_drawings(data, words or fetch_words(url), split, per_word)
    plans = plan_rooms(drawings, rooms, players, rounds, seed)
    start = time.monotonic()
    hosts = [Host(url, deck, seconds) for deck, _ in plans]
    classes = [[Student(url, f"Player {i + 1}", mine, seconds) for i, mine in enumerate(students)]
               for _, students in plans]
    teachers = []
    if lessons:
        _, drawn = plan_rooms(drawings, 1, players, lessons, seed + 1)[0]
        teachers = [Teacher(url, [f"lesson {i + 1}" for i in range(lessons)])]
        hosts.append(teachers[0])
        classes.append([Learner(url, f"Learner {i + 1}", mine, 0) for i, mine in enumerate(drawn)])
    for host, students in zip(hosts, classes):
        if host.create():
            for s in students:
                s.code, s.deck, s.name_room = host.code, host.deck, name_room
    everyone = [s for students in classes for s in students if s.code is not None]
    start_all([s.join for s in everyone])
    for s in everyone:
        s.joined.wait(30)
    # Each host starts its game once its class has joined; a room it cannot start is let go.
    threads = []
    for host, students in zip(hosts, classes):
        if host.code is not None and host.start_game():
            threads += start_all([host.run, *(s.run for s in students)], join=False, stagger=0)
        else:
            for s in students:
                s.sio.disconnect()
    for t in threads:
        t.join()
    students = [s for c in classes for s in c]
    result = {"rooms": rooms, "codes": [h.code for h in hosts[:rooms]], "players": players,
              "players_joined": sum(s.id is not None for s in students),
              "words": len(drawings), "distinct_drawings": sum(len(v) for v in drawings.values()),
              **round_figures([r for s in students for r in s.rounds], rooms * players * rounds),
              **client_figures([*hosts, *students], time.monotonic() - start),
              **mosaic_figures(hosts[:rooms], classes[:rooms])}
    if lessons:
        learning = [x for t in teachers for x in t.learning]
        result.update(lessons=lessons, lessons_learned=len(learning), **timing_figures("learning", learning))
    return result

