"""The data browser (game/dataset/browse.py: /data, /api/data) and moderation (game/dataset/admin.py:
/admin). The app is built with create_app and the contribution tests' fake classifier and
SQLite store; drawings are seeded into the store directly. Google's files come from a
folder the tests write, and from /work/shared/quickdraw where it exists."""
from __future__ import annotations

import io
import json
import re
import time
import zipfile
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy import insert

from game.dataset import store as C
from game.dataset.admin import ConfigurationError
from game.app import create_app
from game.dataset.contribute import Contributions
from fakes import CATEGORIES, FakeClassifier, add, drawing
from browser import PHONE, phone_page, screenshots_dir

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(make_app):
    return make_app(ADMIN_PASSWORD=PASSWORD)


@pytest.fixture
def client(app):
    return app.test_client()


def store_of(app) -> C.Store:
    return Contributions.of(app).store


def seed(store, word: str, n: int, start: datetime | None = None) -> list[str]:
    """n drawings of `word` in one transaction, recognized every other one (the first is);
    their key_ids, oldest first. Fast enough for 10,000 (no fsync a row, no simplify)."""
    start = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
    raw, simplified = json.dumps(drawing()), json.dumps(C.ink.simplify(drawing()))
    prefix = CATEGORIES.index(word) + 1  # key_ids unique across words
    rows = [{"key_id": f"{prefix}{i:09d}", "word": word, "countrycode": "FR",
             "timestamp": C.google_timestamp(start + timedelta(seconds=i)), "recognized": i % 2 == 0,
             "drawing": raw, "simplified": simplified, "contributor": "anon-1234abcd", "status": C.OK,
             "created_at": start + timedelta(seconds=i)} for i in range(n)]
    with store.engine.begin() as conn:
        conn.execute(insert(C.TABLE), rows)
    return [r["key_id"] for r in rows]


def tiles(html: str) -> list[str]:
    """The key_ids of the drawings a page shows, in order."""
    return re.findall(r'<li class="drawing[^"]*"\s+data-key-id="([^"]+)"', html)


def login(client, password: str = PASSWORD, **environ):
    """Log in as a browser does: the form's CSRF token first, then the password."""
    client.get("/admin", environ_base=environ)
    with client.session_transaction() as s:
        token = s.get("csrf", "")
    return client.post("/admin/login", data={"password": password, "csrf": token}, environ_base=environ)


def logged_in(client) -> bool:
    page = client.get("/admin")
    assert page.status_code == 200
    return "Log out" in page.get_data(as_text=True)


def csrf(client) -> str:
    client.get("/admin")  # a logged-in page makes the token
    with client.session_transaction() as s:
        return s["csrf"]


# --- the browser --------------------------------------------------------------


def test_index_counts_words_without_rejected(app, client):
    store = store_of(app)
    cats = [add(store, "cat"), add(store, "cat"), add(store, "cat")]
    add(store, "dog")
    store.set_status(cats[0], C.REJECTED)

    answer = client.get("/api/data").get_json()
    assert answer["quickdraw"] is False
    counts = {row["word"]: row for row in answer["words"]}
    assert len(counts) == len(CATEGORIES)  # every word, drawn or not
    assert counts["cat"] == {"word": "cat", "contributions": 2, "taught": False}
    assert counts["dog"]["contributions"] == 1 and counts["apple"]["contributions"] == 0

    page = client.get("/data")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<a href="/data/cat">cat</a></th>\n          <td>2</td>' in html
    assert 'href="/data/The%20Eiffel%20Tower"' in html  # words with spaces link safely


# The words seeded for the order tests, in Spanish alphabetical order: accents sort with
# their letter (ángel with a), ñ after n (arándano < araña, banco < bañera).
DRAWN_ES = ["ángel", "arándano", "araña", "árbol", "banco", "bañera", "búho", "cebra", "gato"]
DRAWN_EN = ["angel", "bathtub", "bench", "blueberry", "cat", "owl", "spider", "tree", "zebra"]
ES = {"Accept-Language": "es-MX,es;q=0.9"}


def listed(html: str) -> tuple[list[str], list[str]]:
    """The word names /data lists, in order: (all rows, the rows not hidden)."""
    rows = re.findall(r'<tr data-name="[^"]*" data-drawings="\d+"( hidden)?>\s*<th scope="row"><a href="[^"]+">([^<]+)</a>',
                      html)
    return [name for _, name in rows], [name for hidden, name in rows if not hidden]


