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
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from game.replay import replay  # noqa: E402

RAW = ROOT.parent / "shared" / "quickdraw" / "raw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(kind: str, port: int) -> list[str]:
    if kind == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "200",
                "--bind", f"127.0.0.1:{port}", "game.app:create_app()"]
    return [sys.executable, "-m", "game", "serve", "--port", str(port)]


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) * 1024
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url}/healthz within {timeout:.0f} s")


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

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(server_command(args.server, port), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], rss_bytes(proc.pid))

    try:
        wait_healthy(url, proc)
        idle = rss_bytes(proc.pid)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = replay(url, args.data, players=args.players, games=args.games, split=args.split)
        stop.set()
        sampler.join()
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    tracebacks = stderr.decode(errors="replace").count("Traceback")
    result.update(server=args.server, server_rss_idle_mb=round(idle / 2**20, 1),
                  server_rss_peak_mb=round(peak[0] / 2**20, 1), server_tracebacks=tracebacks)
    p95 = result["guess_latency_ms_p95"]
    checks = {
        "guess latency p95 <= 100 ms": p95 is not None and p95 <= 100,
        "no dropped or out-of-order rounds": result["rounds_dropped"] == 0 and result["errors"] == 0,
        "server memory <= 1 GB": peak[0] <= 2**30,
    }
    result["targets"] = {k: "PASS" if ok else "FAIL" for k, ok in checks.items()}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>30}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
