"""The solo game under load: N concurrent players replaying real drawings (game.replay).

Starts a game server (the development server of `python -m game serve`, or gunicorn as
docs/serving.md says to run it in production), plays `--players` concurrent six-round
games of held-out raw Quick, Draw! drawings through it with their original timing, and
samples the server's memory (RSS of the server and its children) all along.

TARGETS (issue 3), each printed PASS/FAIL: with 60 players on this 2-core machine,
guess latency (ink sent -> guess received) p95 <= 100 ms, no dropped or out-of-order
rounds, server memory <= 1 GB. The load generator runs on the same two cores, so the
latencies include its own share of the CPU.

    python benchmarks/solo_load.py                      # 60 players, development server
    python benchmarks/solo_load.py --server gunicorn --players 60 --json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._server import RAW, Server, show, targets  # noqa: E402
from game.replay.solo import replay  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--players", type=int, default=60)
    p.add_argument("--games", type=int, default=1, help="games each player plays in a row")
    p.add_argument("--server", choices=["dev", "gunicorn"], default="dev")
    p.add_argument("--data", type=Path, default=RAW)
    p.add_argument("--split", default="test")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"no raw Quick, Draw! drawings at {args.data}", file=sys.stderr)
        return 1

    with Server(args.server) as server:
        result = replay(server.url, args.data, players=args.players, games=args.games, split=args.split)
    result.update(server.figures())
    p95 = result["guess_latency_ms_p95"]
    result["targets"] = targets({
        "guess latency p95 <= 100 ms": p95 is not None and p95 <= 100,
        "no dropped or out-of-order rounds": result["rounds_dropped"] == 0 and result["errors"] == 0,
        "server memory <= 1 GB": server.peak <= 2**30,
    })
    show(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