def seed_drawn(store) -> None:
    for n, word in enumerate(reversed(DRAWN_EN)):  # counts differ: the order is not by count
        for _ in range(1 + n % 3):
            add(store, word)


def test_index_in_spanish_lists_drawn_words_first_in_spanish_order(app, client):
    seed_drawn(store_of(app))
    page = client.get("/data", headers=ES)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    everything, shown = listed(html)
    # By default only the words with drawings, in Spanish alphabetical order...
    assert shown == DRAWN_ES
    assert 'value="drawn" checked' in html and "Las palabras con dibujos (9)" in html
    assert "Mostrando 9 de 345 palabras." in html
    # ...and the others after them, hidden until asked for, in Spanish order too.
    assert everything[:9] == DRAWN_ES and len(everything) == 345
    rest = everything[9:]
    assert rest[:3] == ["abeja", "abrigo", "almohada"]
    assert [w for w in rest if w.startswith("au")] == ["audífonos", "autobús", "autobús escolar"]
    # ñ is a letter of its own, after n: mono, montaña, montaña rusa, moño, mora.
    assert [w for w in rest if w.startswith("mo")] == [
        "mochila", "molino de viento", "mono", "montaña", "montaña rusa", "moño", "mora", "mosquito", "moto"]
    shown_all = listed(client.get("/data?show=all", headers=ES).get_data(as_text=True))[1]
    assert shown_all == everything

    # English: the same words in English order; the JSON keeps the ids in the list's order.
    assert listed(client.get("/data").get_data(as_text=True))[1] == DRAWN_EN
    words = [row["word"] for row in client.get("/api/data", headers=ES).get_json()["words"]]
    assert words == CATEGORIES


@pytest.mark.parametrize("query, show, expected", [
    ("ARBOL", "", ["árbol"]),  # no accent, capitals: found
    ("  árbol ", "", ["árbol"]),  # spaces around
    ("ara", "", ["arándano", "araña"]),
    ("ARAÑA", "", ["araña"]),
    ("cat", "", []),  # the English id is not the Spanish name
    ("MOCHILA", "", []),  # a word with no drawings, under the default filter
    ("MOCHILA", "all", ["mochila"]),
])
def test_index_search_matches_the_spanish_name_ignoring_accents(app, client, query, show, expected):
    seed_drawn(store_of(app))
    html = client.get("/data", query_string={"q": query, "show": show}, headers=ES).get_data(as_text=True)
    assert listed(html)[1] == expected
    assert f'value="{query.strip()}"' in html  # the box keeps what was typed
    if query == "MOCHILA" and not expected:  # a word, with no drawings: the page says where it is
        assert "Ninguna palabra con dibujos coincide con «MOCHILA»: elige todas las palabras para ver las demás." in html
    elif not expected:
        assert f"Ninguna palabra coincide con «{query.strip()}»." in html


def test_index_with_no_drawings_lists_every_word(client):
    html = client.get("/data", headers=ES).get_data(as_text=True)
    everything, shown = listed(html)
    assert shown == everything and len(shown) == 345 and shown[:2] == ["abeja", "abrigo"]
    assert 'name="show" value="all"' in html and 'type="radio"' not in html  # no filter that would hide all
    assert "Ninguna palabra tiene dibujos todavía" in html


@pytest.mark.parametrize("query_string", [
    {"show": "nonsense"}, {"show": "ALL", "q": "x" * 500}, {"q": "<script>alert(1)</script>"},
    {"q": "%"}, {"q": "\u0000"}, {"q": "ｇａｔｏ"},
])
def test_index_odd_searches_are_safe(app, client, query_string):
    seed_drawn(store_of(app))
    page = client.get("/data", query_string=query_string, headers=ES)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<script>alert" not in html
    q = query_string.get("q", "")
    if q == "ｇａｔｏ":  # full-width letters fold to the plain ones
        assert listed(html)[1] == ["gato"]
    if len(q) > 64:
        assert 'value="' + "x" * 64 + '"' in html


