"""python -m game.replay: play real Quick, Draw! drawings through a running server.

Each player is a Socket.IO client speaking docs/protocol.md: it starts a game whose
prompts it chooses (`new_game` with `words`), and in each round sends a real raw-format
drawing with its original timing, in `ink` messages every 75 ms. Half the rounds (by
default) draw the prompted word; the others draw a different word under the prompt, so
the same run measures both sides of the recognition rule: how often a real drawing is
recognised, and how often a drawing of something else is wrongly "recognised".

By default only held-out drawings are played (the test side of the training split, by
key_id), and only words of the server's deck (`/api/deck`): what a player meets.
With many players it is the game's load generator (benchmarks/solo_load.py).

With --classroom it plays classrooms instead (docs/classroom.md; the clients are in
game/replay_classroom.py): per room a host client creates, configures and starts a game
of held-out words and `--players` students draw each round's word at once; besides the
guess latency, the host measures the projector's mosaic (updates a second per player,
and the lag from ink sent to ink shown). It is the classroom's load generator
(benchmarks/classroom_load.py).
"""
from __future__ import annotations

import argparse
import functools
import json
import queue
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

CHUNK_MS = 75  # the play page sends ink every 50-100 ms
MAX_POINTS = 5000  # the server's limit a drawing (docs/protocol.md)


class ReplayError(Exception):
    """A setup problem (no data, no server) with a message for the user."""


# --- drawings and plans --------------------------------------------------------


def load_drawings(data_dir: Path, words: list[str], split: str, per_word: int) -> dict[str, list]:
    """Up to `per_word` raw drawings a word from DIR/<word>.ndjson (Google's raw format),
    on `split`'s side of the training split ("all" for every drawing)."""
    from training.data import split_of  # the same key_id split the model was trained with
    from training.quickdraw import iter_ndjson

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


def plan_games(drawings: dict[str, list], players: int, games: int, rounds: int, swap: float,
               seed: int) -> list[list[list[dict]]]:
    """For each player, `games` games of `rounds` rounds: each round's prompt, the word
    actually drawn and the drawing. Prompts within a game never repeat."""
    words = sorted(drawings)
    if len(words) < rounds + 1:
        raise ReplayError(f"need drawings of at least {rounds + 1} words, found {len(words)}")
    rng = random.Random(seed)
    cursor = {w: rng.randrange(len(d)) for w, d in drawings.items()}
    plans = []
    for _ in range(players):
        player = []
        for _ in range(games):
            drawn = rng.sample(words, rounds)
            others = [w for w in words if w not in drawn]
            game = []
            for word in drawn:
                swapped = rng.random() < swap
                prompt = others.pop(rng.randrange(len(others))) if swapped and others else word
                cursor[word] = (cursor[word] + 1) % len(drawings[word])
                game.append({"prompt": prompt, "word": word, "drawing": drawings[word][cursor[word]],
                             "swapped": prompt != word})
            player.append(game)
        plans.append(player)
    return plans


# --- a client ------------------------------------------------------------------


class Client:
    """A Socket.IO client on `namespace` that draws: the events named in `queued` wait
    in a queue for `_expect`; each `guess` is timed against the ink message that asked
    for it (by seq); refusals are collected. Players of the solo game and students of
    a classroom (game/replay_classroom.py) are both this."""

    namespace = "/"
    queued: tuple[str, ...] = ("round", "round_over", "game_over")

    def __init__(self, url: str):
        import socketio  # python-socketio's client (the game's own dependency)

        self.url = url
        self.latencies: list[float] = []  # seconds from an ink message to its guess
        self.errors: list[str] = []  # error events and protocol breaches
        self.late_ink = 0  # ink that crossed the round's end on the wire: refused, as it should be
        self.seq = 0
        self.received_at = 0.0  # when the event `_expect` returned last came
        self._sent: dict[int, float] = {}  # seq -> when it was sent
        self._events: queue.Queue = queue.Queue()
        self._ended = threading.Event()  # the round is over for this client (or recognised): stop drawing
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
        # The server ends a round the moment it recognises the word, so ink already in
        # flight meets a closed round: a race every client has, not a fault.
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

    def connect(self) -> bool:
        try:
            self.sio.connect(self.url, namespaces=[self.namespace], transports=["websocket"], wait_timeout=10)
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


