"""The solo game's rules, as plain Python: no Flask app, no Socket.IO, no model (refusals are
worded through flask_babel's gettext, as game/protocol.py says).

The transport (`game.solo.transport`) feeds a `Game` commands and classifier guesses and sends
out whatever the game put in its outbox (`drain()`); the clock is injected, so the
rules run the same under a test's fake clock as under `time.monotonic`
(boardgame.io's split of game logic and transport). docs/protocol.md is the contract.

    game = Game(Settings(rounds=6), deck, clock=time.monotonic)
    game.drain()                          # [("round", {...})]
    game.add_ink(0, stroke=0, points=[[x, y, t], ...], seq=1)
    game.record_guesses([("cat", 0.8), ...], game.inference_request())
    game.tick()                           # timeouts, next rounds

Between two rounds the last result stays on the player's screen for `break_seconds`: the
next `round` is sent as the last one ends, its `prompt_in` saying when its prompt card
replaces the result, and `end_break` (the player's "Next") shows it at once.
"""
from __future__ import annotations

import hmac
import random
import secrets
import threading
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

from flask_babel import gettext as _

from game.protocol import (BAD_PAYLOAD, MAX_COORDINATE, MAX_POINTS_PER_DRAWING, MAX_POINTS_PER_MESSAGE, MAX_ROUNDS,
                           MAX_SECONDS, MAX_STROKES, MAX_WORDS, MIN_SECONDS, NO_GAME, NOT_STARTED, NOT_YOUR_GAME,
                           RECOGNITION_THRESHOLD, RESUME_SECONDS, ROUND_OVER, TOO_MANY_POINTS, Clock, GameError,
                           finite_numbers, is_number, is_recognized)

@dataclass(frozen=True)
class Settings:
    """A game's settings: `rounds`, `seconds` and `words` are the player's (new_game),
    `starts_in` (the prompt card), `break_seconds` (a round's result, before the next
    prompt) and `threshold` the server's."""

    rounds: int = 6
    seconds: float = 20
    words: tuple[str, ...] | None = None
    starts_in: float = 2.0
    threshold: float = RECOGNITION_THRESHOLD
    break_seconds: float = 3.0

    def __post_init__(self):
        if type(self.rounds) is not int or not 1 <= self.rounds <= MAX_ROUNDS:
            raise GameError(BAD_PAYLOAD, _("rounds must be an integer from 1 to %(max)s", max=MAX_ROUNDS))
        if not is_number(self.seconds) or not MIN_SECONDS <= self.seconds <= MAX_SECONDS:
            raise GameError(BAD_PAYLOAD, _("seconds must be a number from %(min)s to %(max)s", min=MIN_SECONDS, max=MAX_SECONDS))
        if self.words is not None:
            if not isinstance(self.words, (list, tuple)) or len(self.words) > MAX_WORDS:
                raise GameError(BAD_PAYLOAD, _("words must be a list of at most %(max)s words", max=MAX_WORDS))
            if not all(isinstance(w, str) for w in self.words):
                raise GameError(BAD_PAYLOAD, _("words must be strings"))
            # Distinct, in the order given: the player's list is dealt in order.
            object.__setattr__(self, "words", tuple(dict.fromkeys(self.words)))
            if len(self.words) < self.rounds:
                raise GameError(BAD_PAYLOAD, _("words must hold at least %(rounds)s distinct words (one a round), got %(got)s",
                                               rounds=self.rounds, got=len(self.words)))

    def public(self) -> dict:
        return {"rounds": self.rounds, "seconds": self.seconds,
                "words": list(self.words) if self.words is not None else None}


class InferenceRequest(NamedTuple):
    """What the classifier should look at, and which drawing its answer belongs to."""

    round: int
    epoch: int  # bumped by undo and clear: guesses for an older drawing are stale
    seq: int | None
    drawing: list


PROMPT, DRAWING, OVER = "prompt", "drawing", "over"