def test_word_grid_paginates_newest_first_with_filters(make_app):
    app = make_app(DATA_PER_PAGE=4)
    client = app.test_client()
    keys = seed(store_of(app), "cat", 10)
    seed(store_of(app), "dog", 3)
    newest = keys[::-1]

    first = client.get("/api/data/cat").get_json()
    assert (first["total"], first["pages"], first["page"], first["per_page"]) == (10, 3, 1, 4)
    assert [d["key_id"] for d in first["drawings"]] == newest[:4]
    d = first["drawings"][0]
    assert set(d) == {"key_id", "word", "countrycode", "timestamp", "recognized", "drawing", "source", "format"}
    assert d["drawing"] == drawing() and d["source"] == "contribution" and d["format"] == "raw"
    last = client.get("/api/data/cat?page=3").get_json()
    assert [d["key_id"] for d in last["drawings"]] == newest[8:]
    assert client.get("/api/data/cat?page=4").get_json()["drawings"] == []  # past the end: empty

    yes = client.get("/api/data/cat?recognized=yes").get_json()
    assert yes["total"] == 5 and all(d["recognized"] for d in yes["drawings"])
    assert [d["key_id"] for d in yes["drawings"]] == [k for i, k in enumerate(keys) if i % 2 == 0][::-1][:4]
    no = client.get("/api/data/cat?recognized=false&page=2").get_json()
    assert no["total"] == 5 and [d["recognized"] for d in no["drawings"]] == [False]
    assert client.get("/api/data/cat?recognized=all").get_json()["total"] == 10

    page = client.get("/data/cat?page=2&recognized=no")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert tiles(html) == [k for i, k in enumerate(keys) if i % 2][::-1][4:]
    assert "<polyline points=" in html and "<svg viewBox=" in html  # drawn on the server
    assert 'rel="prev" href="/data/cat?recognized=no&amp;page=1"' in html
    assert 'aria-current="page">Not recognized</a>' in html
    # The replay's data: the raw drawing, timing included, for each tile in order.
    replay = json.loads(re.search(r'<script id="replay-data" type="application/json">(.*?)</script>', html).group(1))
    assert [r["key_id"] for r in replay] == tiles(html) and replay[0]["drawing"] == drawing()


def test_rejected_drawings_never_reach_the_browser(app, client):
    store = store_of(app)
    kept, rejected = add(store, "cat"), add(store, "cat")
    store.set_status(rejected, C.REJECTED)
    assert [d["key_id"] for d in client.get("/api/data/cat").get_json()["drawings"]] == [kept]
    assert tiles(client.get("/data/cat").get_data(as_text=True)) == [kept]
    assert client.get("/api/data/cat?recognized=yes").get_json()["total"] == 1
    store.set_status(rejected, C.OK)
    assert client.get("/api/data/cat").get_json()["total"] == 2


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "page=1.5", "page=", "page=99999999",
                                   "page=%EF%BC%91", "recognized=maybe", "recognized=2"])
def test_odd_pages_and_filters_are_refused(client, query):
    answer = client.get(f"/api/data/cat?{query}")
    assert answer.status_code == 400
    assert re.search(r"page must be a whole number|recognized must be", answer.get_json()["error"])
    assert client.get(f"/data/cat?{query}").status_code == 400


def test_unknown_word_is_404_with_a_clear_message(client):
    answer = client.get("/api/data/unicorn")
    assert answer.status_code == 404
    assert answer.get_json() == {"error": "no word 'unicorn' here: /data lists the 345 words"}
    page = client.get("/data/%3Cscript%3Ealert(1)", headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 404 and "<script>alert" not in html and "/data lists the 345 words" in html
    assert client.get("/data/Cat").status_code == 404  # words are exact


def test_a_page_of_10000_drawings_is_fast_and_cut_in_sql(app, client):
    store = store_of(app)
    seed(store, "cat", 10_000)
    with store.engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM contributions WHERE word = 'cat' AND status = 'ok' "
            "ORDER BY id DESC LIMIT 48 OFFSET 9984"))
    assert "ix_contributions_word_status_id" in plan and "TEMP B-TREE" not in plan, plan

    for url in ("/data/cat", "/data/cat?page=209", "/data/cat?page=100&recognized=no"):
        client.get(url)  # warm: templates compiled, connection pooled
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            page = client.get(url)
            best = min(best, time.perf_counter() - t0)
        assert page.status_code == 200 and len(tiles(page.get_data(as_text=True))) in (48, 16)
        print(f"{url}: {best * 1000:.0f} ms")
        assert best <= 0.3, f"{url} took {best * 1000:.0f} ms"


