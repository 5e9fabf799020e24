"""Classroom rooms' rules, as plain Python: no Flask app, no Socket.IO, no model (refusals are
worded through flask_babel's gettext, as game/protocol.py says).

A teacher (the host, holding `Room.host_token`) creates a room with a short code read
aloud to the class; students join from their phones with the code and a nickname and
keep a player token, which brings them back as the same player (score included) after a
refresh. A room plays in one of the modes of `game.classroom.modes` (race, pictionary), and
teaches the AI a word in a round of the teach mode (`Room.teach`).

The design follows the solo engine (`game.solo.rules`) and reuses it rather than copying it:
each drawing in a round *is* an engine `Game` of one round and one word, so ink limits,
strokes, undo/clear, stale-guess detection and the recognition rule are the engine's.
Those games run on the room's clock, which the room reads once per command and stops
while the host has paused, so every drawing of a round shares one deadline and one pause.
Settings are the engine's `Settings` (same ranges and messages) and refusals are engine
`GameError`s, with the codes below added to the protocol's.

As in the engine the clock is injected, and whatever the transport must send is put in
an outbox (`Room.drain()`), each event addressed to the whole room (None), the host's
screens (`HOST`) or one player id. Not thread-safe by itself: callers hold `room.lock`
around each call and the drain that follows it. `RoomRegistry` is thread-safe.

    rooms = RoomRegistry(time.monotonic, deck=deck, categories=categories)
    room = rooms.create("race")                    # room.code, room.host_token
    room, me = rooms.join(code, client_key=addr, nickname="Ana")   # me.token: keep it
    room.start(room.host_token)
    room.add_ink(me.id, round=0, stroke=0, points=[[x, y, t], ...])
    room.record_guesses(me.id, [("cat", 0.8), ...], room.inference_request(me.id))
    room.tick(); room.drain()                      # [Event(to, name, payload), ...]
"""
from __future__ import annotations

import hmac
import itertools
import math
import random
import re
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

# Refusals in the language of the request being handled (game/solo/rules.py says why).
from flask_babel import gettext as _
from flask_babel import ngettext

from game.classroom.text import (ALMOST, CORRECT, MAX_GUESS, RudeFilter, articles_of, clean_nickname, clean_word,
                                 guess_key, match_guess, nickname_key)
from game.classroom.modes import MODES, RACE, TEACH, Mode, mode_named, speed_points
from game.protocol import (BAD_NICKNAME, BAD_PAYLOAD, BAD_WORD, KICKED, KNOWN_WORD, MAX_TAUGHT_WORDS, MAX_WORDS,
                           NICKNAME_TAKEN, NO_PLAYER, NO_ROOM, NOT_ENOUGH_PLAYERS, TOO_MANY_WORDS,
                           NOT_HOST, NOT_PLAYING, NOT_STARTED, NOT_YOUR_TURN, PAUSED, RATE_LIMITED,
                           RECOGNITION_THRESHOLD, ROOM_FULL, ROUND_OVER, TOO_MANY_ROOMS, TOO_MANY_ROOMS_FROM_YOU,
                           UNKNOWN_WORDS, WRONG_PHASE, Clock, GameError)
from game.solo.rules import DRAWING, OVER, PROMPT, Game, InferenceRequest, Round, Settings


# Room codes: read aloud and typed on phones, so no 0/O, 1/I/L look-alikes.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 5  # 31**5, about 29 million codes

LOBBY, PLAYING, ENDED = "lobby", "playing", "ended"  # a room's phase
HOST = "host"  # the teacher: an event address, and the drawer's id when the teacher draws
HOST_NICKNAME = "Teacher"

# Why a room closed (`closed`'s `code`; its `reason` says the same in English for API clients).
CLOSED_BY_TEACHER = "closed_by_teacher"
TEACHER_AWAY = "teacher_away"
CLOSE_REASONS = {CLOSED_BY_TEACHER: "closed by the teacher", TEACHER_AWAY: "the teacher has been away too long"}


class Event(NamedTuple):
    """One outbox entry: `to` is None (everyone in the room), HOST or a player id."""

    to: str | None
    name: str
    payload: dict


class UnknownWords(GameError):
    """The teacher's deck has words the model does not know: all of them in `words`."""

    def __init__(self, words: list[str]):
        super().__init__(UNKNOWN_WORDS, _("unknown words: %(words)s", words=", ".join(words)))
        self.words = words


class KnownWord(GameError):
    """The word to teach is one the AI knows already: `word`, as the game names it."""

    def __init__(self, word: str):
        super().__init__(KNOWN_WORD, _("The AI already knows “%(word)s”: play it in a game.", word=word))
        self.word = word


@dataclass(frozen=True)
class RoomConfig:
    """The server's side of a room (the teacher's side is `Settings`)."""

    threshold: float = RECOGNITION_THRESHOLD  # as the solo game's
    starts_in: float = 3.0  # the prompt card before a round's clock starts
    break_seconds: float = 6.0  # the round's results on screen before the next prompt
    max_players: int = 40
    host_grace: float = 600.0  # a room whose host has been gone this long is dropped
    kick_block: float = 600.0  # a removed player's nickname stays refused this long
    guess_limit: int = 3  # typed guesses a player may send...
    guess_window: float = 2.0  # ...in any window this long
    join_failures: int = 5  # wrong codes from one client key...
    join_window: float = 60.0  # ...within this long...
    join_lockout: float = 300.0  # ...refuse every join from it for this long
    max_rooms: int = 200
    # Rooms created from one client key (address) and still open, those left behind included
    # until they expire: one client cannot take every room.
    rooms_per_client: int = 5
    teach_limit: int = 3  # words the teacher may set out to teach...
    teach_window: float = 60.0  # ...in any window this long (each lesson is a model call)


