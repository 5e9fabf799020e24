"""Contributed drawings: the store (game/dataset/store.py), its migrations, validation,
the HTTP side (game/dataset/contribute.py) and the export in Google's format, read back by the
training readers. The store tests (those taking `store`) run on both backends: SQLite in a
temporary folder and a throwaway PostgreSQL server (conftest.py's `database_url`); the HTTP
tests use SQLite. A fake classifier, so no model loads."""
from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from game.dataset import store as C
from game.dataset.__main__ import _flask_instance_path
from game.dataset.__main__ import main as export_main
from game.dataset.contribute import Contributions
from game.dataset.quickdraw import (
    _parse_timestamp,
    iter_binary,
    iter_ndjson,
    write_binary,
)
from game.model import ink
from game.protocol import MAX_POINTS_PER_DRAWING, MAX_STROKES
from game.ratelimit import KeyedLimiter
from fakes import add, drawing, payload

@pytest.fixture
def store(database_url):
    """A Store on each backend in turn (SQLite, PostgreSQL)."""
    s = C.Store(database_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(db_url):
    s = C.Store(db_url)
    yield s
    s.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def stored(app) -> int:
    return sum(Contributions.of(app).store.counts(status=None).values())


# --- the store ----------------------------------------------------------------


def test_store_add_get_newest_counts(store):
    moment = datetime(2017, 3, 28, 15, 28, 18, 123450, tzinfo=timezone.utc)
    key = add(store, "cat", countrycode="FR", now=moment)
    assert re.fullmatch(r"\d{1,20}", key) and int(key) < 2**64
    record = store.get(key)
    assert record["word"] == "cat" and record["countrycode"] == "FR" and record["recognized"] is True
    assert record["timestamp"] == "2017-03-28 15:28:18.12345 UTC"
    assert record["drawing"] == drawing()  # raw, exactly as sent
    assert record["simplified"] == C.ink.simplify(drawing())  # the shared pipeline's
    assert record["contributor"] == "anon-1234abcd" and record["status"] == "ok"
    assert store.get("12345") is None

    second = add(store, "cat", recognized=False)
    add(store, "dog")
    assert [r["key_id"] for r in store.newest("cat")] == [second, key]
    assert [r["key_id"] for r in store.newest("cat", limit=1, offset=1)] == [key]
    assert [r["key_id"] for r in store.newest("cat", recognized=False)] == [second]
    assert store.counts() == {"cat": 2, "dog": 1}
    assert len({key, second}) == 2


def test_store_status_and_delete(store):
    key, other = add(store), add(store)
    assert store.set_status(key, "rejected")
    assert store.get(key)["status"] == "rejected"
    assert store.counts() == {"cat": 1}
    assert store.counts(status=None) == {"cat": 2}
    assert [r["key_id"] for r in store.newest("cat", status="rejected")] == [key]
    assert [r["key_id"] for r in store.iter_export()] == [other]  # rejected: never exported
    assert store.set_status(key, "ok") and store.counts() == {"cat": 2}  # restored
    assert not store.set_status("999", "rejected")
    with pytest.raises(ValueError):
        store.set_status(key, "deleted")
    assert store.delete(key) and store.get(key) is None and not store.delete(key)
    assert store.counts() == {"cat": 1}


def test_sqlite_keeps_a_rollback_journal_and_is_durable(db_url, tmp_path):
    """No WAL, whose mmapped -shm file can end the server with SIGBUS (test_dataset_store_faults.py)."""
    path = tmp_path / "contributions.sqlite3"
    with closing(sqlite3.connect(path)) as raw:  # a file from a version that used WAL is converted
        raw.execute("PRAGMA journal_mode=WAL")
    store = C.Store(db_url)
    try:
        add(store)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "truncate"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as raw:  # WAL is a property of the file: it is gone
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not Path(f"{path}-shm").exists() and not Path(f"{path}-wal").exists()


def test_migrations_create_the_schema(store):
    head = ScriptDirectory.from_config(C.alembic_config()).get_current_head()
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        # The models and the migrations agree: autogenerate would find nothing to do.
        assert compare_metadata(MigrationContext.configure(conn), C.Base.metadata) == []
    columns = {c["name"] for c in inspect(store.engine).get_columns("contributions")}
    assert {"key_id", "word", "countrycode", "timestamp", "recognized", "drawing", "simplified",
            "contributor", "status", "created_at"} <= columns
    key = add(store)
    again = C.Store(store.url)  # reopening upgrades nothing and keeps the data
    try:
        assert again.get(key)["key_id"] == key
    finally:
        again.close()


def test_database_urls(make_app, monkeypatch):
    assert C.normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert C.normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert C.normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = make_app(DATABASE_URL=None)
    assert Contributions.of(app).url == f"sqlite:///{app.instance_path}/contributions.sqlite3"
    assert _flask_instance_path() == app.instance_path  # the export CLI finds the same file
    monkeypatch.setenv("DATABASE_URL", "sqlite:////elsewhere.db")
    assert Contributions.of(make_app(DATABASE_URL=None)).url == "sqlite:////elsewhere.db"


def test_timestamps_and_countries():
    at = datetime(2017, 3, 2, 23, 25, 10, 74530, tzinfo=timezone.utc)
    assert C.google_timestamp(at) == "2017-03-02 23:25:10.07453 UTC"  # as in Google's cat.ndjson
    assert C.google_timestamp(at.replace(microsecond=0)) == "2017-03-02 23:25:10 UTC"
    assert _parse_timestamp(C.google_timestamp(at)) == int(at.timestamp())
    assert C.country_from_headers({"CF-IPCountry": "fr"}) == "FR"
    assert C.country_from_headers({"X-Country-Code": "BR"}) == "BR"
    for bad in ({}, {"CF-IPCountry": "XX"}, {"CF-IPCountry": "T1"}, {"X-Country-Code": "France"},
                {"X-Country-Code": "F1"}, {"X-Country-Code": ""}):
        assert C.country_from_headers(bad) == "ZZ"


def test_keyed_limiter_forgets_refilled_buckets():
    now = [0.0]
    limiter = KeyedLimiter(rate=1, burst=2, clock=lambda: now[0], max_keys=2)
    assert limiter.take("a") and limiter.take("a") and not limiter.take("a")
    assert limiter.take("b")
    now[0] = 10.0  # both refilled
    assert limiter.take("c") and len(limiter) == 1


# --- HTTP ---------------------------------------------------------------------


def test_contribute_page_shows_licence_and_asks_consent(client):
    r = client.get("/contribute")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "CC BY 4.0" in html and "https://creativecommons.org/licenses/by/4.0/" in html
    assert "Creative Commons Attribution 4.0" in html
    assert 'id="consent-card"' in html and "I agree" in html and "Nothing is sent until you agree" in html
    for kept in ("the drawing", "the word", "country code", "the time", "anonymous contributor id",
                 "local storage"):
        assert kept in html
    assert "/static/contribute.js" in html
    words = json.loads(re.search(r'id="contribute-words" type="application/json">(.*?)</script>', html).group(1))
    assert len(words) == 345 and "The Eiffel Tower" in words
    js = client.get("/static/contribute.js")
    assert js.status_code == 200 and b"consent" in js.data
    js.close()


def test_campaign_words(make_app):
    app = make_app(CAMPAIGN_WORDS=["cat", "dog"])
    client = app.test_client()
    assert '["cat", "dog"]' in client.get("/contribute").get_data(as_text=True)
    assert client.post("/api/contributions", json=payload("cat")).status_code == 201
    r = client.post("/api/contributions", json=payload("apple"))  # a category, not in the campaign
    assert r.status_code == 422 and "apple" in r.get_json()["error"]
    with pytest.raises(ValueError, match="CAMPAIGN_WORDS"):
        make_app(CAMPAIGN_WORDS=["cat", "unicorn"])


def test_post_contribution(app, client):
    r = client.post("/api/contributions", json=payload("cat"), headers={"CF-IPCountry": "fr"})
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"key_id", "word", "recognized"}
    assert body["word"] == "cat" and body["recognized"] is True  # the fake's top guess, p 0.9
    record = Contributions.of(app).store.get(body["key_id"])
    assert record["countrycode"] == "FR" and record["drawing"] == drawing()
    assert _parse_timestamp(record["timestamp"]) > 1.7e9

    r = client.post("/api/contributions", json=payload("dog"))  # not the top guess
    assert r.status_code == 201 and r.get_json()["recognized"] is False
    assert Contributions.of(app).store.get(r.get_json()["key_id"])["countrycode"] == "ZZ"

    r = client.post("/api/contributions", json={k: v for k, v in payload().items() if k != "contributor"})
    assert r.status_code == 201  # API clients may send no contributor id: one is made
    assert len(Contributions.of(app).store.get(r.get_json()["key_id"])["contributor"]) >= 8


