"""The classroom's transport: Socket.IO namespace "/classroom" and the teacher's and
phones' pages (docs/classroom.md is the contract; `game.classroom.rules` holds the rules).

Handlers go through `game.realtime`'s dispatcher, as the solo game's: check the payload's
shape, rate-limit the connection, call the room under its lock, send its outbox. Every
refusal is an `error` event or an `{"ok": false, "code", "message"}` acknowledgement; no
exception escapes. Drawings are classified by the model's micro-batcher (shared with the
solo game), keyed per (room, player), so a class's phones share model calls.

Addresses: each room is a Socket.IO room named by its code (everyone in it), plus
"<code>/host" (the teacher's screens) and "<code>/<player id>" (one player's phones),
so the outbox's `Event.to` maps onto one `emit`. A ticker runs the rooms' clocks and,
every CLASSROOM_MOSAIC_INTERVAL seconds, sends the projector one `mosaic` event with
the points each drawing gained since the last one and the AI's current guess.

A player who joined (or rejoined) with `contribute: true` has their drawing of each
round handed to the contributions' writer (`game.dataset.contribute.GameDrawings`) when the round
ends, with the round's word and the AI's verdict; nobody else's is kept.

Words the teacher teaches the AI (the rules' teach mode) are learned here, off the room's
lock, once a teach round's `learning` event goes out (game/model/teach.py), and kept per
class in CLASSROOM_TAUGHT_PATH: the teacher's page holds the class's key (`class_token`,
given by `create`) and sends it with its next `create`, after a restart too.

With several servers (game/cluster/), one server holds each room: the one its teacher
created it on, or the one that took it over when that server died. The others relay their
connections' events to it (`game.cluster.relay`), and it emits through Socket.IO's message
queue to every connection wherever it is. The room, its seats and its players' consents are
saved to the cluster's store after changes (at once when something happens to the class,
ink with the next snapshot tick); every SNAPSHOT_INTERVAL a server takes over the rooms
whose server's lease expired, and a room's event reaching a server takes it over too.
"""
from __future__ import annotations

import functools
import io
import secrets
import os
import socket
import threading
import time
import weakref
from dataclasses import fields
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import urlsplit

import segno
from flask import Blueprint, Flask, current_app, render_template, request
from flask_babel import gettext as _

from game import i18n
from game.classroom.modes import MODES, Teach
from game.classroom.mosaic import Mosaic
from game.classroom.rules import ALPHABET, HOST, KnownWord, Room, RoomConfig, RoomRegistry, UnknownWords, typed_code
from game.classroom.text import MAX_NICKNAME, MAX_WORD
from game.cluster.relay import NoAnswer, Relay
from game.cluster.snapshot import Codec
from game.cluster.store import Local, RedisStore
from game.dataset.contribute import Consent, Keep, game_consent
from game.extensions import socketio
from game.model.service import ModelService
from game.model.teach import TaughtStore, TaughtWords, model_id
from game.protocol import BAD_PAYLOAD, CANNOT_TEACH, ELSEWHERE, NO_PLAYER, NO_ROOM, NOT_HOST, SERVER_ERROR, GameError
from game.realtime import Dispatcher, Ticker, guarded, integer_field, register
from game.solo.rules import Game

NS = "/classroom"
CONTROLS = ("start", "pause", "resume", "skip", "end")  # the host's buttons: Room methods of the token alone
MAX_TOKEN = 64
KIND = "classroom"  # the rooms' entries in the cluster's store
SEATING = ("join", "rejoin", "host_rejoin")  # the events that name the room they are for
LEAVE = "disconnect"  # relayed to a room's server when a connection seated there goes
# Seconds a room's server, once looked up, is taken as known (a Redis round trip less for
# each relayed event; a server that died meanwhile loses events for as long as its lease anyway).
HOLDER_KNOWN = 1.0
# The events that change the class's state (not one player's ink or guesses): saved at the next tick.
URGENT = frozenset({"room", "round", "round_over", "game_over", "paused", "resumed", "kicked", "learned"})

CONFIG_DEFAULTS = {
    "CLASSROOM_BASE_URL": None,  # e.g. "http://192.168.1.20:5000": overrides the join URL's origin
    "CLASSROOM_MOSAIC_INTERVAL": 0.25,  # the projector's mosaic: 4 updates a second
    "CLASSROOM_ROOM": {},  # RoomConfig fields to override (break_seconds, max_players, ...)
    "CLASSROOM_TAUGHT_PATH": None,  # the classes' taught words (JSON); None: the instance folder's
}