# --- time and limits ---------------------------------------------------------


class Stopwatch:
    """Room time: seconds the room has been running, not counting pauses."""

    def __init__(self, clock: Clock):
        self._clock = clock
        self._banked = 0.0
        self._since: float | None = clock()  # None while stopped

    @property
    def running(self) -> bool:
        return self._since is not None

    def read(self) -> float:
        live = self._clock() - self._since if self._since is not None else 0.0
        return self._banked + live

    def stop(self) -> None:
        self._banked, self._since = self.read(), None

    def start(self) -> None:
        if self._since is None:
            self._since = self._clock()


class Throttle:
    """At most `limit` hits per key in any `window` seconds. With `lockout`, reaching
    the limit refuses the key for that long (brute-force protection for joins)."""

    def __init__(self, limit: int, window: float, lockout: float = 0.0):
        self.limit, self.window, self.lockout = limit, window, lockout
        self._hits: dict[str, deque] = {}
        self._until: dict[str, float] = {}

    def _recent(self, key: str, now: float) -> deque:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def blocked(self, key: str, now: float) -> bool:
        if self._until.get(key, -math.inf) > now:
            return True
        return not self.lockout and len(self._recent(key, now)) >= self.limit

    def hit(self, key: str, now: float) -> None:
        hits = self._recent(key, now)
        hits.append(now)
        if self.lockout and len(hits) >= self.limit:
            self._until[key] = now + self.lockout
            hits.clear()

    def forget(self, now: float) -> None:
        """Drop the keys with nothing recent, so the tables do not grow forever."""
        self._until = {k: t for k, t in self._until.items() if t > now}
        self._hits = {k: q for k, q in self._hits.items() if self._recent(k, now)}


# --- rooms -------------------------------------------------------------------


@dataclass
class Player:
    id: str  # public (events, the mosaic); the token is the secret
    token: str
    nickname: str
    serial: int  # join order: the drawer rotation and ties in the leaderboard
    score: int = 0
    connected: bool = True

    @property
    def key(self) -> str:
        return nickname_key(self.nickname)

    def public(self) -> dict:
        return {"id": self.id, "nickname": self.nickname, "score": self.score, "connected": self.connected}


@dataclass
class RoomRound:
    index: int
    word: str
    starts_at: float  # room time
    deadline: float
    players: list[str]  # who plays it: the room's players when it started (late joiners wait)
    drawer: str | None = None  # pictionary
    state: str = PROMPT
    drawings: dict[str, Game] = field(default_factory=dict)  # player id -> a one-round engine game
    recognized: dict[str, float] = field(default_factory=dict)  # race: player id -> seconds
    points: dict[str, int] = field(default_factory=dict)  # points scored this round
    guessed_by: str | None = None  # pictionary: the first correct guesser...
    class_seconds: float | None = None  # ...and when
    ai_seconds: float | None = None  # pictionary: when the AI first recognized the drawing
    reason: str | None = None  # why it ended: time, all_recognized, guessed, skipped, drawer_left, ended