def test_recognition_uses_the_games_threshold(make_app):
    client = make_app(RECOGNITION_THRESHOLD=0.95).test_client()
    r = client.post("/api/contributions", json=payload("cat"))  # top guess, but p 0.9 < 0.95
    assert r.status_code == 201 and r.get_json()["recognized"] is False


def test_classifier_failure_still_stores(make_app):
    app = make_app(CLASSIFY_TIMEOUT=0.5)
    p = payload("cat")
    p["drawing"][-1][0][0] = -5  # the fake refuses it
    r = app.test_client().post("/api/contributions", json=p)
    assert r.status_code == 201 and r.get_json()["recognized"] is False
    assert stored(app) == 1
    # No answer from the model, so no simplification from it either: the store makes one.
    record = Contributions.of(app).store.get(r.get_json()["key_id"])
    assert record["simplified"] == ink.simplify(p["drawing"])


def _with_drawing(d) -> dict:
    return payload(drawing=d)


def _raw(text: str) -> bytes:
    return text.encode()


GOOD = drawing()
BAD_INPUTS = {
    # name: (body: bytes or a JSON-able payload, status, words in the error)
    "not JSON": (b"this is not json", 400, "JSON"),
    "truncated JSON": (b'{"word": "cat", "drawing": [[', 400, "JSON"),
    "invalid UTF-8": (b'{"word": "\xff\xfe"}', 400, "JSON"),
    "nested too deep": (b"[" * 200_000, 400, "JSON"),
    "empty body": (b"", 400, "JSON"),
    "a list, not an object": ([payload()], 400, "object"),
    "a string, not an object": ("cat", 400, "object"),
    "no consent": ({k: v for k, v in payload().items() if k != "consent"}, 422, "consent"),
    "consent false": (payload(consent=False), 422, "consent"),
    "consent a string": (payload(consent="yes"), 422, "consent"),
    "unknown word": (payload("unicorn"), 422, "unknown word"),
    "word not a string": (payload(word=5), 422, "unknown word"),
    "word of another case": (payload("Cat"), 422, "unknown word"),
    "no drawing": ({k: v for k, v in payload().items() if k != "drawing"}, 422, "list of strokes"),
    "drawing a dict": (_with_drawing({"x": [1]}), 422, "list of strokes"),
    "drawing a string": (_with_drawing("[[1,2],[3,4]]"), 422, "list of strokes"),
    "empty drawing": (_with_drawing([]), 422, "empty"),
    "simplified strokes (no times)": (_with_drawing([[[1, 2], [3, 4]]]), 422, "[[xs], [ys], [ts]]"),
    "stroke of points": (_with_drawing([[[1, 2, 0], [3, 4, 10]]]), 422, "[[xs], [ys], [ts]]"),
    "stroke not a list": (_with_drawing([5]), 422, "[[xs], [ys], [ts]]"),
    "mismatched lengths": (_with_drawing([[[1, 2, 3], [1, 2], [0, 1, 2]]]), 422, "different lengths"),
    "times shorter": (_with_drawing([[[1, 2], [1, 2], [0]]]), 422, "different lengths"),
    "empty stroke": (_with_drawing([GOOD[0], [[], [], []]]), 422, "no points"),
    "NaN": (_with_drawing([[[1, float("nan")], [1, 2], [0, 1]]]), 422, "finite numbers"),
    "Infinity": (_with_drawing([[[1, 2], [float("inf"), 2], [0, 1]]]), 422, "finite numbers"),
    "-Infinity time": (_with_drawing([[[1, 2], [1, 2], [0, float("-inf")]]]), 422, "finite numbers"),
    "a string number": (_with_drawing([[["1", 2], [1, 2], [0, 1]]]), 422, "finite numbers"),
    "a boolean": (_with_drawing([[[True, 2], [1, 2], [0, 1]]]), 422, "finite numbers"),
    "null": (_with_drawing([[[None, 2], [1, 2], [0, 1]]]), 422, "finite numbers"),
    "a nested list": (_with_drawing([[[[1], 2], [1, 2], [0, 1]]]), 422, "finite numbers"),
    "huge coordinate": (_with_drawing([[[1e300, 2], [1, 2], [0, 1]]]), 422, "finite numbers"),
    "huge integer": (_raw('{"word":"cat","consent":true,"drawing":[[[1' + "0" * 400 + ',2],[1,2],[0,1]]]}'),
                     422, "finite numbers"),
    "huge integer beside a float": (_raw('{"word":"cat","consent":true,"drawing":[[[1.5,1' + "0" * 400 +
                                         '],[1,2],[0,1]]]}'), 422, "finite numbers"),
    "huge negative coordinate": (_with_drawing([[[1, 2], [-1e300, 2], [0, 1]]]), 422, "finite numbers"),
    "negative time": (_with_drawing([[[1, 2], [1, 2], [-5, 1]]]), 422, "negative"),
    "too many points": (_with_drawing([[list(range(1000)), list(range(1000)), list(range(1000))]] * 6),
                        422, f"{MAX_POINTS_PER_DRAWING} points"),
    "too many strokes": (_with_drawing([[[1], [1], [0]]] * (MAX_STROKES + 1)), 422, f"{MAX_STROKES} strokes"),
    "bad contributor id": (payload(contributor="../../etc"), 422, "contributor"),
    "contributor not a string": (payload(contributor=12345678), 422, "contributor"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_refused_and_stores_nothing(app, client, name):
    body, status, words = BAD_INPUTS[name]
    data = body if isinstance(body, bytes) else json.dumps(body)  # json.dumps writes NaN, Infinity
    r = client.post("/api/contributions", data=data, content_type="application/json")
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.is_json and words in r.get_json()["error"]
    assert stored(app) == 0


def test_nan_is_sent_as_json_literal():
    # The NaN case above really sends the JSON extension literal, as a hostile client would.
    assert "NaN" in json.dumps(BAD_INPUTS["NaN"][0]) and "Infinity" in json.dumps(BAD_INPUTS["Infinity"][0])


def test_a_10_mb_body_is_refused_in_json(app, client):
    body = b'{"word": "cat", "drawing": [' + b"1," * (5 * 1024 * 1024) + b"1]}"
    assert len(body) > 10 * 1024 * 1024
    r = client.post("/api/contributions", data=body, content_type="application/json")
    assert r.status_code == 413
    assert r.is_json and "larger than 1 MB" in r.get_json()["error"]
    assert stored(app) == 0


def test_another_sites_page_cannot_contribute(app, client):
    """A "simple" cross-site POST (text/plain or a form, no preflight) from another site's
    page would make its visitors contribute, each from their own address: refused, as is
    any request from another site's page. Scripts (no Origin) and this site's pages pass."""
    body = json.dumps(payload())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        r = client.post("/api/contributions", data=body, content_type=content_type)
        assert r.status_code == 415 and "application/json" in r.get_json()["error"], content_type
    for origin in ("https://evil.example", "http://localhost.evil.example", "https://localhost", "null"):
        r = client.post("/api/contributions", json=payload(), headers={"Origin": origin})
        assert r.status_code == 403 and "another site" in r.get_json()["error"], origin
    assert stored(app) == 0
    assert client.post("/api/contributions", json=payload(), headers={"Origin": "http://localhost"}).status_code == 201
    assert client.post("/api/contributions", json=payload()).status_code == 201  # curl, the Python client
    assert stored(app) == 2


def test_this_sites_origin_behind_a_trusted_proxy(make_app):
    """The site's origin is the one the proxy names, only when the proxy is trusted."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "doodle.example.org",
                 "Origin": "https://doodle.example.org"}
    for proxies, status in ((1, 201), (0, 403)):
        client = make_app(TRUSTED_PROXIES=proxies).test_client()
        assert client.post("/api/contributions", json=payload(), headers=forwarded).status_code == status


def test_a_flood_from_one_client_is_rate_limited(make_app):
    app = make_app(CONTRIBUTION_RATE=0.001, CONTRIBUTION_BURST=3)
    client = app.test_client()
    codes = [client.post("/api/contributions", json=payload()).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    r = client.post("/api/contributions", json=payload())
    assert r.is_json and "slow down" in r.get_json()["error"]
    # Another client is not held back by the first one's flood.
    r = client.post("/api/contributions", json=payload(), environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert r.status_code == 201
    assert stored(app) == 4


@pytest.mark.parametrize("proxies", [0, 1])
def test_behind_a_trusted_proxy_each_client_has_its_own_limit(make_app, proxies):
    """Every request comes from the proxy's address; with TRUSTED_PROXIES its
    X-Forwarded-For names the client, and without, a client cannot forge one."""
    app = make_app(CONTRIBUTION_RATE=0.001, CONTRIBUTION_BURST=2, TRUSTED_PROXIES=proxies)
    client = app.test_client()

    def post(forwarded_for):
        return client.post("/api/contributions", json=payload(), headers={"X-Forwarded-For": forwarded_for},
                           environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code

    assert [post("203.0.113.5"), post("203.0.113.5"), post("203.0.113.5")] == [201, 201, 429]
    # Another client behind the same proxy: its own limit only when the proxy is trusted.
    assert post("198.51.100.9") == (201 if proxies else 429)
    # A client forging its own X-Forwarded-For ahead of the proxy's gets the proxy's last entry.
    assert post("1.2.3.4, 203.0.113.5") == 429


# --- export -------------------------------------------------------------------


def _first_line(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\n")


@pytest.mark.parametrize("fmt", ["raw", "simplified"])
def test_export_writes_googles_exact_format(store, tmp_path, quickdraw_dir, fmt):
    google = _first_line(quickdraw_dir / fmt / "cat.ndjson")
    record = json.loads(google)
    assert tuple(record) == C.FIELDS
    # Our writer reproduces Google's line byte for byte (key order, separators, numbers)...
    key = store.add({"word": "cat", "drawing": record["drawing"] if fmt == "raw" else GOOD,
                     "contributor": "anon-1234abcd"}, recognized=True, countrycode="VE",
                    now=datetime(2017, 3, 2, 23, 25, 10, 74530, tzinfo=timezone.utc))
    C.export(store, tmp_path / "out", fmt)
    ours = _first_line(tmp_path / "out" / "cat.ndjson")
    assert re.fullmatch(r'\{"word":"cat","countrycode":"VE","timestamp":"2017-03-02 23:25:10\.07453 UTC",'
                        rf'"recognized":true,"key_id":"{key}","drawing":\[.*\]\}}', ours)
    if fmt == "raw":
        assert ours == google.replace(record["key_id"], key)  # ...the same drawing, the same bytes
    else:
        assert json.loads(ours)["drawing"] == C.ink.simplify(GOOD)


def test_export_round_trip_through_the_training_readers(store, tmp_path):
    keys = {"cat": [add(store, "cat") for _ in range(3)], "The Eiffel Tower": [add(store, "The Eiffel Tower")],
            "dog": [add(store, "dog", recognized=False)]}
    rejected = keys["cat"].pop(1)
    store.set_status(rejected, "rejected")
    store.set_status(keys["dog"].pop(), "rejected")  # a word whose only drawing is rejected

    for fmt in ("raw", "simplified"):
        out = tmp_path / fmt
        assert export_main(["export", "--format", fmt, "--out", str(out), "--database", store.url]) == 0
        assert sorted(p.name for p in out.glob("*.ndjson")) == ["The Eiffel Tower.ndjson", "cat.ndjson"]
        for word, word_keys in keys.items():
            if not word_keys:
                continue
            back = list(iter_ndjson(out / f"{word}.ndjson"))
            assert [r["key_id"] for r in back] == word_keys
            for r in back:
                mine = store.get(r["key_id"])
                assert list(r) == list(C.FIELDS)
                assert {k: r[k] for k in C.FIELDS if k != "drawing"} == {k: mine[k] for k in C.FIELDS
                                                                          if k != "drawing"}
                assert r["drawing"] == (mine["drawing"] if fmt == "raw" else mine["simplified"])
        assert all(rejected not in p.read_text() for p in out.glob("*.ndjson"))

    # Simplified exports fit Google's binary format too, and read back the same.
    records = list(iter_ndjson(tmp_path / "simplified" / "cat.ndjson"))
    assert write_binary(records, tmp_path / "cat.bin") == 2
    assert [r["drawing"] for r in iter_binary(tmp_path / "cat.bin")] == [r["drawing"] for r in records]


def test_exporting_again_brings_the_folder_up_to_date(store, tmp_path, capsys):
    """A word whose drawings were all rejected since the last export loses its file (else
    training would still read them), and the export never touches files it did not write."""
    out = tmp_path / "out"
    dog = add(store, "dog")
    cats = [add(store, "cat"), add(store, "cat")]
    assert C.export(store, out) == {"cat": 2, "dog": 1}
    store.set_status(dog, "rejected")
    store.set_status(cats[0], "rejected")
    assert C.export(store, out) == {"cat": 1}
    assert sorted(p.name for p in out.glob("*.ndjson")) == ["cat.ndjson"]
    assert [r["key_id"] for r in iter_ndjson(out / "cat.ndjson")] == [cats[1]]
    assert json.loads((out / C.EXPORT_MANIFEST).read_text())["words"] == ["cat"]

    # Someone else's ndjson (Google's files, say) in the folder: refused, nothing changed.
    google = tmp_path / "google"
    google.mkdir()
    (google / "cat.ndjson").write_text("theirs\n")
    assert export_main(["export", "--out", str(google), "--database", store.url]) == 2
    assert "no export wrote (cat.ndjson)" in capsys.readouterr().err
    assert [p.name for p in google.iterdir()] == ["cat.ndjson"] and (google / "cat.ndjson").read_text() == "theirs\n"
    (out / C.EXPORT_MANIFEST).write_text("not json")
    with pytest.raises(ValueError, match="not a Doodle Lab export manifest"):
        C.export(store, out)


def test_nothing_half_written_on_a_failed_export(store, tmp_path, monkeypatch):
    add(store)
    out = tmp_path / "out"

    def broken(*args, **kwargs):
        yield {"word": "cat", **{k: "x" for k in C.FIELDS[1:]}}
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "iter_export", broken)
    with pytest.raises(RuntimeError):
        C.export(store, out)
    assert list(out.iterdir()) == []


def test_a_word_a_class_taught_is_stored_only_as_such_and_only_as_a_file_name_can_be():
    words = {"cat", "dog"}
    # The HTTP API's contributions name the model's words; a game's taught word is its own.
    with pytest.raises(C.ContributionError, match="unknown word"):
        C.validate(payload("volcano"), words)
    assert C.validate(payload("volcano"), words, taught=True)["word"] == "volcano"
    assert C.validate(payload("🧑‍🚀 café"), words, taught=True)["word"] == "🧑‍🚀 café"
    for bad in ("AC/DC", "back\\slash", "two\nlines", " padded", "padded ", "", "x" * 65, 7, None):
        with pytest.raises(C.ContributionError, match="unknown word"):
            C.validate(payload(bad), words, taught=True)
