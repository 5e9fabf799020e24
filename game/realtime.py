"""What both Socket.IO namespaces share: the wire's guard, the dispatcher every event goes
through, the payload fields, the handlers' registration and the ticker.

A namespace's service (`game.solo.transport.Solo`, `game.classroom.transport.Classroom`)
holds a `Dispatcher` of its actions; `register` connects the namespace's events to it.
Handlers are thin: check the payload's shape, rate-limit the connection, call the rules,
send what they have to say. Every refusal reaches the client as an `error` event or an
`{"ok": false, "code", ...}` acknowledgement; no exception escapes.

The wire: what comes off it before any handler sees it: a Socket.IO packet that is not the
game's protocol is refused whole, in one log line, and its connection closed.

python-socketio raised inside itself on such packets: broken JSON (`42["ink",{`), a number
of 5,000 digits, 10,000 levels of nesting, or an event that is not `[name, ...]` (`42[]`,
`42{"a":1}`), each a traceback in the log and no answer; and a binary packet's placeholder
(`451-[...]`) left its connection waiting for an attachment that every later message was then
taken for; an event named `*` reached the catch-all handler with its arguments awry. The
protocols (docs/protocol.md, docs/classroom.md) are JSON text only, so:

- `Packet`, the server's `serializer`, bounds nesting before json parses anything, then
  refuses what json refuses, binary packets, and events without a string name or named `*`;
- `refuse_malformed` puts a guard before the server's Engine.IO message handler: a refused
  packet is logged in one line and its connection closed.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any, Callable, Iterable

from flask import current_app, request
from flask_babel import gettext as _
from socketio import packet

from game.extensions import socketio
from game.protocol import BAD_PAYLOAD, MAX_ID, RATE_LIMITED, SERVER_ERROR, UNKNOWN_EVENT, Clock, GameError
from game.ratelimit import TokenBucket

CONFIG_DEFAULTS = {
    "GAME_CLOCK": time.monotonic,  # the rules' clock (a test's is fake)
    "TICK_INTERVAL": 0.05,
    "RATE_LIMIT": 30.0,  # messages a second a connection...
    "RATE_BURST": 60,  # ...with bursts up to this many
    # With several servers (game/cluster/): how often changed games and rooms are saved,
    # their owners checked and rooms whose server died taken over.
    "SNAPSHOT_INTERVAL": 0.5,
}

MAX_DEPTH = 32  # JSON nesting; the protocols need 4 (["ink", {"points": [[x, y, t]]}])

# A JSON string, escapes included, or the rest of the text from an unclosed quote: every quote
# that starts a match ends one (possessive, so no match is retried), which keeps a pass linear.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_INNERMOST = re.compile(r"[\[{][^\[\]{}]*+[\]}]")  # a bracket pair with none inside
_BRACKET = re.compile(r"[\[\]{}]")


class Malformed(ValueError):
    """A packet this server will not take."""


def nests_within(text: str, depth: int) -> bool:
    """Whether the brackets of JSON `text` nest at most `depth` deep (and balance), without
    parsing it: strings blanked, then up to `depth` passes that each remove the innermost
    pairs, every step a regular expression over the text."""
    text = _STRING.sub('""', text)
    for _pass in range(depth):
        text, removed = _INNERMOST.subn("", text)
        if not removed:
            break
    return _BRACKET.search(text) is None


class Packet(packet.Packet):
    """python-socketio's packet, refusing (`Malformed`) what the game's protocol never sends."""

    def decode(self, encoded_packet):
        if not isinstance(encoded_packet, str):
            raise Malformed("a binary message")
        if not nests_within(encoded_packet, MAX_DEPTH):
            raise Malformed(f"brackets unbalanced or nested deeper than {MAX_DEPTH}")
        try:
            attachments = super().decode(encoded_packet)
        except ValueError as e:  # bad JSON, a number of over 4,300 digits, a bad type or id
            raise Malformed(str(e)[:100]) from None
        if attachments or self.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK):
            raise Malformed("a binary packet")
        if self.packet_type == packet.EVENT and not (
                isinstance(self.data, list) and self.data and isinstance(self.data[0], str)):
            raise Malformed("an event that is not [name, ...] with a string name")
        if self.packet_type == packet.EVENT and self.data[0] == "*":
            # The catch-all handler's key: python-socketio calls that handler as if it were
            # the event's own, and Flask-SocketIO's wrapper then fails on its arguments.
            raise Malformed("an event named *")
        return attachments


def refuse_malformed(server, logger: logging.Logger) -> None:
    """Guard `server`'s (a socketio.Server built with `serializer=Packet`) Engine.IO
    messages: a `Malformed` packet is logged in one line and its connection closed."""
    dispatch = server.eio.handlers["message"]

    def on_message(eio_sid, data):
        try:
            return dispatch(eio_sid, data)
        except Malformed as e:
            address = (server.environ.get(eio_sid) or {}).get("REMOTE_ADDR")
            logger.warning("malformed Socket.IO packet from %s (%s), connection closed: %s", address, eio_sid, e)
            server.eio.disconnect(eio_sid)

    server.eio.on("message", on_message)


def init_app(app) -> None:
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)


# --- a namespace's events --------------------------------------------------------------

Action = Callable[[str, dict], Any]


class Dispatcher:
    """Every event a namespace's clients send, to its action: the connection's rate bucket
    first (`rate` messages a second, bursts of `burst`, on the rules' `clock`), then the
    action with the payload's one object, guarded. Events in `empty_is_object` may come
    without a payload ({} then). `send_error(event, payload, sid)` sends a refusal;
    `message_key` names the message in a refused acknowledgement."""

    def __init__(self, actions: dict[str, Action], *, rate: float, burst: float, clock: Clock, logger,
                 send_error: Callable[[str, dict, str], None], message_key: str = "message",
                 empty_is_object: Iterable[str] = ()):
        self.actions = actions
        self.rate, self.burst, self.clock, self.logger = rate, burst, clock, logger
        self._send_error, self._message_key = send_error, message_key
        self._empty_is_object = frozenset(empty_is_object)
        self._buckets: dict[str, TokenBucket] = {}  # by sid; only that connection's thread touches one

    def handle(self, event: str, sid: str, args: tuple, ack: bool | None = False):
        """Run `event`'s action for connection `sid` (`ack` as `guarded`'s); an event
        without one is refused as unknown_event."""
        def action():
            bucket = self._buckets.get(sid) or self._buckets.setdefault(
                sid, TokenBucket(self.rate, self.burst, self.clock))
            if not bucket.take():
                raise GameError(RATE_LIMITED, _("more than %(rate)s messages a second", rate=f"{self.rate:g}"))
            if event not in self.actions:
                raise unknown_event(event)
            payload = ({},) if event in self._empty_is_object and args in ((), (None,)) else args
            data = one_object(payload)
            try:
                return self.actions[event](sid, data)
            except GameError as e:
                # A refused message names its `seq` (ink's counter), so that a client knows
                # which of its messages the server did not take.
                if type(data.get("seq")) is int:
                    e.details = {**(getattr(e, "details", None) or {}), "seq": data["seq"]}
                raise

        return guarded(self.logger, event, sid, action, ack, lambda error: self._send_error("error", error, sid),
                       message_key=self._message_key)

    def forget(self, sid: str) -> None:
        self._buckets.pop(sid, None)


def register(namespace: str, service: Callable[[], Any], acknowledged: Iterable[str], unacknowledged: Iterable[str]) -> None:
    """Connect `namespace`'s events to the service of the app handling them (`service()`:
    its `handle(event, sid, args, ack)` and `disconnect(sid)`). `*args`: a client may send
    any number of arguments; a signature mismatch would otherwise raise inside
    Flask-SocketIO instead of answering `bad_payload`."""
    def on_connect(auth=None):
        if client_sent():
            return on_unknown("connect")
        current_app.logger.debug("socket connected to %s: %s", namespace, request.sid)

    def on_disconnect(*args):
        if client_sent():
            return on_unknown("disconnect")
        service().disconnect(request.sid)

    def on_unknown(event, *args):
        """Any other event (`win`, `set_score`...): refused, in the acknowledgement and an
        `error` event; its name is echoed cut to MAX_ID characters (it is the client's)."""
        return service().handle(event[:MAX_ID], request.sid, args, ack=None)

    socketio.on("connect", namespace=namespace)(on_connect)
    socketio.on("disconnect", namespace=namespace)(on_disconnect)
    socketio.on("*", namespace=namespace)(on_unknown)
    for events, ack in ((acknowledged, True), (unacknowledged, False)):
        for event in events:
            def handler(*args, event=event, ack=ack):
                return service().handle(event, request.sid, args, ack)

            socketio.on(event, namespace=namespace)(handler)


# --- the payload and the handlers' guard ------------------------------------------------


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


def string_field(data: dict, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise GameError(BAD_PAYLOAD, _("%(key)s must be a string of 1 to %(max)s characters", key=key, max=MAX_ID))
    return value


def integer_field(data: dict, key: str) -> int:
    value = data.get(key)
    if type(value) is not int or not 0 <= value < 2**53:
        raise GameError(BAD_PAYLOAD, _("%(key)s must be a non-negative integer", key=key))
    return value