class Room:
    """One classroom: its players, the teacher's settings and the game being played."""

    def __init__(self, code: str, mode: str, clock: Clock, deck: Sequence[str], categories: Sequence[str],
                 config: RoomConfig, words_filter: RudeFilter, rng: random.Random,
                 names: Mapping[str, Mapping[str, tuple[str, str]]] | None = None, creator: str | None = None):
        self.code = code
        self.creator = creator  # the client key that created it (RoomRegistry.create)
        self.host_token = secrets.token_urlsafe(16)
        self.lock = threading.RLock()
        self.config = config
        self._clock = clock
        self._watch = Stopwatch(clock)
        self._t = 0.0  # room time, read once per command: all drawings see the same instant
        self._deck = list(deck)
        # The category names of each language ({locale: {category: (name, phrase)}}): typed
        # guesses and the teacher's words may use any of them; hints are sent for each.
        self._names = {loc: {w: name for w, (name, _phrase) in pairs.items()} for loc, pairs in (names or {}).items()}
        self._articles = articles_of(names or {})
        self._known = {guess_key(w, self._articles): w for w in categories}  # the teacher's words, as typed -> category
        for by_word in self._names.values():
            for w in categories:
                if w in by_word:
                    self._known.setdefault(guess_key(by_word[w], self._articles), w)
        self._filter = words_filter
        self._rng = rng
        self.mode: Mode = mode_named(mode)
        self.host_draws = False
        self.settings = Settings(starts_in=config.starts_in, threshold=config.threshold)
        self.phase = LOBBY
        self.players: dict[str, Player] = {}  # in join order
        self._by_token: dict[str, str] = {}
        self._kicked: set[str] = set()  # tokens
        self._blocked_names: dict[str, float] = {}  # kicked nickname key -> until (clock time)
        self._serials = itertools.count(1)  # 0 is the teacher's place in the drawer rotation
        self._last_drawer = -1
        self._guesses = Throttle(config.guess_limit, config.guess_window)
        self.words: list[str] = []
        self.rounds: list[RoomRound] = []
        self._next_at: float | None = None  # room time the next round starts (between rounds)
        self.host_gone_since: float | None = clock()  # until the host's screen connects
        self.taught: list[str] = []  # the words the AI learned in this room, in the order taught
        self._teaching: tuple[Mode, str] | None = None  # during a lesson: the mode and phase to return to
        self._teaches = Throttle(config.teach_limit, config.teach_window)
        self._outbox: list[Event] = []

    # --- state -----------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._watch.running

    @property
    def round(self) -> RoomRound | None:
        return self.rounds[-1] if self.rounds else None

    def drain(self) -> list[Event]:
        out, self._outbox = self._outbox, []
        return out

    def tick(self) -> None:
        """Start prompts, round clocks and next rounds, and end rounds whose time is up."""
        self._advance()

    def public_settings(self, viewer: str | None = HOST) -> dict:
        """The settings as `viewer`'s screen may show them: the teacher's words (the game's
        answers, in the order they are dealt) only on the host's."""
        settings = {**self.settings.public(), "mode": self.mode.name, "host_draws": self.host_draws}
        if viewer != HOST:
            del settings["words"]
        return settings

    def state(self, viewer: str | None = None) -> dict:
        """The `room` event (for everyone, so without the teacher's words): who is here and
        what the room is doing; `viewer` as in `public_settings`."""
        return {"code": self.code, "phase": self.phase, "paused": self.paused,
                "settings": self.public_settings(viewer), "taught": list(self.taught),
                "players": [p.public() for p in self.players.values()], "host_connected": self.host_gone_since is None}

    def leaderboard(self) -> list[dict]:
        """Players by score (ties share a rank and keep join order)."""
        board = sorted(self.players.values(), key=lambda p: (-p.score, p.serial))
        out, rank = [], 0
        for i, p in enumerate(board):
            if i == 0 or p.score != board[i - 1].score:
                rank = i + 1
            out.append({"rank": rank, "player": p.id, "nickname": p.nickname, "score": p.score})
        return out

    def podium(self) -> list[dict]:
        """The leaderboard's top three places (more than three entries on a tie)."""
        return [entry for entry in self.leaderboard() if entry["rank"] <= 3]

    def snapshot(self, viewer: str | None = None, drawings: bool = False) -> dict:
        """What a screen shows now: the projector's (viewer None or HOST) or a phone's
        (viewer: its player id; adds "me"). The word is hidden in pictionary but from its
        drawer, and so is the AI's guess of it until the round is over; the settings' words
        are HOST's only. `drawings` adds each drawing so far (the mosaic); "ink" ([epoch,
        points]) changes whenever a drawing does."""
        self._advance()
        r = self.round
        players = []
        for p in self.players.values():
            entry = {**p.public(), "playing": r is not None and p.id in r.players}
            game = r.drawings.get(p.id) if r is not None else None
            if game is not None:
                entry.update(self._drawing_status(r, p.id, game, drawings))
            players.append(entry)
        snap = {**self.state(viewer), "round": self._round_info(r, viewer) if r is not None else None,
                "players": players, "leaderboard": self.leaderboard()}
        watched = self.mode.ai_view(self, r) if r is not None else None
        if watched in r.drawings if r is not None else False:
            game = r.drawings[watched]
            snap["ai"] = {"guesses": self._masked(r, game.round.guesses, viewer), "seconds": r.ai_seconds,
                          "ink": [game.round.epoch, game.round.points]}
            if drawings:
                snap["ai"]["drawing"] = Game._copy(game.round.strokes)
        if viewer in self.players:
            me = self.players[viewer]
            game = r.drawings.get(viewer) if r is not None else None
            snap["me"] = {**me.public(), "drawing": Game._copy(game.round.strokes) if game else []}
        return snap

    def gallery(self) -> list[dict]:
        """Per word played, every drawing in Google's raw format with what the AI saw
        (its last guesses) and whether and when it recognized it. Removed players'
        drawings are left out (a teacher may remove someone for a drawing)."""
        out = []
        for r in self.rounds:
            if r.state != OVER:
                continue
            entry = {"index": r.index, "word": r.word, "drawings": []}
            for pid, g, recognized in self.finished_drawings(r):
                entry["drawings"].append({
                    "player": pid, "nickname": self.nickname(pid), "drawing": Game._copy(g.strokes),
                    "guesses": list(g.guesses), "recognized": recognized,
                    "seconds": r.recognized.get(pid, r.ai_seconds)})
            entry.update(self.mode.result(self, r))
            out.append(entry)
        return out

    def finished_drawings(self, r: RoomRound) -> list[tuple[str, Round, bool]]:
        """Round `r`'s drawings (the gallery's, and the open dataset's): (player id or HOST,
        the engine round holding the drawing, whether the AI recognized it: in Pictionary
        the drawer's drawing, when the AI got it before the round ended). Removed players'
        drawings are left out."""
        return [(pid, game.round, pid in r.recognized or r.ai_seconds is not None)
                for pid, game in r.drawings.items() if pid in self.players or pid == HOST]

    # --- joining ---------------------------------------------------------------

    def join(self, nickname) -> Player:
        """A new player. Joining mid-round plays from the next round."""
        name = clean_nickname(nickname)
        if self._filter.is_rude(name):
            raise GameError(BAD_NICKNAME, _("That nickname is not allowed here. Please choose another one."))
        key, now = nickname_key(name), self._clock()
        if self._blocked_names.get(key, -math.inf) > now:
            raise GameError(KICKED, _("The teacher removed this nickname from the room."))
        if any(p.key == key for p in self.players.values()):
            raise GameError(NICKNAME_TAKEN, _("Someone in the room is already called %(name)s. Please choose another nickname.", name=name))
        if len(self.players) >= self.config.max_players:
            raise GameError(ROOM_FULL, _("The room is full (%(max)s players).", max=self.config.max_players))
        serial = next(self._serials)
        player = Player(f"p{serial}", secrets.token_urlsafe(16), name, serial)
        self.players[player.id] = player
        self._by_token[player.token] = player.id
        self._emit_state()
        return player

    def rejoin(self, token) -> Player:
        """The player that `token` belongs to, score and all (a refreshed phone)."""
        if not isinstance(token, str):
            raise GameError(BAD_PAYLOAD, _("token must be a string"))
        if token in self._kicked:
            raise GameError(KICKED, _("the teacher removed you from this room"))
        player = self.players.get(self._by_token.get(token, ""))
        if player is None:
            raise GameError(NO_PLAYER, _("this phone's player is not in the room any more: join again"))
        player.connected = True
        self._emit_state()
        return player

    def set_connected(self, player_id: str, connected: bool) -> None:
        """A phone dropped off or came back (the transport's connect/disconnect). Away
        players keep their place; they just do not hold up a round or get to draw."""
        player = self._player(player_id)
        if player.connected != connected:
            player.connected = connected
            self._emit_state()

    def close(self, why: str) -> None:
        """The registry dropped the room: tell everyone (`closed`, with `why` as its code)."""
        self.emit(None, "closed", {"code": why, "reason": CLOSE_REASONS[why]})

    def host_connected(self, connected: bool) -> None:
        """The teacher's screen came or went. The room outlives the host's tab for
        `config.host_grace` seconds (see RoomRegistry.expire); the game goes on meanwhile."""
        self.host_gone_since = None if connected else self._clock()
        self._emit_state()

    # --- host controls ---------------------------------------------------------

    def is_host(self, token) -> bool:
        return isinstance(token, str) and hmac.compare_digest(token.encode(), self.host_token.encode())

    def configure(self, token, rounds: int = 6, seconds: float = 20, words: Sequence[str] | None = None,
                  mode: str | None = None, host_draws: bool = False) -> dict:
        """Set the next game's settings (in the lobby or after a game): the whole form, so
        a setting left out returns to its default (but `mode`, kept when None). `words`:
        None for the default deck, or the teacher's words, matched to the model's categories
        ignoring case, accents and spaces; unknown ones are all reported (UnknownWords)."""
        self._host(token)
        if self.phase == PLAYING:
            raise GameError(WRONG_PHASE, _("settings change between games: end this one first"))
        if words is not None:
            if (not isinstance(words, (list, tuple)) or len(words) > MAX_WORDS
                    or not all(isinstance(w, str) for w in words)):
                raise GameError(BAD_PAYLOAD, _("words must be a list of at most %(max)s words", max=MAX_WORDS))
            words = [w for w in words if w.strip()]
            unknown = [w.strip() for w in words if guess_key(w, self._articles) not in self._known]
            if unknown:
                raise UnknownWords(unknown[:50])
            words = tuple(self._known[guess_key(w, self._articles)] for w in words)
        settings = Settings(rounds=rounds, seconds=seconds, words=words, starts_in=self.config.starts_in,
                            threshold=self.config.threshold)
        if type(host_draws) is not bool:
            raise GameError(BAD_PAYLOAD, _("host_draws must be true or false"))
        self.mode = mode_named(mode) if mode is not None else self.mode
        self.settings, self.host_draws = settings, host_draws
        self._emit_state()
        return self.public_settings()

    def start(self, token) -> None:
        """Start a game: scores reset, words dealt, round 0's prompt."""
        self._host(token)
        self._advance()
        if self.phase == PLAYING:
            raise GameError(WRONG_PHASE, _("the game has already started"))
        need = self.mode.min_players(self)
        if len(self.players) < need:
            raise GameError(NOT_ENOUGH_PLAYERS, ngettext("this mode needs at least %(num)s player", "this mode needs at least %(num)s players", need))
        s = self.settings
        if s.words is not None:
            self.words = list(s.words[:s.rounds])
        elif len(set(self._deck)) >= s.rounds:
            self.words = self._rng.sample(sorted(set(self._deck)), s.rounds)
        else:
            raise GameError(BAD_PAYLOAD, _("the deck has only %(n)s words", n=len(set(self._deck))))
        for p in self.players.values():
            p.score = 0
        self.rounds, self._last_drawer, self.phase = [], -1, PLAYING
        self._emit_state()
        self._start_round(0)

    def pause(self, token) -> None:
        """Freeze the game: the round's remaining time (or the prompt's, or the break's)
        is kept, ink and guesses are refused until `resume`."""
        self._host(token)
        self._advance()
        if self.phase != PLAYING:
            raise GameError(WRONG_PHASE, _("there is no game to pause"))
        if not self.paused:
            self._watch.stop()
            self.emit(None, "paused", self._time_left(self.round))

    def resume(self, token) -> None:
        self._host(token)
        if self.phase != PLAYING:
            raise GameError(WRONG_PHASE, _("there is no game to resume"))
        if self.paused:
            self._watch.start()
            self._advance()
            self.emit(None, "resumed", self._time_left(self.round))

    def skip(self, token) -> None:
        """End the round now (nobody else scores), or between rounds start the next one."""
        self._host(token)
        self._advance()
        r = self._playing_round()
        if r.state != OVER:
            self.end_round(r, "skipped")
        else:
            self._start_round(r.index + 1)

    def end(self, token) -> None:
        """End the game now: the podium."""
        self._host(token)
        self._advance()
        r = self._playing_round()
        if r.state != OVER:
            self.end_round(r, "ended")
        else:
            self._finish()

    # --- teaching the AI a word ------------------------------------------------

    def teach(self, token, word) -> str:
        """Teach the AI `word` (any language): a round of the teach mode in which every phone
        draws it; when it ends the room emits `learning` (the transport runs the model, then
        calls `learned`) or `teach_failed` (too few drawings). Between games only; the word
        as cleaned is returned. A word the AI knows already is refused (KnownWord)."""
        self._host(token)
        self._advance()
        if self.phase == PLAYING:
            raise GameError(WRONG_PHASE, _("words are taught between games: end this one first"))
        now = self._clock()
        if self._teaches.blocked(HOST, now):
            raise GameError(RATE_LIMITED, _("Too many words at once: wait a minute before teaching another."))
        self._teaches.hit(HOST, now)  # refused words count too: a flood is a flood
        word = clean_word(word)
        if self._filter.is_rude(word):
            raise GameError(BAD_WORD, _("That word is not allowed here. Please choose another one."))
        known = self.known(word)
        if known is not None:
            raise KnownWord(known)
        if len(self.taught) >= MAX_TAUGHT_WORDS:
            raise GameError(TOO_MANY_WORDS, _("This room has taught the AI %(max)s words, its most.",
                                              max=MAX_TAUGHT_WORDS))
        self._teaching = (self.mode, self.phase)
        self.mode = MODES[TEACH]
        self.words, self.rounds, self._last_drawer, self.phase = [word], [], -1, PLAYING
        self._emit_state()
        self._start_round(0)
        return word

    def teach_drawings(self, r: RoomRound) -> list[list]:
        """The drawings of teach round `r` that teach: those with ink (removed players' left out)."""
        return [Game._copy(g.strokes) for _pid, g, _recognized in self.finished_drawings(r) if g.points]

    def known(self, word: str) -> str | None:
        """The word the AI knows `word` as (by its name in any language, any case), or None."""
        return self._known.get(guess_key(word, self._articles))

    def know(self, word: str) -> None:
        """The AI knows `word` in this room from now on (learned here, or before a restart):
        the teacher's words and the AI's guesses may name it."""
        if word not in self.taught:
            self.taught.append(word)
        self._known[guess_key(word, self._articles)] = word

    def learned(self, word: str, drawings: int) -> None:
        """The model learned `word` from the teach round's `drawings` (the transport's call)."""
        self.know(word)
        self.emit(None, "learned", {"word": word, "drawings": drawings})
        self._emit_state()

    def kick(self, token, player_id: str) -> None:
        """Remove a player: their token is refused from now on and their nickname for
        `config.kick_block` seconds; their drawings leave the gallery."""
        self._host(token)
        self._advance()
        player = self._player(player_id)
        self.emit(player.id, "kicked", {"message": "the teacher removed you from this room"})
        del self.players[player.id], self._by_token[player.token]
        self._kicked.add(player.token)
        self._blocked_names[player.key] = self._clock() + self.config.kick_block
        self._emit_state()
        r = self.round
        if self.phase == PLAYING and r.state != OVER:
            if r.drawer == player.id:
                self.end_round(r, "drawer_left")
            elif (why := self.mode.round_may_end(self, r)) is not None:
                self.end_round(r, why)

    # --- drawing ---------------------------------------------------------------

    def add_ink(self, player_id: str, round: int, stroke: int, points, seq: int | None = None) -> None:
        """A player's (or the drawing teacher's) points, as the engine's `add_ink`."""
        self._drawing(player_id, round).add_ink(0, stroke, points, seq)

    def undo(self, player_id: str, round: int) -> None:
        self._drawing(player_id, round).undo(0)

    def clear(self, player_id: str, round: int) -> None:
        self._drawing(player_id, round).clear(0)

    def inference_request(self, player_id: str) -> InferenceRequest | None:
        """The player's drawing for the classifier (`round` is the room's round), or None
        when there is nothing to classify."""
        r = self._judged_round()
        game = r.drawings.get(player_id) if r is not None and self.mode.ai_guesses else None
        if game is None or player_id in r.recognized:
            return None
        request = game.inference_request()
        return request._replace(round=r.index) if request is not None else None

    def record_guesses(self, player_id: str, guesses: Sequence[tuple[str, float]],
                       request: InferenceRequest | None = None) -> bool | None:
        """The classifier's guesses (best first) for a drawing. Race: a recognized player
        scores (`speed_points`) and the round ends once every connected player is.
        Pictionary: the AI's time is recorded the first time it recognizes the drawing;
        the round goes on. Emits `guess` to the drawing's player. Returns whether it was
        recognized, or None for guesses too late or for an older drawing."""
        r = self._judged_round()
        if r is None or (request is not None and request.round != r.index):
            return None
        game = r.drawings.get(player_id)
        if game is None or player_id in r.recognized:
            return None
        verdict = game.record_guesses(guesses, request._replace(round=0) if request is not None else None)
        events = dict((name, payload) for name, payload in game.drain())  # its round_over: not ours
        if verdict is None:
            return None
        guess = events["guess"]
        elapsed = guess["elapsed"]
        verdict = self.mode.judge(self, r, guesses, verdict, elapsed)
        self.emit(player_id, "guess", {"round": r.index, "player": player_id, "seq": guess["seq"],
                                        "guesses": guess["guesses"], "recognized": verdict, "elapsed": elapsed})
        if verdict:
            self.mode.on_recognized(self, r, player_id, elapsed)
        return verdict

    def score_recognized(self, r: RoomRound, player_id: str, elapsed: float) -> None:
        """The AI recognized `player_id`'s drawing `elapsed` seconds into round `r`: they
        score (`speed_points`), and the round ends once every connected player is."""
        points = speed_points(elapsed, self.settings.seconds)
        r.recognized[player_id], r.points[player_id] = elapsed, points
        self.players[player_id].score += points
        self.emit(None, "recognized", {"round": r.index, "player": player_id,
                                        "nickname": self.nickname(player_id), "seconds": elapsed,
                                        "points": points})
        if self.all_recognized(r):
            self.end_round(r, "all_recognized")

    # --- pictionary guesses ----------------------------------------------------

    def submit_guess(self, player_id: str, text, round: int | None = None) -> str:
        """A typed guess: CORRECT, ALMOST or WRONG (see `match_guess`). The first correct
        one scores `speed_points` for the guesser and as much for the drawer (a student),
        and ends the round."""
        if not self.mode.typed_guesses:
            raise GameError(WRONG_PHASE, _("guesses are typed in Pictionary mode only"))
        if not isinstance(text, str) or not 0 < len(" ".join(text.split())) <= MAX_GUESS:
            raise GameError(BAD_PAYLOAD, _("a guess is 1 to %(max)s characters", max=MAX_GUESS))
        self._player(player_id)
        self._advance()  # first: the current round may have just changed
        r = self._live_round(round if round is not None else self._current_index())
        if r.state == PROMPT:
            raise GameError(NOT_STARTED, _("the drawing has not started yet"))
        if player_id == r.drawer:
            raise GameError(NOT_YOUR_TURN, _("you are drawing: the others guess"))
        if player_id not in r.players:
            raise GameError(NOT_PLAYING, _("you joined during this round: you play from the next one"))
        now = self._clock()
        if self._guesses.blocked(player_id, now):
            raise GameError(RATE_LIMITED, _("not so fast: one guess at a time"))
        self._guesses.hit(player_id, now)
        text = " ".join(text.split())
        verdict = match_guess(text, r.word, [by_word[r.word] for by_word in self._names.values() if r.word in by_word],
                              self._articles)
        elapsed = self._elapsed(r)
        self.emit(player_id, "guess_result", {"round": r.index, "text": text, "verdict": verdict})
        if verdict == ALMOST:
            self.emit(None, "almost", {"round": r.index, "player": player_id, "nickname": self.nickname(player_id)})
        elif verdict == CORRECT:
            points = speed_points(elapsed, self.settings.seconds)
            r.guessed_by, r.class_seconds = player_id, elapsed
            for pid in (player_id, r.drawer):
                if pid in self.players:  # the teacher drawing scores nothing
                    r.points[pid] = points
                    self.players[pid].score += points
            self.emit(None, "guessed", {"round": r.index, "player": player_id,
                                         "nickname": self.nickname(player_id), "seconds": elapsed,
                                         "points": points, "drawer": r.drawer,
                                         "drawer_points": r.points.get(r.drawer, 0), "ai_seconds": r.ai_seconds})
            self.end_round(r, "guessed")
        return verdict

    # --- internals -------------------------------------------------------------

    def emit(self, to: str | None, name: str, payload: dict) -> None:
        self._outbox.append(Event(to, name, payload))

    def _emit_state(self) -> None:
        self.emit(None, "room", self.state())

    def _host(self, token) -> None:
        if not self.is_host(token):
            raise GameError(NOT_HOST, _("only the teacher can do that"))

    def _player(self, player_id) -> Player:
        player = self.players.get(player_id) if isinstance(player_id, str) else None
        if player is None:
            raise GameError(NO_PLAYER, _("no such player in this room"))
        return player

    def _room_time(self) -> float:
        """The drawings' clock: room time as the last command read it (a method, not a
        lambda, so that a room pickles whole: game/cluster/snapshot.py)."""
        return self._t

    def nickname(self, pid: str | None) -> str | None:
        return HOST_NICKNAME if pid == HOST else self.players[pid].nickname if pid in self.players else None

    def _advance(self) -> None:
        """Read the room's clock once and catch the game up with it; every command calls
        this first, so nothing is accepted after a deadline even between two ticks."""
        self._t = self._watch.read()
        r = self.round
        if self.phase != PLAYING or r is None:
            return
        if r.state == OVER:
            if self._next_at is not None and self._t >= self._next_at:
                self._start_round(r.index + 1)
            return
        if r.state == PROMPT and self._t >= r.starts_at:
            r.state = DRAWING
        if r.state == DRAWING and self._t >= r.deadline:
            self.end_round(r, "time")

    def _start_round(self, index: int) -> None:
        s, word = self.settings, self.words[index]
        drawer = self.next_drawer() if self.mode.one_drawer else None
        if self.mode.one_drawer and drawer is None:
            self._finish()  # nobody left to draw
            return
        seconds = self.mode.seconds(self)
        r = RoomRound(index, word, self._t + s.starts_in, self._t + s.starts_in + seconds,
                      players=list(self.players), drawer=drawer)
        threshold = self.mode.engine_threshold(s.threshold)
        for pid in ([drawer] if drawer is not None else r.players):
            game = Game(Settings(rounds=1, seconds=seconds, words=(word,), starts_in=s.starts_in,
                                 threshold=threshold), [word], clock=self._room_time, categories=[word])
            game.drain()  # its `round` event: the room announces its own
            r.drawings[pid] = game
        self.rounds.append(r)
        self._next_at = None
        self.emit(None, "round", self._round_info(r, None))
        if drawer is not None:
            self.emit(drawer, "your_word", {"round": index, "word": word})

    def end_round(self, r: RoomRound, reason: str) -> None:
        r.state, r.reason = OVER, reason
        last = reason == "ended" or r.index + 1 >= len(self.words)
        self.emit(None, "round_over", {**self._round_result(r), "leaderboard": self.leaderboard(),
                                        "next_in": None if last else self.config.break_seconds})
        self.mode.round_over(self, r)
        if last:
            self._finish()
        else:
            self._next_at = self._t + self.config.break_seconds

    def _finish(self) -> None:
        self.phase, self._next_at = ENDED, None
        if self._teaching is not None:  # a lesson has no podium: back to where the room was
            (self.mode, self.phase), self._teaching = self._teaching, None
            self._emit_state()
            return
        self.emit(None, "game_over", {"leaderboard": self.leaderboard(), "podium": self.podium()})

    def next_drawer(self) -> str | None:
        """The next in join order after the last drawer, wrapping round; the teacher
        (serial 0) takes a turn when `host_draws`. Away phones are passed over."""
        seats = [(p.serial, p.id) for p in self.players.values() if p.connected]
        if self.host_draws and self.host_gone_since is None:
            seats.insert(0, (0, HOST))
        if not seats:
            seats = [(p.serial, p.id) for p in self.players.values()]
        if not seats:
            return None
        serial, pid = next((seat for seat in seats if seat[0] > self._last_drawer), seats[0])
        self._last_drawer = serial
        return pid

    def all_recognized(self, r: RoomRound) -> bool:
        """Everyone here who plays the round has been recognized (away phones do not
        hold the class up)."""
        here = [pid for pid in r.players if pid in self.players and self.players[pid].connected]
        return bool(here) and all(pid in r.recognized for pid in here)

    def _current_index(self) -> int:
        return self.round.index if self.round is not None else 0

    def _playing_round(self) -> RoomRound:
        if self.phase != PLAYING:
            raise GameError(WRONG_PHASE, _("no game is being played"))
        return self.round

    def _live_round(self, index) -> RoomRound:
        """The current round, if `index` names it and it is open for ink or guesses."""
        self._advance()
        if type(index) is not int:
            raise GameError(BAD_PAYLOAD, _("round must be an integer"))
        if self.phase == LOBBY:
            raise GameError(NOT_STARTED, _("the game has not started"))
        if self.phase == ENDED:
            raise GameError(ROUND_OVER, _("the game is over"))
        if self.paused:
            raise GameError(PAUSED, _("the teacher paused the game"))
        r = self.round
        if index < r.index or (index == r.index and r.state == OVER):
            raise GameError(ROUND_OVER, _("round %(index)s is over", index=index))
        if index > r.index:
            raise GameError(NOT_STARTED, _("round %(index)s has not started", index=index))
        return r

    def _drawing(self, player_id: str, index) -> Game:
        """The engine game holding `player_id`'s drawing in round `index`."""
        r = self._live_round(index)
        if r.state == PROMPT:
            raise GameError(NOT_STARTED, _("round %(index)s's clock has not started", index=index))
        game = r.drawings.get(player_id)
        if game is None:
            if player_id != HOST:
                self._player(player_id)
            raise self.mode.not_drawing(self, r)
        if player_id in r.recognized:
            raise GameError(ROUND_OVER, _("the AI got your drawing: wait for the next round"))
        return game

    def _judged_round(self) -> RoomRound | None:
        """The round whose drawings the classifier may judge now (clock running)."""
        self._advance()
        r = self.round
        ok = self.phase == PLAYING and not self.paused and r is not None and r.state == DRAWING
        return r if ok else None

    def _elapsed(self, r: RoomRound) -> float:
        return round(self._t - r.starts_at, 3)

    def _time_left(self, r: RoomRound) -> dict:
        return {"round": r.index, "starts_in": round(max(0.0, r.starts_at - self._t), 3),
                "remaining": round(max(0.0, r.deadline - max(self._t, r.starts_at)), 3) if r.state != OVER else 0.0,
                "next_in": round(max(0.0, self._next_at - self._t), 3) if self._next_at is not None else None}

    def _round_info(self, r: RoomRound, viewer: str | None) -> dict:
        """The `round` event (word hidden in pictionary but from the drawer), with the
        time left now."""
        shown = self.mode.shows_word(self, r, viewer)
        return {"index": r.index, "total": len(self.words), "state": r.state, "mode": self.mode.name,
                "word": r.word if shown else None,
                "hint": re.sub(r"\w", "_", r.word),  # "_____ _____": letters to find
                "hints": {loc: re.sub(r"\w", "_", by_word.get(r.word, r.word)) for loc, by_word in self._names.items()},
                "drawer": r.drawer, "drawer_nickname": self.nickname(r.drawer),
                "seconds": self.mode.seconds(self), "players": list(r.players), **self._time_left(r)}

    def _drawing_status(self, r: RoomRound, pid: str, game: Game, with_drawing: bool) -> dict:
        g = game.round
        status = {"recognized": pid in r.recognized, "seconds": r.recognized.get(pid),
                  "guess": g.guesses[0] if g.guesses and self.mode.drawings_public else None,
                  "ink": [g.epoch, g.points]}
        if with_drawing and self.mode.drawings_public:
            status["drawing"] = Game._copy(g.strokes)
        return status

    def _masked(self, r: RoomRound, guesses: list, viewer: str | None) -> list:
        """The AI's guesses as a screen may show them: in pictionary the word itself is
        blanked out (word None, its p kept) for all but the drawer while the round runs,
        or the projector would give the answer away."""
        if self.mode.shows_word(self, r, viewer):
            return list(guesses)
        return [{"word": None, "p": g["p"]} if g["word"] == r.word else g for g in guesses]

    def _round_result(self, r: RoomRound) -> dict:
        result = {"index": r.index, "word": r.word, "mode": self.mode.name, "reason": r.reason,
                  "results": [{"player": pid, "nickname": self.nickname(pid),
                               "recognized": pid in r.recognized, "seconds": r.recognized.get(pid),
                               "points": r.points.get(pid, 0)}
                              for pid in r.players if pid in self.players]}
        result.update(self.mode.result(self, r))
        return result


