"""python -m game.replay: play real Quick, Draw! drawings through a running server.

Each player is a Socket.IO client speaking docs/protocol.md: it starts a game whose
prompts it chooses (`new_game` with `words`), and in each round sends a real raw-format
drawing with its original timing, in `ink` messages every 75 ms. Half the rounds (by
default) draw the prompted word; the others draw a different word under the prompt, so
the same run measures both sides of the recognition rule: how often a real drawing is
recognized, and how often a drawing of something else is wrongly "recognized".

By default only held-out drawings are played (the test side of the training split, by
key_id), and only words of the server's deck (`/api/deck`): what a player meets.
With many players it is the game's load generator (benchmarks/solo_load.py).

With --classroom it plays classrooms instead (docs/classroom.md; the clients are in
game/replay/classroom.py; the solo players in game/replay/solo.py): per room a host client creates, configures and starts a game
of held-out words and `--players` students draw each round's word at once; besides the
guess latency, the host measures the projector's mosaic (updates a second per player,
and the lag from ink sent to ink shown). It is the classroom's load generator
(benchmarks/classroom_load.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from game.replay.classroom import replay_classroom
from game.replay.client import ReplayError
from game.replay.solo import replay


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
