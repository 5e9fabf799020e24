"""The solo game's transport: Socket.IO's default namespace (docs/protocol.md is the
contract; `game.solo.rules` holds the rules).

Handlers go through `game.realtime`'s dispatcher: check the payload's shape, rate-limit the
connection, call the game, send what it has to say. Classification goes through the
model's micro-batcher (`game.model.service`), whose worker thread sends the `guess`
events; a background ticker ends rounds on time. A player who said `contribute: true` has
each round's drawing handed to the contributions' writer
(`game.dataset.contribute.GameDrawings`) once the round's events are sent.

With several servers (game/cluster/) a game lives on the server its player is connected to
and is saved to the cluster's store after each change: at once when a round starts or ends,
else with the next snapshot tick. A `resume` reaching another server (its server died, or
the balancer sent the player elsewhere) rebuilds the game there from its snapshot.
"""
from __future__ import annotations

import functools
import threading
import time
import weakref
from typing import Callable

from flask import Flask, current_app, request
from flask_babel import gettext as _

from game.cluster.snapshot import Codec
from game.cluster.store import Local, RedisStore
from game.dataset.contribute import Consent, Keep, game_consent
from game.extensions import socketio
from game.model.service import ModelService
from game.realtime import Dispatcher, Ticker, integer_field, register, string_field
from game.protocol import NO_GAME, RESUME_SECONDS, GameError
from game.solo.rules import Game, GameRegistry, InferenceRequest, Settings

CONFIG_DEFAULTS = {
    "ROUND_STARTS_IN": 2.0,
    # A round's result stays up this long before the next prompt (or until the player taps "Next").
    "ROUND_BREAK": 3.0,
}
KIND = "solo"  # the games' entries in the cluster's store
# A game's snapshot outlives its last save this long: its rounds end (and save) well within,
# and a player whose server died has a resume's grace to come back.
SNAPSHOT_TTL = int(4 * RESUME_SECONDS)


def init_app(app: Flask, model: ModelService, keep: Keep, store: Local | RedisStore) -> Solo:
    """Start the solo games' service on `app`; `create_app` calls this after `socketio.init_app`."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    solo = app.extensions["solo"] = Solo(app, model, keep, store)
    return solo


class Solo:
    """One app's solo games: the games, their ticker, the connections' rate limits; the
    model's batcher classifies, and the consenting players' drawings go to `keep`
    (game.dataset.contribute.GameDrawings.keep); the games are saved to `store`."""

    def __init__(self, app: Flask, model: ModelService, keep: Keep, store: Local | RedisStore):
        cfg = app.config
        self.logger = app.logger
        self.model = model
        self._keep = keep
        self.clock = cfg["GAME_CLOCK"]
        self.starts_in = float(cfg["ROUND_STARTS_IN"])
        self.break_seconds = float(cfg["ROUND_BREAK"])
        self.tick_interval = float(cfg["TICK_INTERVAL"])
        self.registry = GameRegistry(self.clock)
        self.store = store
        self.codec = Codec(cfg["SECRET_KEY"], {"clock": self.clock})
        self.snapshot_interval = float(cfg["SNAPSHOT_INTERVAL"])
        self._dirty: set[str] = set()  # game ids changed since their last save
        self._checked_at = 0.0
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
        with game.lock:
            self._save(game)  # the token too: the player may resume on another server
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
        owner = self._rebuild(game_id)
        game = self.registry.get(game_id)
        with game.lock:
            self.registry.resume(game_id, token, sid)
            if owner is not None and self.store.take(KIND, game_id, owner) is False:
                self.registry.discard(game_id)  # a third server took it meanwhile
                raise GameError(NO_GAME, _("no such game (it ended or expired)"))
            game.drain()  # what happened while away is in the snapshot
            snapshot = game.snapshot()
            self._save(game)
        self._start_ticker()
        return snapshot

    def _rebuild(self, game_id: str) -> str | None:
        """Hold `game_id`'s game as its last snapshot has it when another server held it
        (that server's id is returned; it stays the owner until `resume` checks the token)."""
        held = self.store.load(KIND, game_id)
        if held is None or held.owner == self.store.server_id or held.blob is None:
            return None
        game, token, consent, saved_at = self.codec.loads(held.blob)
        game.pause(at=saved_at)  # from its last save, when its server may have died, to the resume
        if consent is not None:
            self._consents[game] = consent
        self.registry.adopt(game, token)
        return held.owner

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
            self.store.drop(KIND, game_id)
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
        if self.store.shared and now - self._checked_at >= self.snapshot_interval:
            self._checked_at = now
            self._save_changed()

    # --- snapshots (several servers) ----------------------------------------

    def _save(self, game: Game) -> None:
        """Save `game`'s snapshot (the caller holds game.lock); a game another server holds
        now is dropped here."""
        if not self.store.shared:
            return
        token = self.registry.token_of(game.id)
        if token is None:
            return  # dropped meanwhile
        blob = self.codec.dumps((game, token, self._consents.get(game), self.clock()))
        saved = self.store.save(KIND, game.id, blob, SNAPSHOT_TTL)
        if saved is False:
            self.registry.discard(game.id)
        if saved is not None:
            with self._lock:
                self._dirty.discard(game.id)

    def _save_changed(self) -> None:
        """Save the games changed since their last save, and any the store has lost (Redis
        restarted); drop those another server holds now."""
        games = self.registry.games()
        owners = self.store.owners(KIND, [g.id for g in games])
        if owners is None:
            return  # Redis is unreachable: try again next time
        with self._lock:
            dirty = set(self._dirty)
        for game, owner in zip(games, owners):
            if owner not in (None, self.store.server_id):
                self.registry.discard(game.id)
            elif owner is None or game.id in dirty:
                with game.lock:
                    self._save(game)

    def _start_ticker(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.close()
        if self.store.shared:
            self._save_changed()  # a server stopped with SIGTERM hands over its games' latest state

    # --- output -------------------------------------------------------------

    def _flush(self, game: Game) -> None:
        """Hand the drawings of the rounds that ended to the contributions' writer if the
        player consented (it only queues them, and never raises), then send the game's new
        events to its player; the caller holds game.lock."""
        events = game.drain()
        if self.store.shared:
            # A round starting or ending is saved at once (a resume elsewhere must not replay
            # it); ink and guesses with the next snapshot tick.
            if any(name != "guess" for name, _payload in events):
                self._save(game)
            else:
                with self._lock:
                    self._dirty.add(game.id)
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
        # The player is connected here (their game lives where they are): no message queue.
        self._server.emit(event, payload, to=sid, namespace="/", ignore_queue=True)


@socketio.on("ping_server")
def on_ping_server(*args):
    """Acknowledge a ping; the client can time the round trip."""
    return {"pong": True, "server_time": time.time()}


register("/", lambda: Solo.of(current_app), acknowledged=("new_game", "resume"),
         unacknowledged=("ink", "undo", "clear", "skip", "next"))