def typed_code(code) -> str:
    """The code a player typed, as codes are written ("abc de" is ABCDE; "" if it is no code)."""
    return re.sub(r"[\s-]", "", code).upper() if isinstance(code, str) and len(code) <= 20 else ""


class RoomRegistry:
    """The live rooms by code. Thread-safe. Joins are rate-limited per client key (the
    transport's choice: the remote address): `config.join_failures` wrong codes within
    `config.join_window` seconds refuse every join from that key for
    `config.join_lockout` seconds, so codes cannot be found by trying them all.

    With several servers, a new room's code is used only once `claim(code)` says that no
    other server has a room by that code, and it starts with one of `code_first`, this
    server's own characters of ALPHABET: nginx sends a classroom connection that names its
    room to the server whose characters its code starts with (game/cluster/launch.py).

    Lock order: a room's lock, then the registry's."""

    def __init__(self, clock: Clock, rng: random.Random | None = None, *, deck: Sequence[str],
                 categories: Sequence[str] | None = None, config: RoomConfig = RoomConfig(),
                 words_filter: RudeFilter | None = None,
                 names: Mapping[str, Mapping[str, tuple[str, str]]] | None = None,
                 claim: Callable[[str], bool] = lambda code: True, code_first: str = ALPHABET):
        if not code_first or not set(code_first) <= set(ALPHABET):
            raise ValueError(f"a room code's first characters must be some of {ALPHABET}, got {code_first!r}")
        self._clock = clock
        self.code_first = code_first
        self._rng = rng or random.SystemRandom()  # codes must not be predictable
        self.deck = list(deck)
        self.categories = list(categories if categories is not None else deck)
        self.names = names  # {locale: {category: (name, phrase)}}: see Room
        self.config = config
        self.words_filter = words_filter or RudeFilter.load()
        self._claim = claim
        self._lock = threading.Lock()
        self._rooms: dict[str, Room] = {}
        self._failures = Throttle(config.join_failures, config.join_window, config.join_lockout)

    def __len__(self) -> int:
        return len(self._rooms)

    def rooms(self) -> list[Room]:
        with self._lock:
            return list(self._rooms.values())

    def create(self, mode: str = RACE, client_key: str | None = None) -> Room:
        """A new room with a fresh code; its host token is `room.host_token`. At most
        `config.rooms_per_client` rooms created with one `client_key` (the transport's: the
        address) are open at once; None counts against nobody."""
        with self._lock:
            if len(self._rooms) >= self.config.max_rooms:
                raise GameError(TOO_MANY_ROOMS, _("too many rooms are open on this server"))
            limit = self.config.rooms_per_client
            if client_key is not None and sum(r.creator == client_key for r in self._rooms.values()) >= limit:
                raise GameError(TOO_MANY_ROOMS_FROM_YOU, _(
                    "Too many rooms are open from your address (at most %(max)s): close one before creating another.",
                    max=limit))
            code = self._new_code()
            while code in self._rooms or not self._claim(code):
                code = self._new_code()
            room = Room(code, mode, self._clock, self.deck, self.categories, self.config, self.words_filter,
                        random.Random(self._rng.random()), self.names, creator=client_key)
            self._rooms[code] = room
        return room

    def _new_code(self) -> str:
        return self._rng.choice(self.code_first) + "".join(self._rng.choice(ALPHABET) for _i in range(CODE_LENGTH - 1))

    def holds(self, code: str) -> bool:
        with self._lock:
            return code in self._rooms

    def adopt(self, room: Room) -> None:
        """Hold `room`, rebuilt from another server's snapshot (replacing an older copy)."""
        with self._lock:
            self._rooms[room.code] = room

    def discard(self, code: str) -> None:
        """Stop holding a room (another server holds it now)."""
        with self._lock:
            self._rooms.pop(code, None)

    def get(self, code: str) -> Room:
        """A room by its exact code, for connections already in it (no rate limit)."""
        with self._lock:
            room = self._rooms.get(code)
        if room is None:
            raise GameError(NO_ROOM, _("no such room (it was closed or it expired)"))
        return room

    def join_blocked(self, client_key: str) -> bool:
        with self._lock:
            return self._failures.blocked(client_key, self._clock())

    def find(self, code, client_key: str) -> Room:
        """The room a typed code names ("abc de" is ABCDE). A wrong code counts against
        `client_key`; while it is locked out every code is refused, right or wrong."""
        now = self._clock()
        with self._lock:
            if self._failures.blocked(client_key, now):
                raise GameError(RATE_LIMITED, _("too many wrong codes: wait a few minutes and try again"))
            room = self._rooms.get(typed_code(code))
            if room is None:
                self._failures.hit(client_key, now)
                raise GameError(NO_ROOM, _("no room with that code: check it on the projector"))
        return room

    def join(self, code, client_key: str, nickname=None, token=None) -> tuple[Room, Player]:
        """Join the room `code` names: with `token` as that player again (rejoin), else
        as a new player called `nickname`."""
        room = self.find(code, client_key)
        with room.lock:
            return room, (room.rejoin(token) if token is not None else room.join(nickname))

    def host(self, code, token, client_key: str) -> Room:
        """The teacher coming back (or opening the projector page): the host token proves it."""
        room = self.find(code, client_key)
        with room.lock:
            if not room.is_host(token):
                raise GameError(NOT_HOST, _("wrong host token for this room"))
            room.host_connected(True)
        return room

    def close(self, code: str, token) -> Room:
        """The teacher closes the room; a `closed` event is left in its outbox."""
        room = self.get(code)
        with room.lock:
            if not room.is_host(token):
                raise GameError(NOT_HOST, _("only the teacher can close the room"))
            with self._lock:
                self._rooms.pop(code, None)
            room.close(CLOSED_BY_TEACHER)
        return room

    def expire(self) -> list[Room]:
        """Drop the rooms whose host has been gone longer than `config.host_grace`; each
        has a `closed` event left in its outbox for the transport to send."""
        now = self._clock()
        with self._lock:
            gone = [r for r in self._rooms.values()
                    if r.host_gone_since is not None and now - r.host_gone_since > self.config.host_grace]
            for room in gone:
                del self._rooms[room.code]
            self._failures.forget(now)
        for room in gone:
            with room.lock:
                room.close(TEACHER_AWAY)
        return gone