# --- Google's files -------------------------------------------------------------


def google_line(key_id: str, recognized: bool, raw: bool) -> str:
    strokes = [[[0, 40, 80], [0, 30, 0]] + ([[0, 50, 120]] if raw else [])]
    return json.dumps({"word": "cat", "countrycode": "US", "timestamp": "2017-03-01 10:00:00.5 UTC",
                       "recognized": recognized, "key_id": key_id, "drawing": strokes})


@pytest.fixture
def folder(tmp_path):
    """Google's layout: 3 raw cats, 2 simplified (one is a raw one's twin), a damaged dog."""
    (tmp_path / "qd" / "raw").mkdir(parents=True)
    (tmp_path / "qd" / "simplified").mkdir()
    raw = [google_line("101", True, True), google_line("102", False, True), google_line("103", True, True)]
    (tmp_path / "qd" / "raw" / "cat.ndjson").write_text("\n".join(raw) + "\n")
    simplified = [google_line("102", False, False), "", google_line("201", True, False)]
    (tmp_path / "qd" / "simplified" / "cat.ndjson").write_text("\n".join(simplified))  # no final newline
    (tmp_path / "qd" / "raw" / "dog.ndjson").write_text('{"key_id": "1", not json\n' + google_line("301", True, True) + "\n")
    return tmp_path / "qd"


def test_quickdraw_files_are_listed_after_contributions(make_app, folder):
    app = make_app(QUICKDRAW_DATA=str(folder), DATA_PER_PAGE=3)
    client = app.test_client()
    mine = add(store_of(app), "cat")

    counts = {row["word"]: row for row in client.get("/api/data").get_json()["words"]}
    assert counts["cat"] == {"word": "cat", "contributions": 1, "raw": 3, "simplified": 2, "taught": False}
    assert counts["apple"] == {"word": "apple", "contributions": 0, "raw": 0, "simplified": 0, "taught": False}
    assert "Google's Quick, Draw! files" in client.get("/data").get_data(as_text=True)

    first, second = (client.get(f"/api/data/cat?page={p}").get_json() for p in (1, 2))
    assert (first["total"], first["contributions"], first["quickdraw"], first["pages"]) == (5, 1, 4, 2)
    listed = [(d["key_id"], d["source"], d["format"]) for d in first["drawings"] + second["drawings"]]
    # Raw first (they keep their timing); the simplified twin of 102 is not listed again.
    assert listed == [(mine, "contribution", "raw"), ("101", "quickdraw", "raw"), ("102", "quickdraw", "raw"),
                      ("103", "quickdraw", "raw"), ("201", "quickdraw", "simplified")]
    assert second["drawings"][0]["drawing"][0][2] == [0, 50, 120]  # raw: t kept
    assert len(second["drawings"][1]["drawing"][0]) == 2  # simplified: no t

    missed = client.get("/api/data/cat?recognized=no").get_json()
    assert [d["key_id"] for d in missed["drawings"]] == ["102"]
    html = client.get("/data/cat?page=2").get_data(as_text=True)
    assert tiles(html) == ["103", "201"] and "Quick, Draw! simplified" in html

    # A damaged line is left out; the rest of the file still shows.
    dog = client.get("/api/data/dog").get_json()
    assert [d["key_id"] for d in dog["drawings"]] == ["301"]

    # A changed file is read again (the caches key on size and mtime).
    with open(folder / "raw" / "cat.ndjson", "a") as f:
        f.write(google_line("104", True, True) + "\n")
    assert client.get("/api/data/cat").get_json()["quickdraw"] == 5
    assert client.get("/api/data").get_json()["words"][CATEGORIES.index("cat")]["raw"] == 4


def test_quickdraw_data_must_be_a_folder(make_app, tmp_path):
    with pytest.raises(ValueError, match="QUICKDRAW_DATA .* not a folder"):
        make_app(QUICKDRAW_DATA=str(tmp_path / "nowhere"))


