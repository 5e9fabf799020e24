"""The load benchmarks' shared part: start a game server on a free port, sample its
memory (RSS of the server and its children) all along, stop it, and print figures.

    with Server("dev") as server:       # or "gunicorn", as docs/serving.md runs it
        result = replay(server.url, ...)
    result.update(server.figures())
"""
from __future__ import annotations

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


def family(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc), those that are still there."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            continue
        found.append(p)
    return found


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and its descendants."""
    total = 0
    for p in family(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) * 1024
        except (OSError, StopIteration):
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) `pid` and its descendants have used so far."""
    total = 0.0
    for p in family(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
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


class Server:
    """A game server (`kind`: "dev" or "gunicorn") in a subprocess, from `with` to its
    end, its memory sampled every 0.5 s; `figures()` once it has stopped."""

    def __init__(self, kind: str = "dev"):
        self.kind = kind
        self.url = ""
        self.idle = self.peak = 0
        self.tracebacks = 0
        self._stop = threading.Event()

    def __enter__(self) -> "Server":
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(server_command(self.kind, port), cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     # Every simulated player comes from 127.0.0.1: the per-address
                                     # socket limit (docs/serving.md) is for one real address.
                                     env={"DOODLE_MAX_SOCKETS_PER_ADDRESS": "10000", **os.environ,
                                          "PYTHONUNBUFFERED": "1"})
        try:
            wait_healthy(self.url, self.proc)
        except BaseException:
            self.__exit__()
            raise
        self.idle = self.peak = rss_bytes(self.proc.pid)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_bytes(self.proc.pid))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            _, stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        self.tracebacks = stderr.decode(errors="replace").count("Traceback")

    def figures(self) -> dict:
        return {"server": self.kind, "server_rss_idle_mb": round(self.idle / 2**20, 1),
                "server_rss_peak_mb": round(self.peak / 2**20, 1), "server_tracebacks": self.tracebacks}


def targets(checks: dict[str, bool]) -> dict[str, str]:
    return {name: "PASS" if ok else "FAIL" for name, ok in checks.items()}


def show(result: dict, as_json: bool) -> None:
    """The figures as one JSON object, or one `key: value` line each."""
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>30}: {value}")
