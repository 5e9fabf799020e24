"""A real game server for the tests that need one: in a subprocess (the browser tests, the
replay over a real WebSocket, the SIGKILL durability test), or an app served in a thread
(`serve`)."""
from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import socketio
from werkzeug.serving import make_server

from game.app import close_app

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(argv: list[str], log_path: Path, port: int, wait: float = 180, env: dict | None = None):
    """Run `argv` (a server on 127.0.0.1:`port`, with `env` added to the environment), its
    output to `log_path`; yields (base URL, process) once /healthz answers, and stops it
    afterwards (a test may have killed it already)."""
    # CPU_AFFINITY as in production (conftest turns it off for apps built in the test process).
    env = dict(os.environ, PYTHONUNBUFFERED="1", DOODLE_CPU_AFFINITY="auto", **(env or {}))
    env.pop("DOODLE_HOST", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer on {base}/healthz in {wait:g} s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def stroke_counter_server(folder: Path, env: dict | None = None):
    """tests/classroom_e2e_server.py (the real app, with a fake classifier that counts strokes)
    on a free port, its database and log in `folder`; yields its base URL."""
    port = free_port()
    env = {"DATABASE_URL": f"sqlite:///{folder / 'contributions.sqlite3'}", **(env or {})}
    with running_server([sys.executable, str(ROOT / "tests" / "classroom_e2e_server.py"), str(port)],
                        folder / "serve.log", port, env=env) as (base, _):
        yield base


@contextlib.contextmanager
def shipped_model_classroom_server(folder: Path):
    """tests/classroom_e2e_server.py with the shipped model (a word can be taught), its
    database, taught words and log in `folder`; yields its base URL."""
    port = free_port()
    with running_server([sys.executable, str(ROOT / "tests" / "classroom_e2e_server.py"), str(port), str(folder)],
                        folder / "serve.log", port,
                        env={"DATABASE_URL": f"sqlite:///{folder / 'contributions.sqlite3'}"}) as (base, _):
        yield base


def play_a_round(base: str, contributor: str | None = None, wait: float = 60) -> list[dict]:
    """A one-round solo game over a real WebSocket, consenting to the dataset (as
    `contributor`): a stroke, then skip. Returns the round_over events (one: the game played
    to its end within `wait` seconds)."""
    rounds, overs = [], []
    sio = socketio.Client()
    sio.on("round", rounds.append)
    sio.on("round_over", overs.append)
    sio.connect(base, transports=["websocket"])
    try:
        settings = {"rounds": 1, "words": ["bicycle"], "contribute": True}
        game = sio.call("new_game", {**settings, "contributor": contributor} if contributor else settings, timeout=10)
        assert game["ok"], game
        deadline = time.monotonic() + wait
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rounds[0]["starts_in"] + 0.2)
        sio.emit("ink", {"game_id": game["game_id"], "round": 0, "seq": 1, "stroke": 0,
                         "points": [[100, 0, 0], [200, 100, 100], [100, 200, 200], [0, 100, 300]]})
        sio.emit("skip", {"game_id": game["game_id"], "round": 0})
        while not overs and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sio.disconnect()
    return overs


def serve(app):
    """Serve `app` on a free port in a thread: yields its base URL, then stops it and the
    app's services (a generator for fixtures: `yield from serve(app)`)."""
    port = free_port()
    http = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    http.shutdown()
    close_app(app)


class Client:
    """One client: a keep-alive HTTP connection, reopened when the server closes it."""

    def __init__(self, port: int):
        self.port, self.conn = port, None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                response = self.conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self.close()
                # A kept-alive connection the server had closed before this request: retry once
                # on a fresh one. (Were the first copy read after all, the second carries the same
                # contributor id: the checks below take it as the same contribution.)
                if attempt == 1 and reused:
                    continue
                raise
            if response.will_close:
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
