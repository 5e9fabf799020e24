"""Nothing lost (issue 5): SIGKILL the real server during a burst of 1,000 contributions
from 20 concurrent clients; every contribution that got a 201 is in the database afterwards
with its drawing intact, and no row is half-written.

The server is `python -m game serve` in a subprocess with the shipped model (a fake
classifier cannot cross the process boundary), DATABASE_URL pointing at an SQLite file in a
temporary folder, and the per-address rate limit lifted through DOODLE_CONTRIBUTION_RATE /
DOODLE_CONTRIBUTION_BURST (every client here is 127.0.0.1). The drawings are Google's raw
Quick, Draw! drawings when ../shared/quickdraw/raw is there, else hand-like random strokes.
Run on SQLite (the default store: the file as the killed process left it) and on PostgreSQL
(conftest.py's throwaway server, which outlives the killed app server).

DOODLE_DURABILITY_TOTAL / DOODLE_DURABILITY_KILL_AFTER shrink the burst for a quick run.
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import sqlite3
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from game.dataset import store as C
from fakes import real_drawings
from live_server import Client, free_port, play_a_round, running_server

TOTAL = int(os.environ.get("DOODLE_DURABILITY_TOTAL", 1000))
KILL_AFTER = int(os.environ.get("DOODLE_DURABILITY_KILL_AFTER", 400))  # 201s before the SIGKILL
CLIENTS = 20


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_during_a_burst_loses_no_acknowledged_contribution(tmp_path, request, backend):
    db = tmp_path / "contributions.sqlite3"
    if backend == "sqlite":
        url = f"sqlite:///{db}"
    else:  # the app server is killed; the PostgreSQL server (conftest.py's) lives on
        url = request.getfixturevalue("postgres_server").create_database()
    port = free_port()
    env = dict(DATABASE_URL=url, DOODLE_CONTRIBUTION_RATE="1000000", DOODLE_CONTRIBUTION_BURST="1000000")
    log_path = tmp_path / "serve.log"
    sent = real_drawings(TOTAL)
    # A contributor id of its own for each contribution: any row in the database names what was sent.
    bodies = [json.dumps({"word": word, "drawing": drawing, "consent": True,
                          "contributor": f"durability-{i:05d}"}).encode() for i, (word, drawing) in enumerate(sent)]

    with running_server([sys.executable, "-m", "game", "serve", "--port", str(port)], log_path, port,
                        wait=180, env=env) as (_, proc):  # 180 s: the real model loads
        acknowledged: dict[int, str] = {}  # contribution index -> key_id of its 201
        refused: dict[int, tuple[int, bytes]] = {}  # answered, but not 201 (none expected)
        failed: dict[int, str] = {}  # no answer: the server was killed
        lock = threading.Lock()
        next_index = itertools.count()
        enough = threading.Event()

        def client_loop():
            client = Client(port)
            try:
                while (i := next(next_index)) < TOTAL:
                    try:
                        status, data = client.request("POST", "/api/contributions", bodies[i])
                    except (OSError, http.client.HTTPException) as exc:  # refused, reset: the server is gone
                        with lock:
                            failed[i] = repr(exc)
                        continue
                    with lock:
                        if status == 201:
                            acknowledged[i] = json.loads(data)["key_id"]
                            if len(acknowledged) >= KILL_AFTER:
                                enough.set()
                        else:
                            refused[i] = (status, data[:200])
            finally:
                client.close()

        threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(CLIENTS)]
        started = time.monotonic()
        for t in threads:
            t.start()
        assert enough.wait(300), f"only {len(acknowledged)} contributions acknowledged in 300 s"
        proc.send_signal(signal.SIGKILL)  # mid-burst: no shutdown, no flush, nothing
        proc.wait(timeout=30)
        with lock:
            at_kill = len(acknowledged)
        for t in threads:
            t.join(120)
        elapsed = time.monotonic() - started

    print(f"\n{len(acknowledged)} acknowledged ({at_kill} when killed), {len(failed)} without an answer, "
          f"{len(refused)} refused, in {elapsed:.1f} s")
    assert not refused, f"unexpected refusals: {list(refused.items())[:3]}"
    assert KILL_AFTER <= len(acknowledged) < TOTAL, "the kill should land partway through the burst"
    assert failed, "requests after the kill should fail"

    # The database as the killed server left it (SQLite replays its WAL on open).
    if backend == "sqlite":
        with sqlite3.connect(db) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    engine = create_engine(C.normalize_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key_id, word, contributor, drawing, simplified, recognized, "
                                     "timestamp FROM contributions")).all()
    finally:
        engine.dispose()
    by_key = {}
    for key_id, word, contributor, drawing, simplified, recognized, timestamp in rows:
        # Every row whole: its drawing parses and is exactly what was sent under its contributor id.
        i = int(contributor.removeprefix("durability-"))
        assert word == sent[i][0]
        assert json.loads(drawing) == sent[i][1], f"row {key_id} does not hold what contribution {i} sent"
        assert json.loads(simplified) == C.ink.simplify(sent[i][1])
        assert recognized in (True, False) and timestamp.endswith(" UTC")
        assert key_id not in by_key
        by_key[key_id] = i
    # A drawing sent twice (the retry above) would be two rows of one contributor id: allowed,
    # but counted once below.
    stored_indexes = set(by_key.values())
    for i, key_id in acknowledged.items():
        assert by_key.get(key_id) == i, f"contribution {i} got 201 {key_id} but is not in the database"
    # At most the requests in flight at the kill were committed without their reply arriving.
    assert len(stored_indexes - set(acknowledged)) <= CLIENTS

    store = C.Store(url)  # and the store opens it again, as a restarted server would
    try:
        assert sum(store.counts(status=None).values()) == len(rows)
    finally:
        store.close()


def test_sigterm_stores_the_games_drawings_still_queued(tmp_path):
    """A game's drawing is queued for the store when its round ends; a server stopped with
    SIGTERM (what systemd or docker sends) stores it before it exits. The database is held
    locked by this test while the drawing waits, so without that it would be lost."""
    db = tmp_path / "contributions.sqlite3"
    port = free_port()
    env = dict(DATABASE_URL=f"sqlite:///{db}")
    argv = [sys.executable, "-m", "game", "serve", "--port", str(port)]
    with running_server(argv, tmp_path / "serve.log", port, env=env) as (base, proc):
        client = Client(port)  # one contribution creates the database and its tables
        status, _ = client.request("POST", "/api/contributions", json.dumps(
            {"word": "cat", "drawing": [[[0, 50, 90], [0, 40, 10], [0, 20, 40]]], "consent": True}).encode())
        client.close()
        assert status == 201
        lock = sqlite3.connect(db, isolation_level=None, timeout=30)
        lock.execute("BEGIN EXCLUSIVE")  # the games' writer now waits for the database
        overs = play_a_round(base, contributor="sigterm-test-1")
        assert overs and overs[0]["word"] == "bicycle"
        proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert proc.poll() is None, "the server exited with a drawing still waiting for the database"
        lock.execute("COMMIT")
        lock.close()
        assert proc.wait(timeout=30) == 0
    rows = sqlite3.connect(db).execute("SELECT word, contributor FROM contributions").fetchall()
    assert ("bicycle", "sigterm-test-1") in rows, rows
