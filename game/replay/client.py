"""What the replay's solo and classroom clients share: held-out drawings read from Google's
files, a Socket.IO client that draws one with its original timing, the server's deck, and
the figures both report."""
from __future__ import annotations

import functools
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

CHUNK_MS = 75  # the play page sends ink every 50-100 ms
MAX_POINTS = 5000  # the server's limit a drawing (docs/protocol.md)


class ReplayError(Exception):
    """A setup problem (no data, no server) with a message for the user."""


# --- drawings and plans --------------------------------------------------------


def load_drawings(data_dir: Path, words: list[str], split: str, per_word: int) -> dict[str, list]:
    """Up to `per_word` raw drawings a word from DIR/<word>.ndjson (Google's raw format),
    on `split`'s side of the training split ("all" for every drawing)."""
    # The same key_id split the model was trained with.
    from game.dataset.quickdraw import iter_ndjson, split_of

    found: dict[str, list] = {}
    for word in words:
        path = data_dir / f"{word}.ndjson"
        if not path.exists():
            continue
        kept = []
        for record in iter_ndjson(path):
            drawing = record["drawing"]
            if split != "all" and split_of(str(record["key_id"])) != split:
                continue
            if len(drawing[0]) < 3 or not 0 < sum(len(s[0]) for s in drawing) <= MAX_POINTS:
                continue  # not raw (no times), or more than the server takes
            kept.append(drawing)
            if len(kept) >= per_word:
                break
        if kept:
            found[word] = kept
    if not found:
        raise ReplayError(f"no {split} raw drawings of the deck's words in {data_dir} "
                          "(expected Google's raw ndjson files named <word>.ndjson)")
    return found


def chunks(drawing: list) -> list[tuple[float, int, list]]:
    """The ink messages a player drawing `drawing` sends: (seconds after the round's
    clock started, stroke index, [[x, y, t], ...]), with times from the drawing's own."""
    t0 = min(s[2][0] for s in drawing if s[2])
    messages = []
    for index, (xs, ys, ts) in enumerate(s[:3] for s in drawing):
        current: list = []
        window = None
        for x, y, t in zip(xs, ys, ts):
            t = max(0.0, float(t) - t0)
            if current and t // CHUNK_MS != window:
                messages.append((current[-1][2] / 1000, index, current))
                current = []
            window = t // CHUNK_MS
            current.append([round(float(x), 2), round(float(y), 2), round(t)])
        if current:
            messages.append((current[-1][2] / 1000, index, current))
    messages.sort(key=lambda m: m[0])  # stable: a stroke's messages stay in order
    return messages


