"""Store faults (the hardening issue's items 10 and 11): a database that cannot take a drawing
answers 503 with a JSON `{"error"}` in the request's language and one line in the log, takes
the game down with it never, and serves again by itself once the fault is gone.

- A full disk: a real, small filesystem (a tmpfs mounted for the test: needs root) filled
  up, through the app in this process and through a real server.
- Unwritable database files (`chattr +i`, what a read-only disk or a full quota also does to
  writes; needs root and a filesystem with the immutable flag, e.g. ext4) under a real server:
  SQLite's WAL index, an mmapped -shm file, made the next write fault with SIGBUS and end the
  process; the store keeps no shared-memory mapping now (game/dataset/store.py).
"""
from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest

from game.app import create_app
from game.extensions import socketio as server_socketio
from game.dataset.contribute import Contributions
from game.app import close_app
from live_server import free_port, play_a_round, running_server
from fakes import CATEGORIES, WORDS, FakeClassifier, payload, says
from sockets import ink, last, next_round, start

ROOT = Path(__file__).resolve().parent.parent
UNAVAILABLE = {"en": "the database is unavailable and nothing was saved: try again in a moment",
               "es": "la base de datos no está disponible y no se guardó nada: vuelve a intentarlo en un momento"}


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs mounted at tmp_path/disk for the test, unmounted after it."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here (it needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        assert not os.path.ismount(mount)