def test_the_shared_quickdraw_folder(make_app, quickdraw_dir):
    client = make_app(QUICKDRAW_DATA=str(quickdraw_dir)).test_client()
    raw = [json.loads(line) for line in (quickdraw_dir / "raw" / "cat.ndjson").read_text().splitlines() if line.strip()]
    simplified = [json.loads(line) for line in
                  (quickdraw_dir / "simplified" / "cat.ndjson").read_text().splitlines() if line.strip()]
    twins = {r["key_id"] for r in raw}
    row = client.get("/api/data").get_json()["words"][CATEGORIES.index("cat")]
    assert (row["raw"], row["simplified"]) == (len(raw), len(simplified))
    first = client.get("/api/data/cat").get_json()
    assert first["total"] == len(raw) + sum(r["key_id"] not in twins for r in simplified)
    assert first["drawings"][0]["key_id"] == raw[0]["key_id"] and first["drawings"][0]["drawing"] == raw[0]["drawing"]
    page = client.get("/data/The Eiffel Tower")
    assert page.status_code == 200 and len(tiles(page.get_data(as_text=True))) > 0


# --- moderation -----------------------------------------------------------------


def test_admin_needs_the_password(app, client):
    key = add(store_of(app), "cat")
    page = client.get("/admin")  # the login form
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)
    assert not logged_in(client)
    assert client.get("/admin/drawings?word=cat").status_code == 401
    assert client.get("/admin/export.zip").status_code == 401
    assert client.post("/admin/delete", data={"key_id": key}).status_code == 401
    assert store_of(app).get(key) is not None

    assert login(client, "wrong").status_code == 401
    assert login(client, PASSWORD + " ").status_code == 401
    assert login(client, "").status_code == 401
    assert client.post("/admin/login", data={}).status_code == 400  # no CSRF token: refused first
    assert not logged_in(client)  # still out

    answer = login(client)
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin"
    assert logged_in(client)
    # Changing the password logs everyone out.
    app.config["ADMIN_PASSWORD"] = "a new one"
    assert not logged_in(client)


def test_login_returns_to_the_page_asked_for(client):
    client.get("/admin/drawings?word=cat")
    with client.session_transaction() as s:
        token = s["csrf"]
    answer = client.post("/admin/login", data={"password": PASSWORD, "csrf": token,
                                               "next": "/admin/drawings?word=cat"})
    assert answer.headers["Location"] == "/admin/drawings?word=cat"
    answer = login(client)  # an outside "next" is ignored
    assert answer.headers["Location"] == "/admin"