class Client:
    """A Socket.IO client on `namespace` that draws: the events named in `queued` wait
    in a queue for `_expect`; each `guess` is timed against the ink message that asked
    for it (by seq); refusals are collected. Players of the solo game and students of
    a classroom (game/replay/classroom.py) are both this."""

    namespace = "/"
    queued: tuple[str, ...] = ("round", "round_over", "game_over")

    def __init__(self, url: str):
        import socketio  # python-socketio's client (the game's own dependency)

        self.url = url
        self.latencies: list[float] = []  # seconds from an ink message to its guess
        self.errors: list[str] = []  # error events and protocol breaches
        self.late_ink = 0  # ink that crossed the round's end on the wire: refused, as it should be
        self.refused_seqs: set[int] = set()  # which ink messages the server refused, by the seq it names
        self.seq = 0
        self.received_at = 0.0  # when the event `_expect` returned last came
        self._sent: dict[int, float] = {}  # seq -> when it was sent
        self._events: queue.Queue = queue.Queue()
        self._ended = threading.Event()  # the round is over for this client (or recognized): stop drawing
        sio = self.sio = socketio.Client(reconnection=False)
        for name in self.queued:
            sio.on(name, functools.partial(self._queue, name), namespace=self.namespace)
        sio.on("guess", self._on_guess, namespace=self.namespace)
        sio.on("error", self._on_error, namespace=self.namespace)

    def _queue(self, name: str, payload: dict) -> None:
        if name == "round":
            self._ended.clear()
        elif name == "round_over":
            self._ended.set()
        self._events.put((name, payload, time.monotonic()))

    def _on_guess(self, payload: dict) -> None:
        sent = self._sent.get(payload.get("seq"))
        if sent is not None:
            self.latencies.append(time.monotonic() - sent)
        if payload.get("recognized"):
            self._ended.set()  # the server takes no more ink of this drawing

    def _on_error(self, payload: dict) -> None:
        # The server ends a round the moment it recognizes the word, so ink already in
        # flight meets a closed round: a race every client has, not a fault.
        if payload.get("event") == "ink" and "seq" in payload:
            self.refused_seqs.add(payload["seq"])
        if payload.get("event") == "ink" and payload.get("code") == "round_over":
            self.late_ink += 1
            return
        self.errors.append(f"{payload.get('event')}: {payload.get('code')}: {payload.get('message')}")

    def _expect(self, name: str, timeout: float) -> dict:
        """The next queued server event, which must be `name` (anything else is a breach)."""
        try:
            got, payload, self.received_at = self._events.get(timeout=timeout)
        except queue.Empty:
            raise ReplayError(f"no {name} within {timeout:.0f} s") from None
        if got != name:
            raise ReplayError(f"expected {name}, got {got} ({payload.get('index', '')})")
        return payload

    def connect(self, room: str | None = None) -> bool:
        """Connect; naming its classroom's `room` as the pages do (`?room=`: nginx's route)."""
        try:
            self.sio.connect(f"{self.url}?{urlencode({'room': room})}" if room else self.url,
                             namespaces=[self.namespace], transports=["websocket"], wait_timeout=10)
        except Exception as e:
            self.errors.append(f"connect: {e}")
            return False
        return True

    def draw(self, drawing: list, started: dict, seconds: float, payload: dict) -> list[tuple]:
        """Send `drawing` as `ink` messages ({**payload, seq, stroke, points}) with its
        original timing from the clock start that the `round` event `started` announces,
        until the drawing, the round's `seconds` or the round itself (see `_ended`) is
        over. Returns each message as (seq, stroke, the stroke's points so far, sent at)."""
        # The server starts the clock starts_in after it sent `round`; a little margin
        # keeps the first ink from arriving before it.
        clock_start = self.received_at + started["starts_in"] + 0.02
        log, counts = [], {}
        for at, stroke, points in chunks(drawing):
            if self._ended.wait(max(0.0, clock_start + at - time.monotonic())) or at > seconds:
                break
            self.seq += 1
            counts[stroke] = counts.get(stroke, 0) + len(points)
            sent = self._sent[self.seq] = time.monotonic()
            self.sio.emit("ink", {**payload, "seq": self.seq, "stroke": stroke, "points": points},
                          namespace=self.namespace)
            log.append((self.seq, stroke, counts[stroke], sent))
        return log


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def timing_figures(name: str, values: list[float]) -> dict[str, Any]:
    """`name`_ms_p50, _p95 and _max of durations in seconds."""
    return {f"{name}_ms_p50": ms(_percentile(values, 50)), f"{name}_ms_p95": ms(_percentile(values, 95)),
            f"{name}_ms_max": ms(max(values) if values else None)}


def round_figures(rounds: list[dict], planned: int) -> dict[str, Any]:
    """Rounds played and dropped, and how often and how fast genuine drawings were recognized."""
    genuine = [r for r in rounds if not r.get("swapped")]
    seconds = [r["seconds"] for r in genuine if r["recognized"]]
    return {
        "rounds_planned": planned,
        "rounds_played": len(rounds),
        "rounds_dropped": planned - len(rounds),
        "recognition_rate": round(sum(r["recognized"] for r in genuine) / len(genuine), 4) if genuine else None,
        "seconds_to_recognize_median": round(statistics.median(seconds), 2) if seconds else None,
        "seconds_to_recognize_p90": _percentile(seconds, 90),
    }


def client_figures(clients: list[Client], wall: float) -> dict[str, Any]:
    """Guess latency (ink sent -> its guess received), late ink and errors of all `clients`."""
    latencies = [x for c in clients for x in c.latencies]
    errors = [e for c in clients for e in c.errors]
    return {"guesses": len(latencies), **timing_figures("guess_latency", latencies),
            "late_ink": sum(c.late_ink for c in clients), "errors": len(errors),
            "error_samples": sorted(set(errors))[:10], "wall_seconds": round(wall, 1)}


def fetch_words(url: str) -> list[str]:
    """The server's deck: the words its games deal."""
    import requests

    try:
        response = requests.get(url.rstrip("/") + "/api/deck", timeout=10)
        response.raise_for_status()
        return list(response.json())
    except Exception as e:
        raise ReplayError(f"cannot reach the game server at {url} ({e}); start it with "
                          "`python -m game serve` or pass --url") from None


def start_all(tasks: list, join: bool = True, stagger: float = 0.02) -> list[threading.Thread]:
    """Run each task on a thread of its own, started `stagger` seconds apart (clients
    don't all connect in one instant); with `join`, wait for them all."""
    threads = [threading.Thread(target=task, daemon=True) for task in tasks]
    for i, t in enumerate(threads):
        t.start()
        time.sleep(stagger if i < len(threads) - 1 else 0)
    for t in threads if join else ():
        t.join()
    return threads


