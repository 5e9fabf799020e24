"""Malformed Socket.IO packets (game/realtime.py) over a real WebSocket to a real server: each is
refused whole, in one log line, with its connection closed, and the server goes on."""
from __future__ import annotations

import json
import time

import pytest
import simple_websocket

from game.realtime import MAX_DEPTH, nests_within
from live_server import stroke_counter_server

WAIT = 60  # seconds: a bound for a hang on a busy machine, not a speed target
LOGGED = "malformed Socket.IO packet"

# What an outside pass sent: each once logged library tracebacks and was never answered, and
# the binary placeholder left its connection taking every later message for an attachment.
MALFORMED = {
    "broken JSON": '["ink",{',
    "invalid JSON, balanced": '["ink",{"round":}]',
    "no event name": "[]",
    "not a list": '{"a":1}',
    "a 5,000-digit number": '["ink",' + "9" * 5000 + "]",
    "10,000-deep nesting": "[" * 10_000 + "]" * 10_000,
    "a name that is not a string": '[1,{"round":0}]',
    "the catch-all handler's name": '["*",{"round":0}]',
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wire")
    with stroke_counter_server(folder) as base:
        yield base, folder / "serve.log"


class Socket:
    """A raw Engine.IO WebSocket connected to Socket.IO namespace `namespace`."""

    def __init__(self, base: str, namespace: str):
        self.namespace = "" if namespace == "/" else f"{namespace},"  # as a packet names it
        self.ws = simple_websocket.Client.connect(base.replace("http://", "ws://")
                                                  + "/socket.io/?EIO=4&transport=websocket")
        assert self.receive().startswith("0{")  # Engine.IO open
        self.send("0", "")
        assert self.receive().startswith("40" + self.namespace + "{")

    def receive(self) -> str | None:
        """The next packet but pings (answered); None once the server closed the connection."""
        while True:
            try:
                packet = self.ws.receive(timeout=WAIT)
            except simple_websocket.ConnectionClosed:
                return None
            assert packet is not None, f"nothing in {WAIT} s, and the connection still open"
            if packet == "2":  # Engine.IO ping
                self.ws.send("3")
                continue
            return packet

    def send(self, kind: str, data: str, ack_id: str = "") -> None:
        """A Socket.IO packet (its type and attachments, namespace, acknowledgement id and
        data) in an Engine.IO message (4)."""
        self.ws.send("4" + kind + self.namespace + ack_id + data)

    def close(self) -> None:
        if self.ws.connected:
            self.ws.close()


def wait_for_lines(log, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT
    while True:
        lines = [line for line in log.read_text().splitlines() if LOGGED in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


@pytest.mark.parametrize("namespace", ["/", "/classroom"])
@pytest.mark.parametrize("what", [*MALFORMED, "a bogus binary placeholder"])
def test_a_malformed_packet_is_logged_in_one_line_and_its_connection_closed(server, namespace, what):
    base, log = server
    before = wait_for_lines(log, 0)
    socket = Socket(base, namespace)
    try:
        if what in MALFORMED:
            socket.send("2", MALFORMED[what])
        else:
            socket.send("51-", '["state",{"_placeholder":true,"num":0}]')
            socket.send("2", '["state"]')  # once taken for the placeholder's attachment
        assert socket.receive() == "1"  # Engine.IO close
        assert socket.receive() is None
    finally:
        socket.close()
    lines = wait_for_lines(log, len(before) + 1)
    assert len(lines) == len(before) + 1, lines
    assert "Traceback" not in log.read_text()
    # The server goes on: a good event on a new connection is answered.
    socket = Socket(base, namespace)
    try:
        socket.send("2", '["state"]' if namespace == "/classroom" else '["ping_server"]', ack_id="1")
        answer = socket.receive()
        ack = "43" + socket.namespace + "1"
        assert answer.startswith(ack + "[") and json.loads(answer[len(ack):])
    finally:
        socket.close()


def test_nesting_is_measured_without_parsing():
    assert nests_within('42["ink",{"points":[[1,2,3]],"s":"]]][[[{"}]', MAX_DEPTH)
    assert nests_within("[" * MAX_DEPTH + "]" * MAX_DEPTH, MAX_DEPTH)
    assert not nests_within("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), MAX_DEPTH)
    assert not nests_within('["x"]]', MAX_DEPTH)  # unbalanced
    # Each pass linear (no retries): an unclosed string of escaped quotes, a megabyte of pairs.
    assert not nests_within('["' + '\\"' * 500_000, MAX_DEPTH)
    assert nests_within("[" + "[]," * 300_000 + "1]", MAX_DEPTH)
