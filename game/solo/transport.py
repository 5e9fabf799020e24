"""The solo game's transport: Socket.IO's default namespace (docs/protocol.md is the
contract; `game.solo.rules` holds the rules).

Handlers go through `game.realtime`'s dispatcher: check the payload's shape, rate-limit the
connection, call the game, send what it has to say. Classification goes through the
model's micro-batcher (`game.model.service`), whose worker thread sends the `guess`
events; a background ticker ends rounds on time. A player who said `contribute: true` has
each round's drawing handed to the contributions' writer
(`game.dataset.contribute.GameDrawings`) once the round's events are sent.
"""
from __future__ import annotations

import functools
import threading
import time
import weakref
from typing import Callable

from flask import Flask, current_app, request

from game.dataset.contribute import Consent, Keep, game_consent
from game.extensions import socketio
from game.model.service import ModelService
from game.realtime import Dispatcher, Ticker, integer_field, register, string_field
from game.protocol import GameError
from game.solo.rules import Game, GameRegistry, InferenceRequest, Settings

CONFIG_DEFAULTS = {
    "ROUND_STARTS_IN": 2.0,
    # A round's result stays up this long before the next prompt (or until the player taps "Next").
    "ROUND_BREAK": 3.0,
}


def init_app(app: Flask, model: ModelService, keep: Keep) -> Solo:
    """Start the solo games' service on `app`; `create_app` calls this after `socketio.init_app`."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    solo = app.extensions["solo"] = Solo(app, model, keep)
    return solo


class Solo:
    """One app's solo games: the games, their ticker, the connections' rate limits; the
    model's batcher classifies, and the consenting players' drawings go to `keep`
    (game.dataset.contribute.GameDrawings.keep)."""

    def __init__(self, app: Flask, model: ModelService, keep: Keep):
        cfg = app.config
        self.logger = app.logger
        self.model = model
        self._keep = keep
        self.clock = cfg["GAME_CLOCK"]
        self.starts_in = float(cfg["ROUND_STARTS_IN"])
        self.break_seconds = float(cfg["ROUND_BREAK"])
        self.tick_interval = float(cfg["TICK_INTERVAL"])
        self.registry = GameRegistry(self.clock)
        # Each create_app builds a new Socket.IO server; this app's games talk through its own.
        self._server = socketio.server
        self._born: dict[str, float] = {}  # game id -> when new_game created it (real time)
        # The consenting players' games (new_game's `contribute`); a dropped game leaves it.
        self._consents: weakref.WeakKeyDictionary[Game, Consent] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._ticker = Ticker(self._server, self.tick_interval, self.tick, self.logger)
        self.dispatcher = Dispatcher(
            {"new_game": self._new_game, "ink": self._ink, "undo": self._undo, "clear": self._clear,
             "skip": self._skip, "next": self._next, "resume": self._resume},
            rate=float(cfg["RATE_LIMIT"]), burst=float(cfg["RATE_BURST"]), clock=self.clock, logger=self.logger,
            send_error=self._emit, message_key="error", empty_is_object=("new_game",))
        self.handle = self.dispatcher.handle

    @classmethod
    def of(cls, app: Flask) -> "Solo":
        return app.extensions["solo"]

    def disconnect(self, sid: str) -> None:
        self.dispatcher.forget(sid)
        self.registry.disconnect(sid)

    # --- actions ------------------------------------------------------------

    def _new_game(self, sid: str, data: dict) -> dict:
        given = {k: data[k] for k in ("rounds", "seconds", "words") if data.get(k) is not None}
        consent = game_consent(data, request.headers)
        settings = Settings(**given, starts_in=self.starts_in, threshold=self.model.threshold,
                            break_seconds=self.break_seconds)
        game = Game(settings, self.model.deck, self.clock, categories=self.model.categories)
        if consent is not None:
            self._consents[game] = consent
        with self._lock:
            self._born[game.id] = time.monotonic()
        token = self.registry.add(game, sid)
        self._start_ticker()
        return {"game_id": game.id, "token": token, "settings": settings.public()}

    def _ink(self, sid: str, data: dict) -> None:
        game = self.registry.owned(string_field(data, "game_id"), sid)
        args = integer_field(data, "round"), integer_field(data, "stroke"), data.get("points"), integer_field(data, "seq")
        with game.lock:
            try:
                game.add_ink(*args)
                self._classify(game)
            finally:
                self._flush(game)

    def _undo(self, sid: str, data: dict) -> None:
        self._command(sid, data, Game.undo)

    def _clear(self, sid: str, data: dict) -> None:
        self._command(sid, data, Game.clear)

    def _skip(self, sid: str, data: dict) -> None:
        self._command(sid, data, Game.skip)

    def _next(self, sid: str, data: dict) -> None:
        self._command(sid, data, Game.end_break)

    def _command(self, sid: str, data: dict, command: Callable[[Game, int], None]) -> None:
        game = self.registry.owned(string_field(data, "game_id"), sid)
        index = integer_field(data, "round")
        with game.lock:
            try:
                command(game, index)
                self._classify(game)  # after undo the guesses should show what is left
            finally:
                self._flush(game)

    def _resume(self, sid: str, data: dict) -> dict:
        game_id, token = string_field(data, "game_id"), string_field(data, "token")
        game = self.registry.get(game_id)
        with game.lock:
            self.registry.resume(game_id, token, sid)
            game.drain()  # what happened while away is in the snapshot
            snapshot = game.snapshot()
        self._start_ticker()
        return snapshot

    # --- classification -----------------------------------------------------

    def _classify(self, game: Game) -> None:
        request_ = game.inference_request()
        if request_ is not None:
            self.model.submit(game.id, request_.drawing,
                              functools.partial(self._on_guesses, game.id, request_))

    def _on_guesses(self, game_id: str, request_: InferenceRequest, guesses) -> None:
        """The batcher's callback, on its worker thread."""
        try:
            game = self.registry.get(game_id)
        except GameError:
            return  # the game ended or expired meanwhile
        with game.lock:
            game.record_guesses(guesses, request_)
            self._flush(game)

    # --- time ---------------------------------------------------------------

    def tick(self) -> None:
        """One step of the ticker: drop abandoned games, run every game's clock and
        send what it has to say."""
        for game_id in self.registry.expire():
            self.logger.debug("game %s expired", game_id)
        now = time.monotonic()
        with self._lock:
            # The first `round` follows new_game's acknowledgement, which Socket.IO sends
            # only once the handler has returned: give the acknowledgement a tick's start.
            self._born = {g: t for g, t in self._born.items() if now - t < self.tick_interval}
            fresh = set(self._born)
        for game in self.registry.games():
            if game.id in fresh:
                continue
            with game.lock:
                game.tick()
                self._flush(game)

    def _start_ticker(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()

    # --- output -------------------------------------------------------------

    def _flush(self, game: Game) -> None:
        """Hand the drawings of the rounds that ended to the contributions' writer if the
        player consented (it only queues them, and never raises), then send the game's new
        events to its player; the caller holds game.lock."""
        events = game.drain()
        consent = self._consents.get(game)
        if consent is not None:
            for name, payload in events:
                if name == "round_over":
                    self._keep(consent, payload["word"], payload["drawing"], payload["recognized"])
        sid = self.registry.sid_of(game.id)
        if sid is not None:  # else the player is away: resume's acknowledgement carries the state
            for name, payload in events:
                self._emit(name, payload, sid)

    def _emit(self, event: str, payload: dict, sid: str) -> None:
        self._server.emit(event, payload, to=sid, namespace="/")


@socketio.on("ping_server")
def on_ping_server(*args):
    """Acknowledge a ping; the client can time the round trip."""
    return {"pong": True, "server_time": time.time()}


register("/", lambda: Solo.of(current_app), acknowledged=("new_game", "resume"),
         unacknowledged=("ink", "undo", "clear", "skip", "next"))
