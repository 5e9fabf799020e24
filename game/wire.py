"""What comes off the wire before any handler sees it: a Socket.IO packet that is not the
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

from socketio import packet

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
    for _ in range(depth):
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
