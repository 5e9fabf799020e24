"""Languages (game/i18n.py): the catalogues cover every message of every page, script and
server refusal; the category lists cover the 345 words; pages, socket errors and the
classroom's typed guesses work in Spanish; the language is chosen and remembered.

Pages, templates and scripts are found, not listed: a new one with an untranslated
string fails here."""
from __future__ import annotations

import html.parser
import os
import random
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from classroom_e2e_server import WORDS, StrokeCounter
from game import i18n
from game.app import create_app
from game.classroom.modes import PICTIONARY
from game.classroom.rules import RoomConfig, RoomRegistry, UnknownWords
from game.classroom.text import articles_of, match_guess
from game.extensions import socketio
from game.words import CATEGORIES, load_categories
from fakes import Clock
from browser import page_paths

ROOT = Path(__file__).resolve().parent.parent
LISTS = sorted((ROOT / "data").glob("categories_*.txt"))
CATALOGUES = sorted(i18n.TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("i18n") / "contributions.sqlite3"
    return create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": StrokeCounter(), "DECK": WORDS,
                       "DATABASE_URL": f"sqlite:///{db}", "ADMIN_PASSWORD": "secret"})


@pytest.fixture
def client(app):
    return app.test_client()


# --- the category lists ------------------------------------------------------------


def test_there_is_a_list_for_every_language_but_the_source():
    assert {p.stem.removeprefix("categories_") for p in LISTS} >= set(i18n.languages())


@pytest.mark.parametrize("path", LISTS, ids=lambda p: p.name)
def test_category_lists_cover_the_345_words_line_for_line(path):
    words = load_categories(str(CATEGORIES))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(words) == 345 and len(lines) == 345, f"{path.name}: {len(lines)} lines"
    names = []
    for number, line in enumerate(lines, 1):
        name, _, phrase = (part.strip() for part in line.partition(i18n.SEPARATOR))
        assert name and line == line.strip() and "  " not in line, f"{path.name}:{number}: {line!r}"
        assert not phrase or phrase.endswith(name), f"{path.name}:{number}: the phrase must end with the name"
        names.append(name.casefold())
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"{path.name}: the same name for two words: {duplicates}"


def test_spanish_names_and_phrases():
    es = i18n.category_names(str(CATEGORIES), "es")
    assert es["bicycle"] == ("bicicleta", "una bicicleta")
    assert es["The Eiffel Tower"] == ("la torre Eiffel", "la torre Eiffel")
    assert es["hockey puck"][0] == "disco de hockey" and es["see saw"][0] == "subibaja"
    assert es["flip flops"] == ("chanclas", "unas chanclas") and es["axe"] == ("hacha", "un hacha")
    en = i18n.category_names(str(CATEGORIES), "en")
    assert en["bicycle"] == ("bicycle", "a bicycle") and en["apple"][1] == "an apple" and en["rain"][1] == "rain"


def test_a_language_without_a_list_names_the_words_in_english(tmp_path):
    words = tmp_path / "categories.txt"
    words.write_text("cat\ndog\n")
    assert i18n.category_names(str(words), "fr") == {"cat": ("cat", "cat"), "dog": ("dog", "dog")}
    (tmp_path / "categories_de.txt").write_text("Katze|eine Katze\n")  # a line short
    with pytest.raises(ValueError, match="1 lines"):
        i18n.category_names(str(words), "de")


# --- the catalogues ----------------------------------------------------------------


def test_every_message_is_extracted_into_the_template_and_translated():
    """babel.cfg's extraction now (templates, game/, static/ scripts) against the committed
    catalogues: `python -m game.i18n update` and a translator have seen every message."""
    extracted = {m.id for m in i18n.extract() if m.id}
    with (i18n.TRANSLATIONS / "messages.pot").open("rb") as f:
        template = {m.id for m in read_po(f) if m.id}
    assert extracted == template, ("messages.pot is out of date (python -m game.i18n update): "
                                   f"new {sorted(map(str, extracted - template))[:10]}, "
                                   f"gone {sorted(map(str, template - extracted))[:10]}")
    assert CATALOGUES, "no catalogue"
    for path in CATALOGUES:
        with path.open("rb") as f:
            catalog = read_po(f, locale=path.parent.parent.name)
        problems = []
        for m in catalog:
            if not m.id:
                continue
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            if not all(strings):
                problems.append(f"untranslated: {m.id!r}")
            if m.fuzzy:
                problems.append(f"fuzzy: {m.id!r}")
        problems += [f"{m.id!r}: {errors}" for m, errors in catalog.check()]  # placeholders kept
        missing = extracted - {m.id for m in catalog if m.id}
        problems += [f"missing: {mid!r}" for mid in sorted(map(str, missing))]
        assert not problems, f"{path}:\n" + "\n".join(problems[:30])


