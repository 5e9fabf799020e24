"""Socket.IO events: the solo game's transport (docs/protocol.md is the contract).

Handlers are thin: check the payload's shape, rate-limit the connection, call the
engine (`game.engine`), send what the game has to say. Every refusal reaches the client
as an `error` event (or a `{"ok": false}` acknowledgement); no exception escapes.
Classification goes through the micro-batcher (`game.inference`), whose worker thread
sends the `guess` events; a background ticker ends rounds on time. A player who said
`contribute: true` has each round's drawing handed to the contributions' writer
(`game.contribute.GameDrawings`) once the round's events are sent.
"""
from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

from flask import Flask, current_app, request
from flask_babel import gettext as _

from game.classifier import DEFAULT_MODEL, DoodleClassifier
from game.contribute import Consent, game_consent
from game.deck import load_deck, metrics_path
from game.engine import (BAD_PAYLOAD, RATE_LIMITED, RECOGNITION_THRESHOLD, SERVER_ERROR, UNKNOWN_EVENT, Game, GameError,
                         GameRegistry, InferenceRequest, Settings)
from game.extensions import socketio
from game.inference import CPU_AFFINITIES, Batcher, ClassifierProcess, share_cpus
from game.ratelimit import TokenBucket

GUESSES = 5  # top guesses a `guess` event shows
MAX_ID = 64  # characters in a game id or token

CONFIG_DEFAULTS = {
    "MODEL_PATH": None,  # None: $DOODLE_MODEL, else the shipped model
    "CLASSIFIER": None,  # an object with classify_batch(drawings, k) and categories
    "DECK": None,  # explicit default words; None: the words the model recognises well
    "DECK_MIN_RECALL": 0.75,
    "RECOGNITION_THRESHOLD": RECOGNITION_THRESHOLD,
    "ROUND_STARTS_IN": 2.0,
    # A round's result stays up this long before the next prompt (or until the player taps "Next").
    "ROUND_BREAK": 3.0,
    "GAME_CLOCK": time.monotonic,
    "TICK_INTERVAL": 0.05,
    "RATE_LIMIT": 30.0,  # messages a second a connection...
    "RATE_BURST": 60,  # ...with bursts up to this many
    # Small batches: with 120 players, batches of 64 made those at the back of a burst wait
    # for the whole batch (p95 368 ms); 16 gives 233 ms (benchmarks/classroom_load.py).
    "BATCH_MAX": 16,
    "BATCH_WAIT": 0.005,
    # The shipped (or MODEL_PATH) model runs in a process of its own (inference.ClassifierProcess);
    # False loads it into the server's process (the only way before; a debugger's choice).
    "INFERENCE_PROCESS": True,
    # "auto": the server's threads on one CPU, the model's process on the others (inference.share_cpus);
    # "off": wherever the OS puts them. None: $DOODLE_CPU_AFFINITY, else "auto".
    "CPU_AFFINITY": None,
}


