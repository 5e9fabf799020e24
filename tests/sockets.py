"""Socket.IO test clients' helpers: events received, a game started, ink sent."""
from __future__ import annotations

import time

# Event names a client may not use: Socket.IO's own, and names no handler takes.
RESERVED = ("connect", "disconnect", "connect_error", "__disconnect_final")
UNKNOWN = ("win", "set_score", "round_over", "message", "json", "x" * 1000)


def receive(client, until: str, timeout: float = 3.0) -> list[tuple[str, dict]]:
    """The events received, (name, payload), up to and including the first `until`.

    Pops the test client's queue one event at a time rather than calling get_received(),
    which rebuilds the queue and could lose an event the ticker or the batcher appends
    from another thread meanwhile."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        while client.queue:
            event = client.queue.pop(0)
            got.append((event["name"], event["args"][0] if event["args"] else None))
            if event["name"] == until:
                return got
        if time.monotonic() > deadline:
            raise AssertionError(f"no {until!r} event within {timeout} s; received {got}")
        time.sleep(0.002)


def last(client, until: str, timeout: float = 3.0) -> dict:
    return receive(client, until, timeout)[-1][1]


def quiet(client, wait: float = 0.05) -> list[tuple[str, dict]]:
    """The events received within `wait` seconds (tests expect none, mostly)."""
    time.sleep(wait)
    got = []
    while client.queue:
        event = client.queue.pop(0)
        got.append((event["name"], event["args"][0] if event["args"] else None))
    return got


def start(client, clock, **settings) -> tuple[dict, dict]:
    """A new game whose first round's clock runs: (ack, first round event)."""
    ack = client.emit("new_game", settings, callback=True)
    assert ack["ok"], ack
    first = last(client, "round")
    clock.advance(first["starts_in"])
    return ack, first


def ink(game_id: str, points, round_: int = 0, stroke: int = 0, seq: int = 1) -> dict:
    return {"game_id": game_id, "round": round_, "seq": seq, "stroke": stroke, "points": points}


def next_round(client, clock) -> dict:
    r = last(client, "round")
    clock.advance(r["starts_in"])
    return r