def test_the_scripts_get_their_translations_and_plural_rule():
    es = i18n.script_catalogue("es")
    assert es["locale"] == "es" and es["plural"] == "(n != 1)"
    assert es["messages"]["I see %(thing)s…"] == "Veo %(thing)s…"
    assert es["messages"]["Oh, I know, it's %(thing)s!"] == "¡Ya sé, es %(thing)s!"
    assert es["messages"]["%(got)s of %(n)s drawing recognized."] == [
        "%(got)s de %(n)s dibujo reconocido.", "%(got)s de %(n)s dibujos reconocidos."]
    assert "Log out" not in es["messages"]  # a template's message: the scripts don't need it
    assert i18n.script_catalogue("en")["messages"] == {}  # English is the source


def test_catalogues_compile_when_missing_or_older_than_their_po(tmp_path):
    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_bytes(CATALOGUES[0].read_bytes())
    assert i18n.compile_catalogues(tmp_path) == [po.with_suffix(".mo")]
    assert i18n.compile_catalogues(tmp_path) == []  # up to date
    mo = po.with_suffix(".mo")
    os.utime(po, (mo.stat().st_mtime + 10, mo.stat().st_mtime + 10))
    assert i18n.compile_catalogues(tmp_path) == [mo]
    assert not list(tmp_path.rglob("*.tmp"))


# --- no text outside the catalogues -----------------------------------------------

# Text a page may show as it is in every language.
UNTRANSLATED_OK = re.compile(r"Doodle Lab|Quick, Draw!|key_id|CC BY 4\.0")
SHOWN_ATTRIBUTES = {"aria-label", "title", "placeholder", "alt", "data-confirm", "label"}


class _Visible(html.parser.HTMLParser):
    """Visible text and shown attribute values of an HTML page (scripts skipped)."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")
        self.texts += [value for name, value in attrs if value and (
            name in SHOWN_ATTRIBUTES or (tag == "meta" and name == "content" and "description" in dict(attrs).values()))]

    def handle_endtag(self, tag):
        self._skip -= self._skip > 0 and tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip:
            self.texts.append(data)


@pytest.mark.parametrize("template", sorted(p.name for p in (ROOT / "templates").glob("*.html")))
def test_templates_have_no_text_outside_gettext(template):
    """Literal text in a template, outside {{ _() }} and {% trans %}, is untranslated: the
    template's markup with every Jinja expression blanked must show no words."""
    source = (ROOT / "templates" / template).read_text(encoding="utf-8")
    source = re.sub(r"\{#.*?#\}|\{%-?\s*trans\b.*?endtrans\s*-?%\}", "", source, flags=re.S)
    source = re.sub(r"\{%-?\s*block body_class\b.*?endblock\s*-?%\}", "", source, flags=re.S)
    parser = _Visible()
    parser.feed(re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "\x00", source, flags=re.S))
    leftovers = [t.strip() for t in parser.texts if re.search(r"[^\W\d_]", UNTRANSLATED_OK.sub("", t))]
    assert not leftovers, f"{template}: text not in the catalogue: {leftovers}"


SCRIPTS = sorted(p for p in (ROOT / "static").rglob("*.js") if "vendor" not in p.parts and p.name != "sw.js")
STRING = re.compile(r"""(?P<call>\b(?:_|ngettext)\(\s*)?(?P<q>["'`])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)""")
# A string a person reads: two words or more, a capital or a sentence's end; code strings
# (selectors, event names, MIME types, CSS) are none of these.
PLURALS = {m.id[1] for m in i18n.extract() if isinstance(m.id, tuple)}  # ngettext's second argument
SENTENCE = re.compile(r"^[A-Z✓✗▶🎉🤖][a-z'’]*\s+\S|[a-z]\s+[a-z]+.*[.!?…]$")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_have_no_english_outside_gettext(script):
    # Comments out (a "//" after a space or at a line's start: not the one in "https://").
    code = re.sub(r"(?:^|\s)//[^\n]*|/\*.*?\*/", "", script.read_text(encoding="utf-8"), flags=re.M | re.S)
    leftovers = []
    for m in STRING.finditer(code):
        text = re.sub(r"\$\{[^}]*\}", "", m["s"])
        if not m["call"] and m["s"] not in PLURALS and SENTENCE.search(text):
            leftovers.append(m["s"])
    assert not leftovers, f"{script.name}: user-facing text not wrapped in _(): {leftovers}"