def test_failed_logins_are_rate_limited_per_address(make_app):
    client = make_app(ADMIN_PASSWORD=PASSWORD, ADMIN_LOGIN_BURST=3).test_client()
    here = {"REMOTE_ADDR": "203.0.113.7"}
    for _ in range(3):
        assert login(client, "guess", **here).status_code == 401
    limited = login(client, PASSWORD, **here)  # even the right password waits
    assert limited.status_code == 429 and "Too many login attempts" in limited.get_data(as_text=True)
    assert login(client, PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 303  # another address


def test_admin_area_is_off_without_a_password(make_app):
    client = make_app(ADMIN_PASSWORD=None).test_client()
    page = client.get("/admin")
    assert page.status_code == 503 and "DOODLE_ADMIN_PASSWORD" in page.get_data(as_text=True)
    assert client.post("/admin/login", data={"password": ""}).status_code == 503


def test_reject_restore_delete_need_the_csrf_token(app, client):
    store = store_of(app)
    key, other = add(store, "cat"), add(store, "cat")
    login(client)
    token = csrf(client)

    assert client.post(f"/admin/drawings/{key}/status", data={"status": "rejected"}).status_code == 400
    assert client.post(f"/admin/drawings/{key}/status",
                       data={"status": "rejected", "csrf": "forged"}).status_code == 400
    assert store.get(key)["status"] == C.OK

    back = "/admin/drawings?word=cat"
    answer = client.post(f"/admin/drawings/{key}/status", data={"status": "rejected", "csrf": token, "next": back})
    assert answer.status_code == 303 and answer.headers["Location"] == back
    assert store.get(key)["status"] == C.REJECTED
    assert [d["key_id"] for d in client.get("/api/data/cat").get_json()["drawings"]] == [other]
    page = client.get(back).get_data(as_text=True)
    assert tiles(page) == [other, key]  # moderation sees every status, newest first
    assert "rejected" in page and ">Restore</button>" in page and f"Drawing {key} rejected." in page

    assert client.post(f"/admin/drawings/{key}/status", data={"status": "ok", "csrf": token}).status_code == 303
    assert store.get(key)["status"] == C.OK
    assert client.post(f"/admin/drawings/{key}/status", data={"status": "gone", "csrf": token}).status_code == 400
    assert client.post("/admin/drawings/42/status", data={"status": "ok", "csrf": token}).status_code == 404

    assert client.post("/admin/delete", data={"key_id": key}).status_code == 400  # no token
    assert client.post("/admin/delete", data={"key_id": "12; drop", "csrf": token}).status_code == 400
    assert client.post("/admin/delete", data={"key_id": "１２", "csrf": token}).status_code == 400
    assert client.post("/admin/delete", data={"key_id": "42", "csrf": token}).status_code == 404
    assert client.post("/admin/delete", data={"key_id": f" {key} ", "csrf": token}).status_code == 303
    assert store.get(key) is None and store.get(other) is not None
    assert client.get("/admin/drawings?word=unicorn").status_code == 404
    assert client.get("/admin/drawings?word=cat&page=0").status_code == 400

    assert client.post("/admin/logout", data={"csrf": token}).status_code == 303
    assert not logged_in(client)


@pytest.mark.parametrize("fmt", C.FORMATS)
def test_the_download_is_the_export_without_rejected(app, client, tmp_path, fmt):
    store = store_of(app)
    keys = [add(store, "cat"), add(store, "cat", recognized=False), add(store, "dog")]
    store.set_status(keys[0], C.REJECTED)
    login(client)
    answer = client.get(f"/admin/export.zip?format={fmt}")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert re.fullmatch(rf'attachment; filename=doodle-lab-{fmt}-\d{{8}}-\d{{6}}\.zip',
                        answer.headers["Content-Disposition"])

    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    assert sorted(archive.namelist()) == [f"{fmt}/cat.ndjson", f"{fmt}/dog.ndjson"]
    C.export(store, tmp_path / "cli", fmt)  # what `python -m game.dataset export` writes
    for word in ("cat", "dog"):
        assert archive.read(f"{fmt}/{word}.ndjson") == (tmp_path / "cli" / f"{word}.ndjson").read_bytes()
    records = [json.loads(line) for line in archive.read(f"{fmt}/cat.ndjson").decode().splitlines()]
    assert [r["key_id"] for r in records] == [keys[1]]  # the rejected one is not there
    assert list(records[0]) == list(C.FIELDS)
    assert len(records[0]["drawing"][0]) == (3 if fmt == "raw" else 2)
    assert client.get("/admin/export.zip?format=png").status_code == 400


def test_production_refuses_to_start_without_a_password(make_app, monkeypatch, db_url):
    config = {"TESTING": True, "CLASSIFIER": FakeClassifier(CATEGORIES, answer=("cat", 0.9)), "DATABASE_URL": db_url}
    monkeypatch.delenv("DOODLE_ADMIN_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="no admin password is set: set DOODLE_ADMIN_PASSWORD"):
        create_app({**config, "DOODLE_ENV": "production"})
    monkeypatch.setenv("DOODLE_ENV", "production")  # the switch docs/serving.md uses
    with pytest.raises(ConfigurationError, match="production"):
        create_app(config)
    with pytest.raises(ConfigurationError, match="production"):
        create_app({**config, "ADMIN_PASSWORD": ""})
    with pytest.raises(ConfigurationError, match="DOODLE_ENV must be one of"):
        create_app({**config, "DOODLE_ENV": "prod"})
    monkeypatch.setenv("DOODLE_ADMIN_PASSWORD", PASSWORD)
    app = make_app()  # production with a password from the environment: it starts
    assert app.config["DOODLE_ENV"] == "production"
    assert login(app.test_client()).status_code == 303
    monkeypatch.delenv("DOODLE_ENV")
    assert make_app(ADMIN_PASSWORD=None).config["DOODLE_ENV"] == "development"  # the default: starts


# --- /data in a real browser, on a phone ----------------------------------------------


@pytest.fixture
def live_data(app):
    """The app (SQLite, the words of DRAWN_EN drawn) served in this process."""
    import threading

    from werkzeug.serving import make_server

    seed_drawn(store_of(app))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_data_index_on_a_phone_in_spanish(live_data, browser):
    """A person on a phone, in Spanish: the drawn words first in Spanish order, the search
    box filters as they type (no accents, no capitals needed) with no request, the filter
    shows the other words, the address keeps the search; without a script the same form
    filters on the server."""
    context, page, problems = phone_page(browser)
    visible = page.locator(".data-counts tbody tr:not([hidden]) th a")
    status = page.locator("#data-shown")
    box = page.get_by_label("Buscar una palabra")
    try:
        page.goto(f"{live_data}/lang/es?next=/data")
        assert visible.all_text_contents() == DRAWN_ES
        expect(status).to_have_text("Mostrando 9 de 345 palabras.")
        assert page.get_by_label("Las palabras con dibujos (9)").is_checked()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
        page.screenshot(path=str(screenshots_dir() / "data-index.phone.es.png"), full_page=False)

        requests = []  # to the data pages or API (the service worker fetches its shell meanwhile)
        page.on("request", lambda r: requests.append(r.url) if "/data" in r.url else None)
        box.tap()
        box.press_sequentially("ARBOL", delay=30)
        expect(status).to_have_text("Mostrando 1 de 345 palabras.")
        assert visible.all_text_contents() == ["árbol"]
        box.fill("")
        box.press_sequentially("ara", delay=30)
        expect(status).to_have_text("Mostrando 2 de 345 palabras.")
        assert visible.all_text_contents() == ["arándano", "araña"]
        box.fill("mochila")
        expect(status).to_contain_text("Ninguna palabra con dibujos coincide con «mochila»")
        assert visible.count() == 0
        page.get_by_label("Las 345 palabras").tap()
        expect(status).to_have_text("Mostrando 1 de 345 palabras.")
        assert visible.all_text_contents() == ["mochila"]
        box.fill("zzz")
        expect(status).to_have_text("Mostrando 0 de 345 palabras. Ninguna palabra coincide con «zzz».")
        box.fill("")
        expect(status).to_have_text("Mostrando 345 de 345 palabras.")
        assert visible.all_text_contents()[:11] == DRAWN_ES + ["abeja", "abrigo"]
        assert requests == []  # all of it in the page
        box.fill("ángel")
        page.screenshot(path=str(screenshots_dir() / "data-index-search.phone.es.png"))
        assert page.url.endswith("/data?q=%C3%A1ngel&show=all")
        page.reload()  # the address keeps the search: the server lists the same
        assert visible.all_text_contents() == ["ángel"] and box.input_value() == "ángel"
        assert problems == []
    finally:
        context.close()

    # No script: the same form asks the server.
    context = browser.new_context(**PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{live_data}/lang/es?next=/data")
        page.get_by_label("Buscar una palabra").fill("Arbol")
        page.get_by_role("button", name="Buscar").tap()
        page.wait_for_url("**/data?q=Arbol&show=drawn")
        assert page.locator(".data-counts tbody tr:not([hidden]) th a").all_text_contents() == ["árbol"]
    finally:
        context.close()


def test_a_word_a_class_taught_on_a_phone_in_spanish(app, browser):
    """A class taught the AI "volcán" and two phones gave their drawings: /data lists it, marked,
    and its page shows them, drawn."""
    import threading

    from werkzeug.serving import make_server

    store = store_of(app)
    for _ in range(2):
        store.add(C.validate({"word": "volcán", "drawing": drawing(), "consent": True}, CATEGORIES, taught=True),
                  recognized=False)
    add(store, "cat")
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    context, page, problems = phone_page(browser)
    try:
        page.goto(f"http://127.0.0.1:{httpd.server_port}/lang/es?next=/data")
        rows = page.locator(".data-counts tbody tr:not([hidden])")
        assert rows.locator("th a").all_text_contents() == ["gato", "volcán"]
        expect(rows.nth(1)).to_contain_text("enseñada a la IA por una clase")
        expect(rows.nth(1).locator("td").first).to_have_text("2")
        page.screenshot(path=str(screenshots_dir() / "data-index-taught.phone.es.png"))
        rows.nth(1).locator("th a").tap()
        page.wait_for_url("**/data/volc%C3%A1n")
        expect(page.locator("h1")).to_contain_text("volcán")
        thumbs = page.locator("li.drawing")
        expect(thumbs).to_have_count(2)
        png = thumbs.first.screenshot()
        page.screenshot(path=str(screenshots_dir() / "data-word-taught.phone.es.png"))
        from PIL import Image
        tile = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
        assert (tile < 128).mean() > 0.005  # ink drawn on the light tile
        assert problems == []
    finally:
        context.close()
        httpd.shutdown()