class Player(Client):
    """One player of the solo game, playing its planned games one after another."""

    def __init__(self, url: str, plan: list[list[dict]], seconds: float):
        super().__init__(url)
        self.plan, self.seconds = plan, seconds
        self.rounds: list[dict] = []  # what each round came to

    def run(self) -> None:
        if not self.connect():
            return
        try:
            for game in self.plan:
                self._play(game)
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self.sio.disconnect()

    def _play(self, game: list[dict]) -> None:
        ack = self.sio.call("new_game", {"rounds": len(game), "seconds": self.seconds,
                                         "words": [r["prompt"] for r in game]}, timeout=15)
        if not ack or not ack.get("ok"):
            raise ReplayError(f"new_game refused: {ack}")
        game_id = ack["game_id"]
        for index, plan in enumerate(game):
            started = self._expect("round", timeout=30)
            if started["index"] != index or started["word"] != plan["prompt"]:
                raise ReplayError(f"round {started['index']} ({started['word']}) came instead of "
                                  f"round {index} ({plan['prompt']})")
            self.draw(plan["drawing"], started, self.seconds, {"game_id": game_id, "round": index})
            over = self._expect("round_over", timeout=self.seconds + 30)
            if over["index"] != index:
                raise ReplayError(f"round_over for round {over['index']} during round {index}")
            self.rounds.append({**{k: plan[k] for k in ("prompt", "word", "swapped")},
                                "recognized": over["recognized"], "seconds": over["seconds"]})
        final = self._expect("game_over", timeout=30)
        if len(final["results"]) != len(game):
            raise ReplayError(f"game_over holds {len(final['results'])} results for {len(game)} rounds")


# --- the report ------------------------------------------------------------------


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
    """Rounds played and dropped, and how often and how fast genuine drawings were recognised."""
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


def report(players: list[Player], planned_rounds: int, wall: float) -> dict[str, Any]:
    rounds = [r for p in players for r in p.rounds]
    swapped = [r for r in rounds if r["swapped"]]
    figures = round_figures(rounds, planned_rounds)
    return {
        "players": len(players),
        **{k: figures.pop(k) for k in ("rounds_planned", "rounds_played", "rounds_dropped", "recognition_rate")},
        "false_recognition_rate": round(sum(r["recognized"] for r in swapped) / len(swapped), 4) if swapped else None,
        "genuine_rounds": len(rounds) - len(swapped),
        "swapped_rounds": len(swapped),
        **figures,
        **client_figures(players, wall),
    }


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


def replay(url: str, data: Path, players: int = 1, games: int = 1, rounds: int = 6,
           seconds: float = 20, swap: float = 0.5, split: str = "test", per_word: int = 50,
           words: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    if not data.is_dir():
        raise ReplayError(f"no data folder at {data} (Google's raw ndjson, e.g. ../shared/quickdraw/raw)")
    drawings = load_drawings(data, words or fetch_words(url), split, per_word)
    plans = plan_games(drawings, players, games, rounds, swap, seed)
    clients = [Player(url, plan, seconds) for plan in plans]
    start = time.monotonic()
    start_all([c.run for c in clients])
    result = report(clients, players * games * rounds, time.monotonic() - start)
    result["distinct_drawings"] = sum(len(v) for v in drawings.values())
    result["words"] = len(drawings)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m game.replay", description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:5000", help="the game server (default %(default)s)")
    p.add_argument("--data", type=Path, required=True, help="a folder of Google's raw ndjson files")
    p.add_argument("--players", type=int, default=1,
                   help="concurrent players (default 1); with --classroom, students a room")
    p.add_argument("--classroom", action="store_true",
                   help="play classrooms (docs/classroom.md): a host client and --players students a room")
    p.add_argument("--rooms", type=int, default=1, help="with --classroom: rooms at once (default 1)")
    p.add_argument("--games", type=int, default=1,
                   help="games each player plays in a row (default 1; solo only)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--swap", type=float, default=0.5,
                   help="share of rounds that draw another word than the prompt (default 0.5; solo only)")
    p.add_argument("--split", choices=["test", "val", "train", "all"], default="test",
                   help="which side of the training split to play (default: held-out test)")
    p.add_argument("--per-word", type=int, default=50, help="drawings read a word (default 50)")
    p.add_argument("--words", default="", help="comma-separated words (default: the server's deck)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    if args.players < 1 or args.games < 1 or args.rooms < 1 or not 0 <= args.swap <= 1:
        p.error("--players, --games and --rooms must be at least 1, --swap between 0 and 1")
    words = [w.strip() for w in args.words.split(",") if w.strip()] or None
    try:
        if args.classroom:
            from game.replay_classroom import replay_classroom

            result = replay_classroom(args.url, args.data, args.players, args.rooms, args.rounds, args.seconds,
                                      args.split, args.per_word, words, args.seed)
        else:
            result = replay(args.url, args.data, args.players, args.games, args.rounds, args.seconds,
                            args.swap, args.split, args.per_word, words, args.seed)
    except ReplayError as e:
        print(f"replay: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>30}: {value}")
    return 0 if result["errors"] == 0 and result["rounds_dropped"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