@dataclass
class Round:
    index: int
    word: str
    shows_at: float  # game time the prompt card shows (after the last round's result)
    starts_at: float  # game time the round's clock starts (after the prompt)
    deadline: float
    state: str = PROMPT
    strokes: list = field(default_factory=list)  # Google's raw format: [[xs], [ys], [ts]]
    points: int = 0
    epoch: int = 0
    seq: int | None = None  # the last ink message's seq
    guesses: list = field(default_factory=list)  # the last guesses, [{"word", "p"}]
    recognized: bool = False
    seconds: float | None = None
    skipped: bool = False


class Game:
    """One player's game. Not thread-safe by itself: threads that share a game hold
    `game.lock` around each call and the `drain()` that follows it."""

    def __init__(self, settings: Settings, deck: Sequence[str], clock: Clock,
                 categories: Iterable[str] | None = None, rng: random.Random | None = None):
        self.id = secrets.token_urlsafe(9)
        self.settings = settings
        self.lock = threading.RLock()
        self._clock = clock
        self._paused_at: float | None = None
        self._paused_for = 0.0
        self._outbox: list[tuple[str, dict]] = []
        self.rounds: list[Round] = []
        if settings.words is not None:
            known = set(categories if categories is not None else deck)
            unknown = [w for w in settings.words if w not in known]
            if unknown:
                raise GameError(BAD_PAYLOAD, _("unknown words: %(words)s", words=", ".join(map(repr, unknown[:5]))))
            self.words = list(settings.words[:settings.rounds])
        else:
            if len(set(deck)) < settings.rounds:
                raise GameError(BAD_PAYLOAD, _("the deck has only %(n)s words", n=len(set(deck))))
            self.words = (rng or random.Random()).sample(sorted(set(deck)), settings.rounds)
        self._start_round(0)

    # --- time ----------------------------------------------------------------

    def _now(self) -> float:
        """Game time: the injected clock, stopped while the game is paused."""
        now = self._paused_at if self._paused_at is not None else self._clock()
        return now - self._paused_for

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def pause(self, at: float | None = None) -> None:
        """Stop the game's clock, now or since clock time `at` (a game rebuilt from a
        snapshot: its server stopped after that)."""
        if self._paused_at is None:
            self._paused_at = self._clock() if at is None else at

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_for += self._clock() - self._paused_at
            self._paused_at = None

    # --- state ---------------------------------------------------------------

    @property
    def over(self) -> bool:
        return self.round.state == OVER  # a new round starts as soon as one ends, but the last

    @property
    def round(self) -> Round:
        """The current round (the last one once the game is over)."""
        return self.rounds[-1]

    @property
    def results(self) -> list[dict]:
        return [self._result(r) for r in self.rounds if r.state == OVER]

    def drain(self) -> list[tuple[str, dict]]:
        """The events produced since the last drain, oldest first: (name, payload)."""
        out, self._outbox = self._outbox, []
        return out

    def round_info(self) -> dict:
        """The current round as the `round` event shows it, with the time left now:
        `prompt_in` (the last result's break), `starts_in` (break and prompt) and
        `remaining` (the round's clock)."""
        self._advance()
        r, now = self.round, self._now()
        return {**self._round_event(r), "remaining": round(max(0.0, r.deadline - max(now, r.starts_at)), 3)}

    def snapshot(self) -> dict:
        """What `resume` acknowledges: the round (None once the game is over), the
        drawing so far and the rounds already over."""
        self._advance()
        return {"round": None if self.over else self.round_info(),
                "drawing": [] if self.over else self._copy(self.round.strokes),
                "results": self.results}

    # --- commands ------------------------------------------------------------

    def tick(self) -> None:
        """Start round clocks and end rounds whose time is up."""
        self._advance()

    def add_ink(self, round: int, stroke: int, points, seq: int | None = None) -> None:
        """Append points ([x, y, t] each) to stroke `stroke`: the last stroke, or a new
        one with the next index. Nothing is kept when anything is refused."""
        self._check_points(points)
        r = self._drawing_round(round)
        n = len(r.strokes)
        if type(stroke) is not int or stroke not in (n - 1, n):
            raise GameError(BAD_PAYLOAD, _("stroke must be %(new)s (a new stroke) or %(last)s (the last one)", new=n, last=n - 1) if n
                                  else _("stroke must be %(new)s (a new stroke)", new=n))
        if r.points + len(points) > MAX_POINTS_PER_DRAWING:
            raise GameError(TOO_MANY_POINTS, _("a drawing holds at most %(max)s points", max=MAX_POINTS_PER_DRAWING))
        if stroke == n:
            if n >= MAX_STROKES:
                raise GameError(TOO_MANY_POINTS, _("a drawing holds at most %(max)s strokes", max=MAX_STROKES))
            r.strokes.append([[], [], []])
        xs, ys, ts = r.strokes[stroke]
        for x, y, t in points:
            xs.append(x)
            ys.append(y)
            ts.append(t)
        r.points += len(points)
        r.seq = seq

    def undo(self, round: int) -> None:
        """Remove the last stroke (nothing happens when there is none)."""
        r = self._drawing_round(round)
        if r.strokes:
            r.points -= len(r.strokes.pop()[0])
        if not r.strokes:
            r.guesses = []  # the round's result must not show guesses for erased ink
        r.epoch += 1

    def clear(self, round: int) -> None:
        r = self._drawing_round(round)
        r.strokes, r.points, r.guesses = [], 0, []
        r.epoch += 1

    def skip(self, round: int) -> None:
        """Give up the round, during its prompt or its clock."""
        r = self._current_round(round)
        r.skipped = True
        self._end_round(r)

    def end_break(self, round: int) -> None:
        """The player has read the last result ("Next"): round `round`'s prompt shows now
        instead of at the end of the break, its clock `starts_in` later, and its `round`
        event is sent again with the new times. Nothing happens once the prompt shows."""
        r = self._current_round(round)
        now = self._now()
        if r.state != PROMPT or now >= r.shows_at:
            return
        r.shows_at, r.starts_at = now, now + self.settings.starts_in
        r.deadline = r.starts_at + self.settings.seconds
        self._outbox.append(("round", self._round_event(r)))

    def inference_request(self) -> InferenceRequest | None:
        """The current drawing for the classifier; None when there is nothing to look at."""
        r = self.round
        if r.state != DRAWING or not r.strokes:
            return None
        return InferenceRequest(r.index, r.epoch, r.seq, self._copy(r.strokes))

    def record_guesses(self, guesses: Sequence[tuple[str, float]],
                       request: InferenceRequest | None = None) -> bool | None:
        """Judge the classifier's guesses (best first) for `request`'s drawing (default:
        the drawing as it is now). Emits `guess`, and ends the round when the prompted word
        is the top guess with p >= threshold. Returns whether it was recognized, or None
        when the guesses came too late (round over, or the drawing was undone/cleared)."""
        self._advance()
        r = self.round
        if r.state != DRAWING or (request is not None and (request.round, request.epoch) != (r.index, r.epoch)):
            return None
        r.guesses = [{"word": w, "p": round(float(p), 4)} for w, p in guesses]
        recognized = is_recognized(guesses, r.word, self.settings.threshold)
        elapsed = round(self._now() - r.starts_at, 3)
        self._outbox.append(("guess", {
            "game_id": self.id, "round": r.index,
            "seq": request.seq if request is not None else r.seq,
            "guesses": r.guesses, "recognized": recognized, "elapsed": elapsed}))
        if recognized:
            r.recognized, r.seconds = True, elapsed
            self._end_round(r)
        return recognized

    # --- internals -----------------------------------------------------------

    @staticmethod
    def _copy(strokes: list) -> list:
        return [[list(axis) for axis in s] for s in strokes]

    @staticmethod
    def _check_points(points) -> None:
        if not isinstance(points, list) or not points:
            raise GameError(BAD_PAYLOAD, _("points must be a non-empty list of [x, y, t]"))
        if len(points) > MAX_POINTS_PER_MESSAGE:
            raise GameError(TOO_MANY_POINTS, _("at most %(max)s points a message", max=MAX_POINTS_PER_MESSAGE))
        # One check over the whole message's values (a call a point cost twice as much).
        if (not all(isinstance(p, list) and len(p) == 3 for p in points)
                or not finite_numbers([v for p in points for v in p])):
            raise GameError(BAD_PAYLOAD, _("each point must be [x, y, t], finite numbers of at most %(max)s in size",
                                           max=f"{MAX_COORDINATE:g}"))

    def _current_round(self, index) -> Round:
        self._advance()
        if type(index) is not int:
            raise GameError(BAD_PAYLOAD, _("round must be an integer"))
        r = self.round
        if self.over:
            raise GameError(ROUND_OVER, _("the game is over"))
        if index < r.index:
            raise GameError(ROUND_OVER, _("round %(index)s is over", index=index))
        if index > r.index:
            raise GameError(NOT_STARTED, _("round %(index)s has not started", index=index))
        return r

    def _drawing_round(self, index) -> Round:
        r = self._current_round(index)
        if r.state == PROMPT:
            raise GameError(NOT_STARTED, _("round %(index)s's clock has not started", index=index))
        return r

    def _round_event(self, r: Round) -> dict:
        now = self._now()
        return {"game_id": self.id, "index": r.index, "total": self.settings.rounds, "word": r.word,
                "seconds": self.settings.seconds, "prompt_in": round(max(0.0, r.shows_at - now), 3),
                "starts_in": round(max(0.0, r.starts_at - now), 3)}

    def _result(self, r: Round) -> dict:
        return {"game_id": self.id, "index": r.index, "word": r.word, "recognized": r.recognized,
                "seconds": r.seconds, "drawing": self._copy(r.strokes), "guesses": r.guesses,
                "skipped": r.skipped}

    def _start_round(self, index: int, pause: float = 0.0) -> None:
        """Deal round `index`: its prompt shows `pause` seconds from now (the last round's
        result stays up meanwhile), its clock starts `starts_in` after that."""
        shows_at = self._now() + pause
        starts_at = shows_at + self.settings.starts_in
        r = Round(index, self.words[index], shows_at, starts_at, starts_at + self.settings.seconds)
        self.rounds.append(r)
        self._outbox.append(("round", self._round_event(r)))

    def _end_round(self, r: Round) -> None:
        r.state = OVER
        self._outbox.append(("round_over", self._result(r)))
        if r.index + 1 < self.settings.rounds:
            self._start_round(r.index + 1, self.settings.break_seconds)
        else:
            self._outbox.append(("game_over", {"game_id": self.id, "results": self.results}))

    def _advance(self) -> None:
        """Catch the current round up with the clock; every command calls this first, so
        nothing is accepted after the deadline even between two ticks."""
        r, now = self.round, self._now()
        if r.state == PROMPT and now >= r.starts_at:
            r.state = DRAWING
        if r.state == DRAWING and now >= r.deadline:
            self._end_round(r)  # the next round's break starts now, however late the tick


