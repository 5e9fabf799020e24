"""What a classroom's snapshot costs (game/cluster/snapshot.py): with several servers, a room
in play is saved to Redis every SNAPSHOT_INTERVAL, its pickle taken under the room's lock
and, pickle being one call into C, the interpreter's: every other thread of its server
waits that long.

A room of `--players` students, each having drawn a whole held-out raw Quick, Draw! drawing
(of any word: there are few a word; sent as the phones send it, game.replay's ink messages), is
pickled, signed and loaded `--repeat` times; the median and the size are printed.

    python benchmarks/snapshot.py                 # a room of 40
    python benchmarks/snapshot.py --players 40 --json
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import RAW, show  # noqa: E402
from game import i18n  # noqa: E402
from game.classroom.rules import RoomConfig, RoomRegistry  # noqa: E402
from game.cluster.snapshot import Codec  # noqa: E402
from game.replay.client import chunks, load_drawings  # noqa: E402
from game.words import load_categories  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ROOT / "data" / "categories.txt"


class Clock:
    """The room's clock, moved by hand: the drawings' own times, not this run's."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def room_in_play(data: Path, players: int):
    """A room whose `players` have each drawn a whole drawing in its round."""
    clock, categories = Clock(), load_categories(str(CATEGORIES))
    by_word = load_drawings(data, list(categories), "test", 1)
    drawings = [d for found in by_word.values() for d in found][:players]
    if len(drawings) < players:
        raise SystemExit(f"{len(drawings)} held-out drawings at {data}, {players} needed")
    word = categories[0]
    names = {code: i18n.category_names(str(CATEGORIES), code) for code in i18n.languages()}
    config = RoomConfig(starts_in=1.0)
    rooms = RoomRegistry(clock, random.Random(0), deck=[word], categories=categories, config=config, names=names)
    room = rooms.create()
    room.host_connected(True)
    seated = [room.join(f"student {i}") for i in range(players)]
    room.configure(room.host_token, rounds=1, seconds=60, words=[word])  # the clock stays at its start
    room.start(room.host_token)
    clock.now += config.starts_in
    room.tick()
    for player, drawing in zip(seated, drawings):
        for seq, (_at, stroke, points) in enumerate(chunks(drawing), 1):
            room.add_ink(player.id, room.round.index, stroke, points, seq)
    room.drain()
    return room, Codec("a secret", {"clock": clock, "filter": rooms.words_filter})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--players", type=int, default=40)
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--data", type=Path, default=RAW)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"no raw Quick, Draw! drawings at {args.data}", file=sys.stderr)
        return 1
    room, codec = room_in_play(args.data, args.players)
    dumps, loads = [], []
    for _i in range(args.repeat):
        start = time.perf_counter()
        blob = codec.dumps(room)
        dumps.append(time.perf_counter() - start)
        start = time.perf_counter()
        codec.loads(blob)
        loads.append(time.perf_counter() - start)
    points = sum(len(s[0]) for g in room.round.drawings.values() for s in g.round.strokes)
    show({"players": args.players, "points": points, "snapshot_kb": round(len(blob) / 1024, 1),
          "dumps_ms_median": round(statistics.median(dumps) * 1000, 2),
          "loads_ms_median": round(statistics.median(loads) * 1000, 2)}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