# --- pages in both languages -------------------------------------------------------


def test_the_pages_found_include_the_known_ones(app):
    assert {"/", "/play", "/classroom", "/join", "/contribute", "/data", "/data/cat", "/admin",
            "/offline", "/vision", "/vision/classification", "/vision/doodle"} <= set(page_paths(app))


def test_every_page_is_in_spanish_when_the_browser_asks_for_it(app, client):
    english = {m.id for m in i18n.extract() if isinstance(m.id, str) and len(m.id.split()) >= 3}
    for path in page_paths(app):
        es = client.get(path, headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})
        en = client.get(path, headers={"Accept-Language": "en-US"})
        assert es.status_code == en.status_code and es.status_code in (200, 401, 404), path
        body, english_body = es.get_data(as_text=True), en.get_data(as_text=True)
        assert '<html lang="es">' in body and '<html lang="en">' in english_body, path
        visible = re.sub(r"<script.*?</script>", "", body, flags=re.S)
        left = [m for m in english if m in visible]
        assert not left, f"{path}: English left in the Spanish page: {left}"


@pytest.mark.parametrize("path, spanish", [
    ("/", "¡A dibujar!"), ("/play", "Preparando la IA…"), ("/classroom", "Crear una sala"),
    ("/join/ABCDE", "Únete a la clase"), ("/contribute", "Antes de dibujar"), ("/data", "Los datos"),
    ("/data/bicycle", "<h1>bicicleta</h1>"), ("/admin", "Contraseña de administración"),
    ("/offline", "No tienes conexión"), ("/no-such-page", "No encontrado"),
    ("/vision", "Laboratorio de visión"), ("/vision/classification", "Clasificación de imágenes"),
    ("/", "laboratorio de visión</a>"),
])
def test_known_spanish_strings(client, path, spanish):
    page = client.get(path, headers={"Accept-Language": "es", "Accept": "text/html"}).get_data(as_text=True)
    assert spanish in page


def test_english_is_the_default_and_the_best_match_wins(client):
    def lang(**headers):
        return re.search(r'<html lang="(\w+)">', client.get("/", headers=headers).get_data(as_text=True))[1]

    assert lang() == "en" and lang(**{"Accept-Language": "de-DE,fr;q=0.8"}) == "en"
    assert lang(**{"Accept-Language": "fr-FR,es;q=0.8,en;q=0.5"}) == "es"
    assert lang(**{"Accept-Language": "en-GB,es;q=0.9"}) == "en"