def fill(folder: Path) -> Path:
    """Fill `folder`'s filesystem to the last byte with one file; return it."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    assert os.statvfs(folder).f_bavail == 0
    return filler


def post(client, language: str):
    return client.post("/api/contributions", json=payload(), headers={"Accept-Language": language})


def store_failures(records) -> list[logging.LogRecord]:
    return [r for r in records if r.levelno >= logging.WARNING]


def test_a_full_disk_answers_503_in_the_clients_language_and_recovers(small_disk, caplog):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": FakeClassifier(CATEGORIES, answer=("cat", 0.9)), "DECK": ["cat", "dog"],
                      "DATABASE_URL": f"sqlite:///{small_disk / 'contributions.sqlite3'}", "BATCH_WAIT": 0.0})
    try:
        client = app.test_client()
        kept = []
        for _ in range(3):
            r = post(client, "en")
            assert r.status_code == 201
            kept.append(r.get_json()["key_id"])
        filler = fill(small_disk)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            answers = {language: [post(client, language) for _ in range(2)] for language in ("en", "es")}
        for language, replies in answers.items():
            for r in replies:
                assert r.status_code == 503 and r.is_json, (r.status_code, r.data[:200])
                assert r.get_json() == {"error": UNAVAILABLE[language]}
        failures = store_failures(caplog.records)
        assert len(failures) == 4, [r.getMessage() for r in failures]  # one line a failure
        for record in failures:
            assert record.exc_info is None and "\n" not in record.getMessage()
            assert "database or disk is full" in record.getMessage()

        filler.unlink()  # space again: the next contribution is stored, nothing else to do
        r = post(client, "es")
        assert r.status_code == 201
        store = Contributions.of(app).store
        assert all(store.get(key) is not None for key in kept + [r.get_json()["key_id"]])
        assert sum(store.counts(status=None).values()) == 4  # nothing acknowledged lost, no refused one kept
    finally:
        close_app(app)


def test_a_full_disk_never_stops_a_game_and_each_lost_drawing_is_one_log_line(small_disk, clock, fake, caplog):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": fake, "DECK": WORDS[:12],
                      "GAME_CLOCK": clock, "TICK_INTERVAL": 0.005, "BATCH_WAIT": 0.002,
                      "DATABASE_URL": f"sqlite:///{small_disk / 'contributions.sqlite3'}"})
    client = None
    try:
        service = Contributions.of(app)
        assert service.store.counts() == {}  # the database made while there is room
        filler = fill(small_disk)
        client = server_socketio.test_client(app, flask_test_client=app.test_client())
        ack, _ = start(client, clock, rounds=2, seconds=5, words=["cat", "dog"], contribute=True)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            client.emit("ink", ink(ack["game_id"], says("cat", 0.9)))
            assert last(client, "round_over")["recognized"] is True
            assert service.games.flush(5.0)
        failures = store_failures(caplog.records)
        assert len(failures) == 1, [r.getMessage() for r in failures]
        assert failures[0].exc_info is None and "\n" not in failures[0].getMessage()
        assert "could not store a 'cat' drawing from a game" in failures[0].getMessage()
        assert "database or disk is full" in failures[0].getMessage()

        filler.unlink()  # the game went on; with room again, the next round's drawing is kept
        next_round(client, clock)
        client.emit("ink", ink(ack["game_id"], says("dog", 0.9), 1))
        assert [r["recognized"] for r in last(client, "game_over")["results"]] == [True, True]
        assert service.games.flush(5.0)
        assert service.store.counts() == {"dog": 1}
    finally:
        if client is not None and client.is_connected():
            client.disconnect()
        close_app(app)


# --- a real server ----------------------------------------------------------------------


def contribution(word: str = "cat") -> bytes:
    return json.dumps({"word": word, "drawing": [[[0, 50, 90], [0, 40, 10], [0, 20, 40]],
                                                 [[10, 60], [80, 20], [400, 431]]], "consent": True}).encode()


def send(base: str, language: str = "en") -> tuple[int, dict]:
    """POST a contribution on a connection of its own: (status, JSON body)."""
    port = int(base.rsplit(":", 1)[1])
    with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=60)) as conn:
        conn.request("POST", "/api/contributions", body=contribution(),
                     headers={"Content-Type": "application/json", "Accept-Language": language})
        response = conn.getresponse()
        return response.status, json.loads(response.read())


def healthy(base: str) -> bool:
    with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
        return r.status == 200


def wait_for_line(log: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{log.read_text()}"
        time.sleep(0.1)


def serve(port: int) -> list[str]:
    # The real server with the shipped model, as test_dataset_durability.py runs it.
    return [sys.executable, "-m", "game", "serve", "--port", str(port)]


@pytest.fixture
def server(tmp_path):
    """The real server on a free port with its SQLite database in tmp_path: (base URL,
    process, database, log)."""
    db, log, port = tmp_path / "contributions.sqlite3", tmp_path / "serve.log", free_port()
    with running_server(serve(port), log, port,
                        env={"DATABASE_URL": f"sqlite:///{db}"}) as (base, proc):
        yield base, proc, db, log


def stored_keys(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as raw:
        return {key for key, in raw.execute("SELECT key_id FROM contributions")}


@pytest.fixture
def immutable_files(tmp_path):
    """chattr +i for the files given, always undone after the test; skips where the
    filesystem (or the user: root is needed) cannot set the flag."""
    probe = tmp_path / "probe"
    probe.touch()
    done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot set the immutable flag in {tmp_path} (root and e.g. ext4 needed): "
                    f"{done.stderr.strip()}")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    made: list[Path] = []

    def freeze(paths: list[Path]) -> None:
        made.extend(paths)
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)

    def thaw() -> None:
        if made:
            subprocess.run(["chattr", "-i", *map(str, made)], check=True)
            made.clear()

    freeze.thaw = thaw
    try:
        yield freeze
    finally:
        thaw()


def test_unwritable_database_files_fail_requests_cleanly_and_the_server_plays_on(server, immutable_files):
    base, proc, db, log = server
    status, body = send(base)
    assert status == 201
    kept = [body["key_id"]]
    files = [p for p in (db, *(Path(f"{db}{s}") for s in ("-journal", "-wal", "-shm"))) if p.exists()]
    immutable_files(files)

    status, body = send(base, "es")
    assert proc.poll() is None, f"the server died ({proc.returncode}):\n{log.read_text()}"
    assert status == 503 and body == {"error": UNAVAILABLE["es"]}
    assert healthy(base)
    # The solo game plays on; its consenting player's drawing is lost, in one line of the log.
    assert [o["word"] for o in play_a_round(base)] == ["bicycle"]
    wait_for_line(log, "could not store a 'bicycle' drawing from a game")
    assert proc.poll() is None and healthy(base)

    immutable_files.thaw()
    status, body = send(base)
    assert status == 201  # writable again: stored, nothing to restart
    kept.append(body["key_id"])
    assert stored_keys(db) == set(kept)
    text = log.read_text()
    assert text.count("the contributions' database is unavailable") == 1
    assert text.count("could not store a 'bicycle' drawing from a game") == 1
    assert "Traceback" not in text, text


def test_a_full_disk_under_a_real_server(small_disk, tmp_path):
    db, log, port = small_disk / "contributions.sqlite3", tmp_path / "serve.log", free_port()
    with running_server(serve(port), log, port,
                        env={"DATABASE_URL": f"sqlite:///{db}"}) as (base, proc):
        status, body = send(base)
        assert status == 201
        kept = [body["key_id"]]
        filler = fill(small_disk)
        for language in ("en", "es"):
            assert send(base, language) == (503, {"error": UNAVAILABLE[language]})
        assert proc.poll() is None and healthy(base)
        filler.unlink()
        status, body = send(base)
        assert status == 201
        kept.append(body["key_id"])
        # Stopped before the tmpfs is unmounted (the fixture's teardown, after this test's).
    assert stored_keys(db) == set(kept)
    text = log.read_text()
    assert text.count("the contributions' database is unavailable") == 2
    assert "database or disk is full" in text and "Traceback" not in text, text