class GameRegistry:
    """The games being played, by id, with their secret token and their player's
    connection (`sid`, any string). Thread-safe. A game whose player has been gone more
    than `grace` seconds is dropped by `expire()`.

    Lock order: a game's lock, then the registry's."""

    def __init__(self, clock: Clock, grace: float = RESUME_SECONDS):
        self._clock = clock
        self.grace = grace
        self._lock = threading.Lock()
        self._games: dict[str, Game] = {}
        self._tokens: dict[str, str] = {}
        self._sid_of: dict[str, str] = {}  # game id -> sid
        self._game_of: dict[str, str] = {}  # sid -> game id
        self._gone_since: dict[str, float] = {}  # game id -> when its player left

    def __len__(self) -> int:
        return len(self._games)

    def add(self, game: Game, sid: str) -> str:
        """Register `game` as `sid`'s game and return its token. One game a connection:
        the connection's previous game, if any, is dropped."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            old = self._game_of.get(sid)
            if old is not None:
                self._drop(old)
            self._games[game.id] = game
            self._tokens[game.id] = token
            self._bind(game.id, sid)
        return token

    def get(self, game_id: str) -> Game:
        with self._lock:
            game = self._games.get(game_id)
        if game is None:
            raise GameError(NO_GAME, _("no such game (it ended or expired)"))
        return game

    def owned(self, game_id: str, sid: str) -> Game:
        """`game_id`'s game if `sid` is its player."""
        game = self.get(game_id)
        if self.sid_of(game_id) != sid:
            raise GameError(NOT_YOUR_GAME, _("this game belongs to another connection"))
        return game

    def token_of(self, game_id: str) -> str | None:
        with self._lock:
            return self._tokens.get(game_id)

    def adopt(self, game: Game, token: str) -> None:
        """Hold `game`, rebuilt from another server's snapshot, with its player away until
        `resume` (replacing any copy of it held here, which is older)."""
        with self._lock:
            self._drop(game.id)
            self._games[game.id] = game
            self._tokens[game.id] = token
            self._gone_since[game.id] = self._clock()

    def discard(self, game_id: str) -> None:
        """Stop holding a game (another server holds it now)."""
        with self._lock:
            self._drop(game_id)

    def sid_of(self, game_id: str) -> str | None:
        with self._lock:
            return self._sid_of.get(game_id)

    def games(self) -> list[Game]:
        with self._lock:
            return list(self._games.values())

    def disconnect(self, sid: str) -> Game | None:
        """The player left: pause their game and start its grace period."""
        with self._lock:
            game = self._games.get(self._game_of.get(sid, ""))
        if game is None:
            return None
        with game.lock, self._lock:
            if self._sid_of.get(game.id) != sid:
                return None  # resumed elsewhere in the meantime
            del self._sid_of[game.id], self._game_of[sid]
            self._gone_since[game.id] = self._clock()
            game.pause()
        return game

    def resume(self, game_id: str, token: str, sid: str) -> Game:
        """Hand the game to connection `sid` (the token proves it is the player's) and
        let its clock run again."""
        game = self.get(game_id)
        with game.lock, self._lock:
            if game_id not in self._games:
                raise GameError(NO_GAME, _("no such game (it ended or expired)"))
            if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._tokens[game_id].encode()):
                raise GameError(NOT_YOUR_GAME, _("wrong token for this game"))
            old_game = self._game_of.get(sid)
            if old_game is not None and old_game != game_id:
                self._drop(old_game)
            old_sid = self._sid_of.get(game_id)
            if old_sid is not None:
                del self._game_of[old_sid]
            self._bind(game_id, sid)
            game.resume()
        return game

    def expire(self) -> list[str]:
        """Drop the games whose player has been gone longer than the grace period."""
        now = self._clock()
        with self._lock:
            gone = [g for g, t in self._gone_since.items() if now - t > self.grace]
            for game_id in gone:
                self._drop(game_id)
        return gone

    def _bind(self, game_id: str, sid: str) -> None:
        self._sid_of[game_id] = sid
        self._game_of[sid] = game_id
        self._gone_since.pop(game_id, None)

    def _drop(self, game_id: str) -> None:
        self._games.pop(game_id, None)
        self._tokens.pop(game_id, None)
        self._gone_since.pop(game_id, None)
        sid = self._sid_of.pop(game_id, None)
        if sid is not None:
            self._game_of.pop(sid, None)