bp = Blueprint("classroom", __name__)


@bp.get("/classroom")
def teacher():
    """The teacher's page: create a room, then the projector view (static/classroom.js)."""
    return render_template("classroom.html", modes=[m for m in MODES.values() if m.listed],
                           teach_seconds=round(Teach.SECONDS), max_word=MAX_WORD)


@bp.get("/join")
@bp.get("/join/<code>")
def join(code: str = ""):
    """The phone page (static/join.js); the QR code points at /join/<code>."""
    return render_template("join.html", code="".join(c for c in code.upper() if c.isalnum())[:8],
                           max_nickname=MAX_NICKNAME)


def init_app(app: Flask, model: ModelService, keep: Keep, store: Local | RedisStore) -> Classroom:
    """Start the classroom's service on `app`; after `socketio.init_app`."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    # One server of a cluster: the characters its rooms' codes start with (game/cluster/launch.py).
    app.config.setdefault("CLASSROOM_CODE_FIRST", os.environ.get("DOODLE_CLASSROOM_CODE_FIRST") or ALPHABET)
    classroom = app.extensions["classroom"] = Classroom(app, model, keep, store)
    return classroom


# --- the join URL and its QR code ---------------------------------------------------


def lan_address() -> str | None:
    """This machine's address on the local network: the source address the kernel picks
    for a UDP "connection" to a non-routable address (nothing is sent), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def join_origin(base_url: str | None, host_url: str) -> str:
    """scheme://host:port for the join URL: `base_url` when configured, else the LAN
    address with the port this request came in on, else the request's own host."""
    if base_url:
        return base_url.rstrip("/")
    parts = urlsplit(host_url)
    address = lan_address()
    if address is None:
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}://{address}" + (f":{parts.port}" if parts.port else "")


def qr_svg(url: str) -> str:
    """The URL as an inline SVG QR code (segno), scalable to the projector's size."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", xmldecl=False, svgns=True, nl=False, border=2,
                                    svgclass="qr-code", lineclass=None, omitsize=True)
    return out.getvalue().decode("ascii")


# --- the service --------------------------------------------------------------------


class Seat(NamedTuple):
    """Who a connection is: the room's code and HOST or a player id."""

    code: str
    who: str


class Lessons(NamedTuple):
    """A room's class (its key in the taught words' store) and the words the AI learned."""

    key: str
    words: TaughtWords | None  # None where the model cannot learn (ModelService.reference)


