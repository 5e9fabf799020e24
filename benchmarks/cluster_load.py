"""Several servers against one: the same load through nginx onto 3 servers sharing Redis
(`python -m game cluster`'s `Cluster`), and onto 1 server alone, in one run.

The load, replayed at once with the load tools of benchmarks/solo_load.py and
benchmarks/classroom_load.py (game.replay): `--solo` solo players, each a game of
`--rounds` rounds, and `--rooms` classrooms of `--players` students, held-out raw Quick,
Draw! drawings with their original timing. Through nginx a class's phones and projector
name their room, as the pages do (`?room=CODE`), and land on the room's server; with
`--spread` the phones name none and land on whichever server their hash gives, so their
events are relayed to the room's server over Redis (game/cluster/relay.py), as before the
pages named their room: that setup is run too, after the other two.

Reported for each setup: the CPU time its servers (their model processes included) spent
on the load, how many classes each server held (a class's server is the one its teacher's
page reached, so 3 classes on 3 servers often share one), guess latency p50 / p95 (solo and classroom), rounds dropped,
messages lost (ink the projector never showed, rounds that never came) and errors; and
the extra cost per message Redis adds: an acknowledged classroom event (`state`) sent
`--probes` times by a phone on the room's own server and by a phone on another one,
whose event goes through Redis to the room's server and back.

TARGETS, each printed PASS/FAIL, for the cluster: nothing lost or dropped, no errors, and
guess latency p95 within the single-server targets (solo 100 ms with 60 players,
classroom 300 ms with 3 rooms of 40: benchmarks/solo_load.py, classroom_load.py), under the
load above and, for solo, under its own target's load too: `--solo-alone` (60) solo players
alone on the cluster, after the rest. On a 2-core machine 3 servers cannot be faster than
1; the load generator shares the cores.

    python benchmarks/cluster_load.py                      # 20 solo players, 3 rooms of 40, 2 rounds
    python benchmarks/cluster_load.py --spread             # and the phones spread over the servers
    python benchmarks/cluster_load.py --solo 10 --rooms 1 --players 10 --json
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Every simulated player comes from 127.0.0.1: the per-address socket limit is for one real
# address (as benchmarks/_server.py says); set before the servers start, for both setups.
os.environ.setdefault("DOODLE_MAX_SOCKETS_PER_ADDRESS", "10000")

from benchmarks._server import RAW, Server, cpu_seconds, show, targets  # noqa: E402
from game.cluster.launch import Cluster, code_firsts, missing  # noqa: E402
from game.replay.classroom import replay_classroom  # noqa: E402
from game.replay.client import ms, timing_figures  # noqa: E402
from game.replay.solo import replay  # noqa: E402

SOLO_P95_MS, CLASSROOM_P95_MS = 100.0, 300.0
PROBE_RATE = 20  # probes a second: under a connection's rate limit (RATE_LIMIT, 30 a second)


def load(url: str, args: argparse.Namespace, servers: list[int], name_room: bool = True) -> dict:
    """The solo players and the classrooms at once against `url`; the CPU time the
    `servers` (pids) and their model processes spent meanwhile."""
    used = sum(cpu_seconds(pid) for pid in servers)
    out: dict[str, dict] = {}

    def solo():
        out["solo"] = replay(url, args.data, players=args.solo, rounds=args.rounds, seconds=args.seconds,
                             split=args.split, seed=args.seed)

    def classroom():
        out["classroom"] = replay_classroom(url, args.data, players=args.players, rooms=args.rooms,
                                            rounds=args.rounds, seconds=args.seconds, split=args.split,
                                            seed=args.seed, name_room=name_room)
    threads = [threading.Thread(target=task) for task in (solo, classroom)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used = sum(cpu_seconds(pid) for pid in servers) - used
    s, c = out["solo"], out["classroom"]
    # Which server holds each class: the one whose characters its code starts with.
    firsts = code_firsts(len(servers))
    return {
        "servers_cpu_s": round(used, 1),
        "classrooms_per_server": [sum(1 for code in c["codes"] if code and code[0] in f) for f in firsts],
        "solo_guess_latency_ms_p50": s["guess_latency_ms_p50"], "solo_guess_latency_ms_p95": s["guess_latency_ms_p95"],
        "classroom_guess_latency_ms_p50": c["guess_latency_ms_p50"],
        "classroom_guess_latency_ms_p95": c["guess_latency_ms_p95"],
        "mosaic_lag_ms_p95": c["mosaic_lag_ms_p95"],
        "rounds_played": s["rounds_played"] + c["rounds_played"],
        "rounds_dropped": s["rounds_dropped"] + c["rounds_dropped"],
        "messages_lost": c["mosaic_missing_ink"] + s["rounds_dropped"] + c["rounds_dropped"],
        "errors": s["errors"] + c["errors"],
        "error_samples": (s["error_samples"] + c["error_samples"])[:10],
    }


def relay_cost(cluster: Cluster, probes: int) -> dict:
    """An acknowledged event's round trip from a phone on the room's server and from a
    phone on another server (relayed through Redis), `probes` each, one at a time."""
    import socketio
    import redis

    host = socketio.Client()
    host.connect(cluster.servers[0].url, namespaces=["/classroom"], transports=["websocket"])
    code = host.call("create", {"here": True}, namespace="/classroom", timeout=10)["code"]  # on servers[0]
    owner = redis.Redis.from_url(cluster.redis_url).hget(f"doodle:classroom:{code}", "owner").decode()
    assert int(owner.split(":")[1]) == cluster.servers[0].process.pid
    times = {}
    for name, server in (("local", cluster.servers[0]), ("relayed", cluster.servers[1])):
        phone = socketio.Client()
        phone.connect(server.url, namespaces=["/classroom"], transports=["websocket"])
        assert phone.call("join", {"code": code, "nickname": name}, namespace="/classroom", timeout=10)["ok"]
        took = []
        for _i in range(probes):
            start = time.perf_counter()
            answer = phone.call("state", {}, namespace="/classroom", timeout=10)
            took.append(time.perf_counter() - start)
            assert answer["ok"], answer
            time.sleep(1 / PROBE_RATE)
        phone.disconnect()
        times[name] = took
    host.disconnect()
    extra = statistics.median(times["relayed"]) - statistics.median(times["local"])
    return {**timing_figures("acked_event_on_the_rooms_server", times["local"]),
            **timing_figures("acked_event_relayed", times["relayed"]),
            "redis_extra_ms_per_relayed_event": ms(extra)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--servers", type=int, default=3)
    p.add_argument("--solo", type=int, default=20, help="solo players (default 20)")
    p.add_argument("--rooms", type=int, default=3)
    p.add_argument("--players", type=int, default=40, help="students a room (default 40)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--probes", type=int, default=200, help="events timed for the relay's cost")
    p.add_argument("--data", type=Path, default=RAW)
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--solo-alone", type=int, default=60,
                   help="then as many solo players alone on the cluster, the solo target's own load (0: not)")
    p.add_argument("--spread", action="store_true",
                   help="also run the cluster with the phones not naming their room, spread over the servers")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not args.data.is_dir():
        print(f"no raw Quick, Draw! drawings at {args.data}", file=sys.stderr)
        return 1
    reason = missing()
    if reason:
        print(reason, file=sys.stderr)
        return 1

    with Server("dev") as server:
        one = {"setup": "1 server", **load(server.url, args, [server.proc.pid]), **server.figures()}
    with Cluster(servers=args.servers) as cluster:
        several = {"setup": f"{args.servers} servers behind nginx, Redis",
                   **load(cluster.url, args, [s.process.pid for s in cluster.servers])}
        if args.servers > 1:  # a phone on another server than the room's
            several.update(relay_cost(cluster, args.probes))
        if args.solo_alone:  # the solo target's own load (benchmarks/solo_load.py's)
            alone = replay(cluster.url, args.data, players=args.solo_alone, rounds=args.rounds, seconds=args.seconds,
                           split=args.split, seed=args.seed)
            several.update({f"{args.solo_alone}_solo_alone_guess_latency_ms_p50": alone["guess_latency_ms_p50"],
                            f"{args.solo_alone}_solo_alone_guess_latency_ms_p95": alone["guess_latency_ms_p95"],
                            f"{args.solo_alone}_solo_alone_rounds_dropped": alone["rounds_dropped"],
                            f"{args.solo_alone}_solo_alone_errors": alone["errors"]})
    results = [one, several]
    if args.spread:
        with Cluster(servers=args.servers) as cluster:
            results.append({"setup": f"{args.servers} servers, the phones spread over them, relayed",
                            **load(cluster.url, args, [s.process.pid for s in cluster.servers], name_room=False)})
    several["targets"] = targets({
        "nothing lost or dropped, no errors": several["messages_lost"] == 0 and several["errors"] == 0,
        f"solo guess latency p95 <= {SOLO_P95_MS:g} ms": (several["solo_guess_latency_ms_p95"] or 1e9) <= SOLO_P95_MS,
        f"classroom guess latency p95 <= {CLASSROOM_P95_MS:g} ms":
            (several["classroom_guess_latency_ms_p95"] or 1e9) <= CLASSROOM_P95_MS,
        **({f"{args.solo_alone} solo players alone: guess latency p95 <= {SOLO_P95_MS:g} ms, nothing dropped":
            (several[f"{args.solo_alone}_solo_alone_guess_latency_ms_p95"] or 1e9) <= SOLO_P95_MS
            and several[f"{args.solo_alone}_solo_alone_rounds_dropped"] == 0
            and several[f"{args.solo_alone}_solo_alone_errors"] == 0} if args.solo_alone else {}),
    })
    if args.json:
        show({"one": one, "several": several, **({"spread": results[2]} if args.spread else {})}, True)
    else:
        for result in results:
            print(f"--- {result['setup']}")
            show(result, False)
    return 0 if all(v == "PASS" for v in several["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