def init_app(app: Flask) -> None:
    """Load the classifier and the deck and start the game service on `app`
    (`app.extensions["doodle"]`); `create_app` calls this after `socketio.init_app`."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    cfg = app.config
    model_path = cfg["MODEL_PATH"] = (cfg["MODEL_PATH"] or os.environ.get("DOODLE_MODEL")
                                      or str(DEFAULT_MODEL))
    affinity = cfg["CPU_AFFINITY"] = cfg["CPU_AFFINITY"] or os.environ.get("DOODLE_CPU_AFFINITY") or "auto"
    if affinity not in CPU_AFFINITIES:
        raise ValueError(f"CPU_AFFINITY (or $DOODLE_CPU_AFFINITY) must be one of {CPU_AFFINITIES}, got {affinity!r}")
    classifier = (cfg["CLASSIFIER"] if cfg["CLASSIFIER"] is not None
                  else _load_classifier(model_path, bool(cfg["INFERENCE_PROCESS"]), affinity))
    categories = list(classifier.categories)
    if cfg["DECK"] is not None:
        deck = list(dict.fromkeys(cfg["DECK"]))
        unknown = sorted(set(deck) - set(categories))
        if not deck or unknown:
            raise ValueError(f"DECK must be a non-empty list of the model's categories; unknown: {unknown[:5]}")
    else:
        deck = load_deck(categories, metrics_path(model_path), cfg["DECK_MIN_RECALL"])
    app.extensions["doodle"] = Doodle(app, classifier, deck)


def _load_classifier(path: str, process: bool, affinity: str):
    p = Path(path)
    # Keyed by modification time too, so a retrained model file is picked up.
    return _load_classifier_cached(str(p.resolve()), p.stat().st_mtime_ns if p.exists() else 0, process, affinity)


@functools.lru_cache(maxsize=2)
def _load_classifier_cached(path: str, mtime_ns: int, process: bool, affinity: str):
    if process:
        # The server's threads share one CPU only where the model has others to itself.
        return ClassifierProcess(path, cpus=share_cpus(affinity))
    return DoodleClassifier.load(path)


class Doodle:
    """One app's game service: the games, the batcher, the ticker and the rate limits."""

    def __init__(self, app: Flask, classifier, deck: list[str]):
        cfg = app.config
        self.logger = app.logger
        self._extensions = app.extensions  # contributions: set up after this service
        self.classifier = classifier
        self.categories = list(classifier.categories)
        self.deck = deck
        self.clock = cfg["GAME_CLOCK"]
        self.threshold = float(cfg["RECOGNITION_THRESHOLD"])
        self.starts_in = float(cfg["ROUND_STARTS_IN"])
        self.break_seconds = float(cfg["ROUND_BREAK"])
        self.tick_interval = float(cfg["TICK_INTERVAL"])
        self.rate, self.burst = float(cfg["RATE_LIMIT"]), float(cfg["RATE_BURST"])
        self.registry = GameRegistry(self.clock)
        self.batcher = Batcher(lambda drawings: classifier.classify_batch(list(drawings), GUESSES),
                               max_batch=int(cfg["BATCH_MAX"]), max_wait=float(cfg["BATCH_WAIT"]))
        # Each create_app builds a new Socket.IO server; this app's games talk through its own.
        self._server = socketio.server
        self._buckets: dict[str, TokenBucket] = {}  # by sid; only that connection's thread touches one
        self._born: dict[str, float] = {}  # game id -> when new_game created it (real time)
        # The consenting players' games (new_game's `contribute`); a dropped game leaves it.
        self._consents: weakref.WeakKeyDictionary[Game, Consent] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._ticker = Ticker(self._server, self.tick_interval, self.tick, self.logger)
        self._actions: dict[str, Callable[[str, dict], Any]] = {
            "new_game": self._new_game, "ink": self._ink, "undo": self._undo, "clear": self._clear,
            "skip": self._skip, "next": self._next, "resume": self._resume}

    # --- the handlers' entry point -------------------------------------------

    def handle(self, event: str, sid: str, args: tuple, ack: bool | None = False):
        """Run `event`'s action for connection `sid` (`ack` as `guarded`'s); an event
        without one is refused as unknown_event."""
        def action():
            bucket = self._buckets.get(sid) or self._buckets.setdefault(sid, TokenBucket(self.rate, self.burst, self.clock))
            if not bucket.take():
                raise GameError(RATE_LIMITED, _("more than %(rate)s messages a second", rate=f"{self.rate:g}"))
            if event not in self._actions:
                raise unknown_event(event)
            payload = args
            if event == "new_game" and (not args or args == (None,)):
                payload = ({},)
            return self._actions[event](sid, one_object(payload))

        return guarded(self.logger, event, sid, action, ack, lambda error: self._emit("error", error, sid),
                       message_key="error")

    def disconnect(self, sid: str) -> None:
        self._buckets.pop(sid, None)
        self.registry.disconnect(sid)

    # --- actions ------------------------------------------------------------

    def _new_game(self, sid: str, data: dict) -> dict:
        given = {k: data[k] for k in ("rounds", "seconds", "words") if data.get(k) is not None}
        consent = game_consent(data, request.headers)
        settings = Settings(**given, starts_in=self.starts_in, threshold=self.threshold,
                            break_seconds=self.break_seconds)
        game = Game(settings, self.deck, self.clock, categories=self.categories)
        if consent is not None:
            self._consents[game] = consent
        with self._lock:
            self._born[game.id] = time.monotonic()
        token = self.registry.add(game, sid)
        self._start_ticker()
        return {"game_id": game.id, "token": token, "settings": settings.public()}

    def _ink(self, sid: str, data: dict) -> None:
        game = self.registry.owned(_string(data, "game_id"), sid)
        args = _integer(data, "round"), _integer(data, "stroke"), data.get("points"), _integer(data, "seq")
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
        game = self.registry.owned(_string(data, "game_id"), sid)
        index = _integer(data, "round")
        with game.lock:
            try:
                command(game, index)
                self._classify(game)  # after undo the guesses should show what is left
            finally:
                self._flush(game)

    def _resume(self, sid: str, data: dict) -> dict:
        game_id, token = _string(data, "game_id"), _string(data, "token")
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
            self.batcher.submit(game.id, request_.drawing,
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
        """Stop the ticker and the batcher (tests create many apps)."""
        self._ticker.close()
        self.batcher.close()

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
                    self._extensions["contributions"].games.keep(
                        consent, payload["word"], payload["drawing"], payload["recognized"])
        sid = self.registry.sid_of(game.id)
        if sid is not None:  # else the player is away: resume's acknowledgement carries the state
            for name, payload in events:
                self._emit(name, payload, sid)

    def _emit(self, event: str, payload: dict, sid: str) -> None:
        self._server.emit(event, payload, to=sid, namespace="/")


def one_object(args: tuple) -> dict:
    """A handler's arguments as its one JSON object payload (else bad_payload)."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise GameError(BAD_PAYLOAD, _("the payload must be one JSON object"))
    return args[0]


def guarded(logger, event: str, sid: str, action: Callable[[], dict | None], ack: bool | None,
            send_error: Callable[[dict], None], message_key: str = "message"):
    """Run a handler's `action()` so that no exception escapes: with `ack` True, return
    the acknowledgement ({"ok": true, ...result} or {"ok": false, "code", message_key});
    with False, a refusal goes out through `send_error({"event", "code", "message"})`;
    with None, both (an unknown event: a handler cannot tell whether the client asked for
    an acknowledgement, which Socket.IO sends only to one that did). Anything but a
    GameError is logged and reported as server_error; a GameError's `details` dict, when
    it has one, is added to either."""
    try:
        result = action()
        return {"ok": True, **(result or {})} if ack else None
    except Exception as e:
        if not isinstance(e, GameError):
            logger.exception("%s from %s failed", event, sid)
            e = GameError(SERVER_ERROR, _("internal error"))
        details = getattr(e, "details", None) or {}
        if ack is not True:
            send_error({"event": event, "code": e.code, "message": e.message, **details})
        return None if ack is False else {"ok": False, "code": e.code, message_key: e.message, **details}


def unknown_event(event: str) -> GameError:
    return GameError(UNKNOWN_EVENT, _("unknown event: %(event)s", event=event))


def client_sent() -> bool:
    """Whether the connect or disconnect handler running was reached by a client's event
    of that name, which must seat, unseat or reset nothing. python-socketio runs the real
    ones while the connection is pending (connecting or disconnecting), and hands on a
    client's events only while it is connected."""
    return socketio.server.manager.is_connected(request.sid, request.namespace)


class Ticker:
    """Calls `step()` every `interval` seconds on a background task of the Socket.IO
    `server`, from `start()` (idempotent) until `close()`; a failing step is logged."""

    def __init__(self, server, interval: float, step: Callable[[], None], logger):
        self._server, self.interval, self._step, self._logger = server, interval, step, logger
        self._task = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._task is None and not self._stop.is_set():
                self._task = self._server.start_background_task(self._run)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._step()
            except Exception:
                self._logger.exception("a ticker failed a tick")

    def close(self) -> None:
        self._stop.set()
        if self._task is not None and self._task is not threading.current_thread():
            self._task.join(5)


def _string(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise GameError(BAD_PAYLOAD, _("%(key)s must be a string of 1 to %(max)s characters", key=key, max=MAX_ID))
    return value


def _integer(data: dict, key: str) -> int:
    value = data.get(key)
    if type(value) is not int or not 0 <= value < 2**53:
        raise GameError(BAD_PAYLOAD, _("%(key)s must be a non-negative integer", key=key))
    return value


# --- Socket.IO handlers -------------------------------------------------------
# `*args`: a client may send any number of arguments; a signature mismatch would
# otherwise raise inside Flask-SocketIO instead of answering `bad_payload`.


def _doodle() -> Doodle:
    return current_app.extensions["doodle"]


@socketio.on("connect")
def on_connect(auth=None):
    if client_sent():
        return on_unknown("connect")
    current_app.logger.debug("socket connected: %s", request.sid)


@socketio.on("disconnect")
def on_disconnect(*args):
    if client_sent():
        return on_unknown("disconnect")
    _doodle().disconnect(request.sid)


@socketio.on("*")
def on_unknown(event, *args):
    """Any other event (`win`, `set_score`...): refused, in the acknowledgement and an
    `error` event; its name is echoed cut to MAX_ID characters (it is the client's)."""
    return _doodle().handle(event[:MAX_ID], request.sid, args, ack=None)


@socketio.on("ping_server")
def on_ping_server(*args):
    """Acknowledge a ping; the client can time the round trip."""
    return {"pong": True, "server_time": time.time()}


@socketio.on("new_game")
def on_new_game(*args):
    return _doodle().handle("new_game", request.sid, args, ack=True)


@socketio.on("resume")
def on_resume(*args):
    return _doodle().handle("resume", request.sid, args, ack=True)


@socketio.on("ink")
def on_ink(*args):
    _doodle().handle("ink", request.sid, args)


@socketio.on("undo")
def on_undo(*args):
    _doodle().handle("undo", request.sid, args)


@socketio.on("clear")
def on_clear(*args):
    _doodle().handle("clear", request.sid, args)


@socketio.on("skip")
def on_skip(*args):
    _doodle().handle("skip", request.sid, args)


@socketio.on("next")
def on_next(*args):
    _doodle().handle("next", request.sid, args)