def test_the_switcher_remembers_the_choice_over_the_browser(client):
    page = client.get("/data", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'href="/lang/es?next=/data"' in page and 'lang="es" hreflang="es">Español</a>' in page
    r = client.get("/lang/es?next=/data")
    assert r.status_code == 302 and r.headers["Location"] == "/data"
    assert "lang=es" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert '<html lang="es">' in client.get("/data", headers={"Accept-Language": "en"}).get_data(as_text=True)
    client.get("/lang/en")
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
def test_the_switcher_never_sends_elsewhere(client, target):
    assert client.get("/lang/es", query_string={"next": target}).headers["Location"] == "/"


def test_an_unknown_language_is_not_remembered(client):
    r = client.get("/lang/xx?next=/")
    assert r.status_code == 302 and "Set-Cookie" not in r.headers
    client.set_cookie("lang", "xx")  # a stale or forged cookie: the browser's language wins
    assert '<html lang="es">' in client.get("/", headers={"Accept-Language": "es"}).get_data(as_text=True)


def test_api_errors_follow_the_language(client):
    r = client.post("/api/contributions", data="nope", content_type="application/json", headers={"Accept-Language": "es"})
    assert r.status_code == 400 and r.get_json()["error"] == "el cuerpo debe ser JSON"
    r = client.post("/api/contributions", data="nope", headers={"Accept-Language": "es"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.get_json()["error"]
    assert "como JSON" in r.get_json()["error"]
    assert client.get("/api/nope").get_json()["error"] == "not found"  # a code, not a sentence


# --- socket refusals in the connection's language -----------------------------------


def test_socket_refusals_come_in_the_pages_language(app):
    es = socketio.test_client(app, headers={"Accept-Language": "es"})
    assert es.emit("new_game", {"rounds": 99}, callback=True)["error"].startswith("rounds debe ser un número entero")
    assert es.emit("resume", {"game_id": "x", "token": "y"}, callback=True)["error"] == \
        "esa partida no existe (terminó o caducó)"
    en = socketio.test_client(app, headers={"Accept-Language": "en"})
    assert en.emit("resume", {"game_id": "x", "token": "y"}, callback=True)["error"] == "no such game (it ended or expired)"
    phone = socketio.test_client(app, namespace="/classroom", headers={"Cookie": "lang=es"})
    ack = phone.emit("join", {"code": "ZZZZZ", "nickname": "Ana"}, namespace="/classroom", callback=True)
    assert ack["code"] == "no_room" and ack["message"] == "no hay ninguna sala con ese código: revísalo en el proyector"
    for c in (es, en, phone):
        c.disconnect(namespace="/classroom" if c is phone else "/")


# --- the classroom: Spanish guesses ------------------------------------------------


NAMES = {code: i18n.category_names(str(CATEGORIES), code) for code in ("en", "es")}


def spanish_pictionary(word: str):
    clock = Clock()
    rooms = RoomRegistry(clock, random.Random(0), deck=[word, "cat"], categories=load_categories(str(CATEGORIES)),
                         config=RoomConfig(starts_in=1.0, guess_limit=100), names=NAMES)
    room = rooms.create(PICTIONARY)
    room.host_connected(True)
    players = [room.join(n) for n in ("Ana", "Ben")]
    room.configure(room.host_token, rounds=1, seconds=60, words=[word])
    room.start(room.host_token)
    clock.advance(1.0)
    room.tick()
    return room, players


@pytest.mark.parametrize("text, verdict", [
    ("árbol", "correct"), ("arbol", "correct"), ("ÁRBOL", "correct"), (" un  árbol ", "correct"),
    ("tree", "correct"), ("the tree", "correct"), ("árboles", "almost"), ("arbl", "almost"), ("arbo", "almost"),
    ("abeto", "wrong"), ("un", "wrong"), ("", "wrong"),
])
def test_spanish_guesses_with_and_without_accents(text, verdict):
    assert match_guess(text, "tree", ["árbol"], articles_of(NAMES)) == verdict


def test_spanish_names_with_articles_and_several_words():
    articles = articles_of(NAMES)
    assert {"un", "una", "unos", "unas", "el", "la", "a", "an", "the"} <= articles
    assert match_guess("torre eiffel", "The Eiffel Tower", ["la torre Eiffel"], articles) == "correct"
    assert match_guess("La Torre Eiffel!", "The Eiffel Tower", ["la torre Eiffel"], articles) == "correct"
    assert match_guess("pinguino", "penguin", ["pingüino"], articles) == "correct"
    assert match_guess("muneco de nieve", "snowman", ["muñeco de nieve"], articles) == "correct"
    assert match_guess("muñecos de nieve", "snowman", ["muñeco de nieve"], articles) == "almost"
    assert match_guess("chancla", "flip flops", ["chanclas"], articles) == "almost"  # plural either way
    assert match_guess("gato", "bicycle", ["bicicleta"], articles) == "wrong"


def test_a_pictionary_room_takes_spanish_guesses_and_hints_each_language():
    room, (ana, ben) = spanish_pictionary("bicycle")
    rnd = room.snapshot(ben.id)["round"]
    assert rnd["word"] is None and rnd["hint"] == "_______"
    assert rnd["hints"] == {"en": "_______", "es": "_________"}
    assert room.submit_guess(ben.id, "bicicletas") == "almost"
    assert room.submit_guess(ben.id, "Bicicleta") == "correct"
    over = [e for e in room.drain() if e.name == "round_over"][0].payload
    assert over["word"] == "bicycle" and over["guessed_by"] == ben.id  # the wire keeps the English id


def test_the_teacher_may_type_the_words_in_spanish():
    room, _ = spanish_pictionary("cat")
    room.end(room.host_token)
    settings = room.configure(room.host_token, rounds=3, words=["Gato", "la torre eiffel", "PINGÜINO", "bicycle"])
    assert settings["words"] == ["cat", "The Eiffel Tower", "penguin", "bicycle"]
    with pytest.raises(UnknownWords) as e:
        room.configure(room.host_token, words=["gato", "unicornio"])
    assert e.value.words == ["unicornio"]
