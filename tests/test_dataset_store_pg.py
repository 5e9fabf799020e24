"""The contributions store on a real PostgreSQL server (a throwaway one, conftest.py's
`postgres_server`), beyond the store tests that tests/test_dataset_store.py runs on both
backends: several servers opening one fresh database at once, durable commits whatever
the database's default, and concurrent writers."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from game.dataset import store as C

CATEGORIES = ["cat", "dog", "The Eiffel Tower"]


def _record(word: str = "cat", i: int = 0) -> dict:
    return {"word": word, "contributor": "anon-1234abcd",
            "drawing": [[[i, i + 10, i + 20], [0, 5, 10], [0, 16, 32]], [[1, 2], [3, 4], [50, 66]]]}


def test_several_servers_open_a_fresh_database_at_once(postgres_server):
    """Each app migrates the schema when it opens the store: started together, the
    migrations must not race (one creates the table, the others find it at head)."""
    url = postgres_server.create_database()
    barrier = threading.Barrier(6)

    def open_store():
        barrier.wait()
        store = C.Store(url)
        try:
            return store.add(_record(), recognized=True)
        finally:
            store.close()

    with ThreadPoolExecutor(6) as pool:
        keys = list(pool.map(lambda _: open_store(), range(6)))
    store = C.Store(url)
    try:
        assert sorted(r["key_id"] for r in store.newest("cat", limit=10)) == sorted(keys)
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.close()


def test_commits_are_durable_even_where_the_database_says_otherwise(postgres_server):
    """A 201 means committed to disk: the store's sessions run with synchronous_commit on,
    also on a database configured with it off."""
    url = postgres_server.create_database()
    name = url.split("/")[3].split("?")[0]
    with C.Store(postgres_server.url()).engine.connect() as admin:
        admin.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    store = C.Store(url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
            assert conn.execute(text("SHOW fsync")).scalar() == "on"
    finally:
        store.close()


def test_concurrent_writers_lose_nothing(database_url):
    """20 threads adding at once (as the request threads do), on both backends."""
    store = C.Store(database_url)
    try:
        with ThreadPoolExecutor(20) as pool:
            keys = list(pool.map(lambda i: (i, store.add(_record("dog", i), recognized=i % 2 == 0)), range(200)))
        assert len({k for _, k in keys}) == 200
        for i, key in keys:
            record = store.get(key)
            assert record["drawing"] == _record("dog", i)["drawing"] and record["recognized"] == (i % 2 == 0)
        assert store.counts() == {"dog": 200}
    finally:
        store.close()


def test_waiting_rows_share_the_next_commit(database_url, monkeypatch):
    """While one commit is on its way to disk, rows added meanwhile queue for the next
    one: fewer commits than rows, each row in exactly one, every caller answered."""
    store = C.Store(database_url)
    batches: list[int] = []
    commit = C._GroupCommit._commit

    def slow_commit(self, batch):
        batches.append(len(batch))
        time.sleep(0.02)  # a slow disk: the others queue meanwhile
        commit(self, batch)

    monkeypatch.setattr(C._GroupCommit, "_commit", slow_commit)
    try:
        barrier = threading.Barrier(40)

        def add(i):
            barrier.wait()
            return store.add(_record("cow", i), recognized=True)

        with ThreadPoolExecutor(40) as pool:
            keys = list(pool.map(add, range(40)))
        assert len(set(keys)) == 40 and sum(batches) == 40
        assert 2 <= len(batches) < 40 and max(batches) > 1
        assert store.counts() == {"cow": 40}
        # The writer's role went back to nobody: a later add alone commits at once.
        store.add(_record("cow", 40), recognized=True)
        assert batches[-1] == 1 and store.counts() == {"cow": 41}
    finally:
        store.close()


def test_a_key_id_clash_in_a_shared_commit_draws_again(database_url, monkeypatch):
    """Concurrent adds share one transaction (group commit); a key_id already taken fails it,
    and every row is then committed alone, the clashing one under a new key_id."""
    store = C.Store(database_url)
    try:
        taken = store.add(_record(), recognized=True)
        drawn = iter([taken, "123", taken, "456"] + [str(n) for n in range(1000, 1100)])
        monkeypatch.setattr(C, "_new_key_id", lambda: next(drawn))
        store._commits._commit([C._Pending(dict(_row(store, i), key_id=next(drawn))) for i in range(3)])
        assert store.counts() == {"cat": 4}
        assert {store.get(k)["drawing"][0][0][0] for k in ("123", "456")} == {0, 1}
    finally:
        store.close()


def _row(store, i) -> dict:
    """A table row as Store.add makes it, less its key_id."""
    record = _record("cat", i)
    return {"word": "cat", "countrycode": "ZZ", "timestamp": "2017-03-02 23:25:10 UTC", "recognized": True,
            "drawing": C._dumps(record["drawing"]), "simplified": C._dumps(record["drawing"]),
            "contributor": record["contributor"], "status": "ok",
            "created_at": datetime.now(timezone.utc)}


def test_a_failed_commit_fails_every_add_in_it(database_url, monkeypatch):
    """No caller whose row did not commit may believe it did (a 201 only after commit)."""
    store = C.Store(database_url)
    try:
        def broken(self, batch):
            raise OSError("disk full")

        monkeypatch.setattr(C._GroupCommit, "_commit", broken)
        barrier = threading.Barrier(8)

        def add(i):
            barrier.wait()
            try:
                store.add(_record("cat", i), recognized=True)
                return "stored"
            except Exception as exc:
                return type(exc).__name__

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(add, range(8)))
        assert set(results) <= {"OSError", "RuntimeError"} and "stored" not in results
        monkeypatch.undo()
        assert store.counts(status=None) == {}
    finally:
        store.close()