class Classroom:
    """One app's classrooms: the rooms, who each connection is, and the mosaic."""

    def __init__(self, app: Flask, model: ModelService, keep: Keep, store: Local | RedisStore):
        cfg = app.config
        self.logger = app.logger
        self.model = model
        self._keep = keep
        room_cfg = {"threshold": model.threshold, **cfg["CLASSROOM_ROOM"]}
        unknown = set(room_cfg) - {f.name for f in fields(RoomConfig)}
        if unknown:
            raise ValueError(f"CLASSROOM_ROOM has unknown fields: {sorted(unknown)}")
        # Every language's category names: guesses in any of them count (game/i18n.py).
        names = {code: i18n.category_names(cfg["CATEGORIES_PATH"], code) for code in i18n.languages()}
        clock = cfg["GAME_CLOCK"]
        self.store = store
        self.registry = RoomRegistry(clock, deck=model.deck, categories=model.categories,
                                     config=RoomConfig(**room_cfg), names=names,
                                     claim=lambda code: store.reserve(KIND, code) is not False,
                                     code_first=cfg["CLASSROOM_CODE_FIRST"])
        self.codec = Codec(cfg["SECRET_KEY"], {"clock": clock, "filter": self.registry.words_filter,
                                               "reference": model.reference})
        self.snapshot_interval = float(cfg["SNAPSHOT_INTERVAL"])
        self._app = app
        self._dirty: set[str] = set()  # codes of the rooms changed since their last save
        self._urgent: set[str] = set()  # ...and of those to save at the next tick
        self._checked_at = 0.0
        self._relayed: dict[str, str] = {}  # sid -> code: connections seated in another server's room
        self._via: dict[str, str] = {}  # sid -> server id: other servers' connections seated here
        self._holders: dict[str, tuple[str, float]] = {}  # code -> (its server, when looked up)
        self.base_url = cfg["CLASSROOM_BASE_URL"]
        self.mosaic_interval = float(cfg["CLASSROOM_MOSAIC_INTERVAL"])
        self._server = socketio.server
        self._lock = threading.Lock()
        self._seats: dict[str, Seat] = {}  # sid -> seat
        self.mosaic = Mosaic()
        # Per room, the consenting players (join's `contribute`); a dropped room leaves it.
        self._consents: weakref.WeakKeyDictionary[Room, dict[str, Consent]] = weakref.WeakKeyDictionary()
        self._lessons: weakref.WeakKeyDictionary[Room, Lessons] = weakref.WeakKeyDictionary()
        self.taught_store = TaughtStore(cfg["CLASSROOM_TAUGHT_PATH"] or Path(app.instance_path) / "taught_words.json",
                                        model_id(cfg["MODEL_PATH"]))
        self._mosaic_at = 0.0
        self._ticker = Ticker(self._server, float(cfg["TICK_INTERVAL"]), self.tick, self.logger)
        self.dispatcher = Dispatcher(
            {"create": self._create, "host_rejoin": self._host_rejoin, "join": self._join, "rejoin": self._rejoin,
             "configure": self._configure, "kick": self._kick, "close": self._close, "ink": self._ink,
             "undo": self._undo, "clear": self._clear, "guess": self._guess, "state": self._state,
             "teach": self._teach, "export_taught": self._export_taught,
             **{name: functools.partial(self._control, command=name) for name in CONTROLS}},
            rate=float(cfg["RATE_LIMIT"]), burst=float(cfg["RATE_BURST"]), clock=clock, logger=self.logger,
            send_error=self._emit, empty_is_object=("create", "state", "export_taught"))
        self.relay = Relay(store, self._run_relayed, self.logger) if store.shared else None
        if self.relay is not None:
            self._ticker.start()  # every server looks for rooms whose server died

    @classmethod
    def of(cls, app: Flask) -> "Classroom":
        return app.extensions["classroom"]

    # --- events, here or at their room's server ----------------------------------

    def handle(self, event: str, sid: str, args: tuple, ack: bool | None = False):
        """Run an event of connection `sid` (as `Dispatcher.handle`) where its room is."""
        if self.relay is None:
            return self.dispatcher.handle(event, sid, args, ack)
        code = self._code_for(sid, event, args)
        server = self._server_of(code) if code else None
        if server is None:
            answer = self.dispatcher.handle(event, sid, args, ack)
            if (event in SEATING or event == "create") and _accepted(answer):
                self._moving(sid, answer["code"])  # from another server's room
            return answer
        message = {"event": event, "sid": sid, "args": list(args), "ack": ack, "environ": _request_environ(),
                   "via": self.store.server_id}
        try:
            answer = self.relay.send(server, message, wait=ack is not False)
        except NoAnswer as e:
            self.logger.warning("room %s's server %s: %s", code, server, e)

            def refuse():
                raise GameError(SERVER_ERROR, _("The room's server did not answer: try again."))
            return guarded(self.logger, event, sid, refuse, ack, lambda error: self._emit("error", error, sid))
        if event in SEATING and _accepted(answer):
            self._vacate(sid)  # a seat this connection had here
            self._moving(sid, answer["code"])  # or in a third server's room
            with self._lock:
                self._relayed[sid] = answer["code"]
        return answer

    def _code_for(self, sid: str, event: str, args: tuple) -> str | None:
        """The room an event is for: the one it names (joining), else the connection's."""
        if event in SEATING:
            return typed_code(args[0].get("code")) if len(args) == 1 and isinstance(args[0], dict) else None
        with self._lock:
            seat = self._seats.get(sid)
            return seat.code if seat is not None else self._relayed.get(sid)

    def _server_of(self, code: str) -> str | None:
        """The server holding room `code`, None when it is this one (taking it over if its
        server died) or there is no such room."""
        if self.registry.holds(code):
            return None
        now = time.monotonic()
        with self._lock:
            known = self._holders.get(code)
        if known is not None and now - known[1] < HOLDER_KNOWN:
            return known[0]
        held = self.store.route(KIND, code)
        if held is None:
            return None
        if held.owner == self.store.server_id:
            if held.blob is not None:
                self._restore(code, held.blob)
            return None
        with self._lock:
            self._holders = {c: h for c, h in self._holders.items() if now - h[1] < HOLDER_KNOWN}
            self._holders[code] = (held.owner, now)
        return held.owner

    def _moving(self, sid: str, code: str | None) -> None:
        """A connection seated in another server's room takes a seat elsewhere: it leaves there."""
        with self._lock:
            old = self._relayed.get(sid)
            if old is None or old == code:
                return
            del self._relayed[sid]
        self._relay_leave(sid, old)

    def _relay_leave(self, sid: str, code: str) -> None:
        server = self._server_of(code)
        if server is None:
            self._vacate(sid)
            return
        try:
            self.relay.send(server, {"event": LEAVE, "sid": sid}, wait=False)
        except NoAnswer as e:
            self.logger.warning("room %s's server %s: %s", code, server, e)

    def _run_relayed(self, message: dict):
        """Another server's connection's event, on a relay thread, as if it were ours: in a
        request like the connection's own (its language, address and host)."""
        if "emit" in message:  # the room's server's event for connections of ours
            for sid in message["sids"]:
                self._server.emit(message["emit"], message["payload"], to=sid, namespace=NS, ignore_queue=True)
            return None
        sid, event = message["sid"], message["event"]
        if event == LEAVE:
            self.disconnect(sid)
            return None
        with self._lock:
            self._via[sid] = message["via"]  # before: a join's own events reach it
        with self._app.request_context({"REQUEST_METHOD": "GET", "PATH_INFO": "/", **message["environ"]}):
            answer = self.dispatcher.handle(event, sid, tuple(message["args"]), message["ack"])
        with self._lock:
            if sid not in self._seats:
                self._via.pop(sid, None)
        return answer

    # --- seats --------------------------------------------------------------------

    def _seat(self, sid: str) -> tuple[Room, Seat]:
        seat = self._seats.get(sid)
        if seat is None:
            raise GameError(NO_ROOM, _("join a room first"))
        return self.registry.get(seat.code), seat

    def _sit(self, sid: str, room: Room, who: str) -> None:
        """Bind connection `sid` to `who` in `room` (leaving any seat it had)."""
        self._leave(sid)
        with self._lock:
            self._seats[sid] = Seat(room.code, who)
        for name in (room.code, f"{room.code}/{who}"):
            self._server.enter_room(sid, name, namespace=NS)
        self._ticker.start()

    def _leave(self, sid: str) -> Seat | None:
        with self._lock:
            seat = self._seats.pop(sid, None)
        if seat is not None:
            for name in (seat.code, f"{seat.code}/{seat.who}"):
                self._server.leave_room(sid, name, namespace=NS)
        return seat

    def _sids(self, code: str, who: str | None = None) -> list[str]:
        with self._lock:
            return [s for s, seat in self._seats.items() if seat.code == code and who in (None, seat.who)]

    def _origin(self) -> str:
        return join_origin(self.base_url, request.host_url)

    def _host_info(self, room: Room) -> dict:
        url = f"{self._origin()}/join/{room.code}"
        return {"code": room.code, "join_url": url, "qr_svg": qr_svg(url)}

    # --- the teacher ----------------------------------------------------------------

    def _create(self, sid: str, data: dict) -> dict:
        # The class's key: the one its teacher's page kept, or a new class's.
        key = _token(data, "class_token") if "class_token" in data else secrets.token_urlsafe(16)
        # With several servers a new class goes to the one holding the fewest rooms: the page
        # reconnects naming its route and creates there (`here`: once moved, it stays).
        if self.store.shared and data.get("here") is not True:
            route = self.store.emptier(len(self.registry))
            if route is not None:
                e = GameError(ELSEWHERE, _("Another server has more room: moving there."))
                e.details = {"route": route}
                raise e
        room = self.registry.create(data.get("mode", "race"), _client_key())
        if self.store.shared:  # at once, not at the next tick: the next teacher's create counts it
            self._announce()
        self._vacate(sid)  # a room this connection hosted: its teacher is away from now on
        with room.lock:
            words, forgotten = None, []
            if self.model.reference is not None:
                taught, forgotten = self.taught_store.load(key)
                words = self.model.taught_words(taught)
                for word in words.words:
                    room.know(word)
                # Not those this model knows by any name (a model trained on more words).
                forgotten = [w for w in forgotten if room.known(w) is None]
            self._lessons[room] = Lessons(key, words)
            self._sit(sid, room, HOST)
            room.host_connected(True)
            self._flush(room)
            return {**self._host_info(room), "host_token": room.host_token, "class_token": key,
                    "room": room.snapshot(HOST), "forgotten": forgotten}

    def _host_rejoin(self, sid: str, data: dict) -> dict:
        room = self.registry.host(data.get("code"), _token(data, "host_token"), _client_key())
        self._vacate(sid, keep=Seat(room.code, HOST))
        with room.lock:
            self._sit(sid, room, HOST)
            self._flush(room)
            self.mosaic.forget(room.code)
            return {**self._host_info(room), "room": room.snapshot(HOST), "gallery": room.gallery()}

    def _host_room(self, sid: str) -> tuple[Room, str | None]:
        """The connection's room and, when it is the teacher's screen, the host token (a
        student's controls then reach the room without one, which refuses them)."""
        room, seat = self._seat(sid)
        return room, room.host_token if seat.who == HOST else None

    def _configure(self, sid: str, data: dict) -> dict:
        room, token = self._host_room(sid)
        given = {k: data[k] for k in ("rounds", "seconds", "words", "mode", "host_draws") if k in data}
        with room.lock:
            try:
                settings = room.configure(token, **given)
            except UnknownWords as e:
                e.details = {"words": e.words}
                raise
            finally:
                self._flush(room)
        return {"settings": settings}

    def _control(self, sid: str, data: dict, command: str) -> None:
        room, token = self._host_room(sid)
        with room.lock:
            try:
                getattr(room, command)(token)
            finally:
                self._flush(room)

    def _teach(self, sid: str, data: dict) -> dict:
        room, token = self._host_room(sid)
        with room.lock:
            if self._lessons[room].words is None:
                raise GameError(CANNOT_TEACH, _("This server's model cannot learn new words."))
            try:
                word = room.teach(token, data.get("word"))
            except KnownWord as e:
                e.details = {"word": e.word}  # the teacher's page uses the known one
                raise
            finally:
                self._flush(room)
        return {"word": word}

    def _export_taught(self, sid: str, data: dict) -> dict:
        """The room's taught words, as the store keeps them (the teacher's download)."""
        room, token = self._host_room(sid)
        if token is None:
            raise GameError(NOT_HOST, _("only the teacher can do that"))
        with room.lock:
            words = self._lessons[room].words
            return {"model": self.taught_store.model,
                    "words": [t.to_json() for t in words.taught] if words is not None else []}

    def _learn(self, room: Room, word: str, drawings: list) -> None:
        """A teach round's lesson, on a background task: the drawings through the model
        (off the room's lock: the class's guesses go on), then the word is the room's."""
        try:
            taught = self.model.learn(word, drawings)
        except Exception:
            self.logger.exception("room %s could not learn %r", room.code, word)
            with room.lock:
                room.emit(None, "teach_failed", {"word": word, "drawings": len(drawings), "code": SERVER_ERROR,
                                                 "message": _("The AI could not learn this word: try again.")})
                self._flush(room)
            return
        with room.lock:
            lessons = self._lessons[room]
            lessons.words.add(taught)
            try:
                self.taught_store.save(lessons.key, lessons.words.taught)
            except OSError:
                self.logger.exception("room %s's taught words could not be saved", room.code)
            room.learned(word, len(drawings))
            self._flush(room)

    def _kick(self, sid: str, data: dict) -> None:
        room, token = self._host_room(sid)
        player = data.get("player")
        with room.lock:
            try:
                room.kick(token, player)
            finally:
                self._flush(room)

    def _close(self, sid: str, data: dict) -> None:
        room, token = self._host_room(sid)
        room = self.registry.close(room.code, token)
        with room.lock:
            self._flush(room)
        self.store.drop(KIND, room.code)

    # --- the students ------------------------------------------------------------------

    def _join(self, sid: str, data: dict) -> dict:
        consent = game_consent(data, request.headers)  # first: a bad field must not seat anyone
        room, player = self.registry.join(data.get("code"), _client_key(), nickname=data.get("nickname"))
        return self._seated(sid, room, player, consent)

    def _rejoin(self, sid: str, data: dict) -> dict:
        token, consent = _token(data, "token"), game_consent(data, request.headers)
        room, player = self.registry.join(data.get("code"), _client_key(), token=token)
        return self._seated(sid, room, player, consent)

    def _seated(self, sid: str, room: Room, player, consent: Consent | None) -> dict:
        self._vacate(sid, keep=Seat(room.code, player.id))
        with room.lock:
            consents = self._consents.setdefault(room, {})
            if consent is None:
                consents.pop(player.id, None)  # each join or rejoin says it again
            else:
                consents[player.id] = consent
            self._sit(sid, room, player.id)
            self._flush(room)
            return {"code": room.code, "player": player.id, "token": player.token, "nickname": player.nickname,
                    "room": room.snapshot(player.id)}

    def _state(self, sid: str, data: dict) -> dict:
        room, seat = self._seat(sid)
        with room.lock:
            return {"room": room.snapshot(seat.who)}

    # --- drawing and guessing -------------------------------------------------------

    def _ink(self, sid: str, data: dict) -> None:
        self._drawing_command(sid, lambda room, who: room.add_ink(
            who, integer_field(data, "round"), integer_field(data, "stroke"), data.get("points"), integer_field(data, "seq")))

    def _undo(self, sid: str, data: dict) -> None:
        self._drawing_command(sid, lambda room, who: room.undo(who, integer_field(data, "round")))

    def _clear(self, sid: str, data: dict) -> None:
        self._drawing_command(sid, lambda room, who: room.clear(who, integer_field(data, "round")))

    def _drawing_command(self, sid: str, command: Callable[[Room, str], None]) -> None:
        room, seat = self._seat(sid)
        with room.lock:
            try:
                command(room, seat.who)
                self._classify(room, seat.who)
            finally:
                self._flush(room)

    def _guess(self, sid: str, data: dict) -> dict:
        room, seat = self._seat(sid)
        if seat.who == HOST:
            raise GameError(NO_PLAYER, _("the teacher does not guess"))
        index = data.get("round")
        with room.lock:
            try:
                verdict = room.submit_guess(seat.who, data.get("text"), None if index is None else integer_field(data, "round"))
            finally:
                self._flush(room)
        return {"verdict": verdict}

    def _classify(self, room: Room, who: str) -> None:
        request_ = room.inference_request(who)
        if request_ is not None:
            self.model.submit(("classroom", room.code, who), request_.drawing,
                              functools.partial(self._on_guesses, room.code, who, request_),
                              self._lessons[room].words)

    def _on_guesses(self, code: str, who: str, request_, guesses) -> None:
        """The batcher's callback, on its worker thread."""
        try:
            room = self.registry.get(code)
        except GameError:
            return  # closed or expired meanwhile
        with room.lock:
            room.record_guesses(who, guesses, request_)
            self._flush(room)

    # --- connections ----------------------------------------------------------------------

    def disconnect(self, sid: str) -> None:
        self.dispatcher.forget(sid)
        self._vacate(sid)
        with self._lock:
            self._via.pop(sid, None)
            code = self._relayed.pop(sid, None)
        if code is not None:
            self._relay_leave(sid, code)

    def _vacate(self, sid: str, keep: Seat | None = None) -> None:
        """Connection `sid` leaves its seat (unless it is `keep`, the one it is taking
        again): once no other connection holds that seat, its player, or the host, is away,
        as after a disconnect. The caller holds no room's lock (this takes the old room's)."""
        if keep is not None and self._seats.get(sid) == keep:
            return
        seat = self._leave(sid)
        if seat is None:
            return
        try:
            room = self.registry.get(seat.code)
        except GameError:
            return
        if self._sids(seat.code, seat.who):
            return  # another tab of the same player (or projector) is still here
        with room.lock:
            if seat.who == HOST:
                room.host_connected(False)
            elif seat.who in room.players:
                room.set_connected(seat.who, False)
            self._flush(room)

    # --- time ---------------------------------------------------------------------

    def tick(self) -> None:
        """Run every room's clock, drop expired rooms and, when due, send the mosaics."""
        for room in self.registry.expire():
            with room.lock:
                self._flush(room)
            self.store.drop(KIND, room.code)
        now = time.monotonic()
        mosaic = now - self._mosaic_at >= self.mosaic_interval
        if mosaic:
            self._mosaic_at = now
        for room in self.registry.rooms():
            with room.lock:
                room.tick()
                self._flush(room)
                if mosaic:
                    self._send_mosaic(room)
        if self.store.shared:
            with self._lock:
                urgent, self._urgent = self._urgent, set()
            for room in self.registry.rooms():
                if room.code in urgent:
                    with room.lock:
                        self._save(room)
        if self.store.shared and now - self._checked_at >= self.snapshot_interval:
            self._checked_at = now
            self._announce()
            self._save_changed()
            for code, blob in self.store.orphans(KIND) or ():
                if blob is not None:
                    self._restore(code, blob)

    def close(self) -> None:
        self._ticker.close()
        if self.relay is not None:
            self.relay.close()
            self._save_changed()  # stopped with SIGTERM: the rooms' latest state for their next server

    # --- snapshots (several servers) --------------------------------------------------

    def _announce(self) -> None:
        """How many rooms this server holds, and the route to it, for placing new classes
        (RedisStore.emptier)."""
        self.store.announce(self.registry.code_first, len(self.registry))

    def _save(self, room: Room) -> None:
        """Save `room`'s snapshot (the caller holds room.lock); a room another server holds
        now is dropped here."""
        with self._lock:
            me = self.store.server_id
            seats = {sid: (seat.who, self._via.get(sid, me)) for sid, seat in self._seats.items()
                     if seat.code == room.code}
        blob = self.codec.dumps((room, seats, self._consents.get(room), self._lessons.get(room)))
        saved = self.store.save(KIND, room.code, blob, index=True)
        if saved is False:
            self._drop(room.code)
        if saved is not None:
            with self._lock:
                self._dirty.discard(room.code)

    def _save_changed(self) -> None:
        """Save the rooms changed since their last save and any the store lost (Redis
        restarted); drop those another server holds now."""
        rooms = self.registry.rooms()
        owners = self.store.owners(KIND, [r.code for r in rooms])
        if owners is None:
            return  # Redis is unreachable: next time
        with self._lock:
            self._dirty &= {r.code for r in rooms}  # closed or expired meanwhile
            dirty = set(self._dirty)
        for room, owner in zip(rooms, owners):
            if owner not in (None, self.store.server_id):
                self._drop(room.code)
            elif owner is None or room.code in dirty:
                with room.lock:
                    self._save(room)
        self._forget_the_dead()

    def _forget_the_dead(self) -> None:
        """Connections of servers whose lease expired are gone: their seats are let go,
        as at a disconnect (their players are away until they rejoin elsewhere)."""
        with self._lock:
            via = dict(self._via)
        dead = self.store.dead(set(via.values()))
        for sid, server in via.items():
            if dead and server in dead:
                self.disconnect(sid)

    def _restore(self, code: str, blob: bytes) -> None:
        """Hold room `code` as its snapshot has it, with the seats it had: its connections'
        events come here from now on."""
        room, seats, consents, lessons = self.codec.loads(blob)
        self.registry.adopt(room)
        with self._lock:
            for sid, (who, server) in seats.items():
                self._seats[sid] = Seat(code, who)
                if server != self.store.server_id:
                    self._via[sid] = server
                self._relayed.pop(sid, None)
        if consents is not None:
            self._consents[room] = consents
        self._lessons[room] = lessons
        self.mosaic.forget(code)
        self._ticker.start()
        self.logger.info("room %s taken over", code)

    def _drop(self, code: str) -> None:
        """Another server holds room `code` now: its connections here relay their events there."""
        self.registry.discard(code)
        with self._lock:
            for sid in [s for s, seat in self._seats.items() if seat.code == code]:
                del self._seats[sid]
                self._via.pop(sid, None)
                if self._server.manager.is_connected(sid, NS):
                    self._relayed[sid] = code
        self.mosaic.forget(code)

    # --- the projector's mosaic --------------------------------------------------------

    def _send_mosaic(self, room: Room) -> None:
        if room.round is None or not self._sids(room.code, HOST):
            return
        update = self.mosaic.update(room)
        if update is not None:
            self._emit("mosaic", update, f"{room.code}/{HOST}")

    # --- output -----------------------------------------------------------------------------

    def _flush(self, room: Room) -> None:
        """Send the room's outbox and save what changed; the caller holds room.lock."""
        events = room.drain()
        if self.store.shared:
            # A change of the class's state is saved at the next tick (another server taking the
            # room over must not replay it); ink and guesses with the next snapshot tick. On the
            # ticker: a room's pickle takes milliseconds, which its events should not wait for.
            with self._lock:
                (self._urgent if any(name in URGENT for _to, name, _payload in events) else self._dirty).add(room.code)
        for to, name, payload in events:
            if name == "round_over":  # queued before the class hears the round is over
                self._keep_drawings(room, payload["index"])
            elif name == "learning":
                self._server.start_background_task(self._learn, room, payload["word"],
                                                   room.teach_drawings(room.round))
            target = room.code if to is None else f"{room.code}/{to}"
            self._emit(name, payload, target)
            if name == "game_over":
                self._emit("gallery", {"gallery": room.gallery()}, f"{room.code}/{HOST}")
            elif name == "kicked":
                for sid in self._sids(room.code, to):
                    self._leave(sid)
            elif name == "closed":
                for sid in self._sids(room.code):
                    self._leave(sid)
                self.mosaic.forget(room.code)

    def _keep_drawings(self, room: Room, index: int) -> None:
        """Hand the consenting players' drawings of round `index` to the contributions'
        writer (it only queues them); the caller holds room.lock. Never raises: the round's
        events go out whatever happens here."""
        consents = self._consents.get(room)
        r = next((r for r in room.rounds if r.index == index), None)
        if not consents or r is None:
            return
        # A word outside the model's is one the class taught it (a teach round's, or a round of it since).
        taught = r.word not in self.model.categories
        try:
            for pid, g, recognized in room.finished_drawings(r):
                if pid in consents:
                    self._keep(consents[pid], r.word, Game._copy(g.strokes), recognized, taught)
        except Exception:
            self.logger.exception("could not hand room %s's round %d drawings to the dataset", room.code, index)

    def _emit(self, event: str, payload: dict, to: str) -> None:
        """Send an event to `to` (a room's or a seat's name, or a sid). With several servers,
        the connections seated here from other servers get it through their server's relay
        (one message a server, read by that server alone, in the room's order), not through
        Socket.IO's message queue, whose every message each server reads on one thread."""
        if self.relay is None:
            self._server.emit(event, payload, to=to, namespace=NS)
            return
        code, _sep, who = to.partition("/")
        with self._lock:
            seat = self._seats.get(to)
            if seat is not None:  # one connection (a refusal)
                sids, code = [to], seat.code
            else:
                sids = [s for s, seat in self._seats.items() if seat.code == code and who in ("", seat.who)]
            remote: dict[str, list[str]] = {}
            for sid in sids:
                if sid in self._via:
                    remote.setdefault(self._via[sid], []).append(sid)
        if not sids:  # a connection seated nowhere (a refused join): the queue finds it
            self._server.emit(event, payload, to=to, namespace=NS,
                              ignore_queue=self._server.manager.is_connected(to, NS))
            return
        self._server.emit(event, payload, to=to, namespace=NS, ignore_queue=True)  # this server's own
        for server, them in remote.items():
            try:
                self.relay.send(server, {"emit": event, "payload": payload, "sids": them, "key": code}, wait=False)
            except NoAnswer as e:
                self.logger.warning("room %s's %s to %s: %s", code, event, server, e)


def _token(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TOKEN:
        raise GameError(BAD_PAYLOAD, _("%(key)s must be a string of 1 to %(max)s characters", key=key, max=MAX_TOKEN))
    return value


def _accepted(answer) -> bool:
    return isinstance(answer, dict) and answer.get("ok") is True


def _request_environ() -> dict:
    """What the room's server needs of this connection's request to run its events: its
    headers (language, country), address and host, as this server's proxy fix left them."""
    return {k: v for k, v in request.environ.items()
            if k.startswith("HTTP_") or k in ("REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT", "wsgi.url_scheme")}


def _client_key() -> str:
    """Who the join limit counts against: the phone's address."""
    return request.remote_addr or "unknown"


register(NS, lambda: Classroom.of(current_app),
         acknowledged=("create", "host_rejoin", "join", "rejoin", "configure", "kick", "close", "guess", "state",
                       "teach", "export_taught", *CONTROLS),
         unacknowledged=("ink", "undo", "clear"))
