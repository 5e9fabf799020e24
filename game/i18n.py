"""Languages: Flask-Babel's catalogues (game/translations/<locale>/LC_MESSAGES/messages.po),
the category names of each language (data/categories_<locale>.txt) and the strings the
pages' scripts need.

Adding a language is two files: its catalogue (`pybabel init -l xx`, see README) and
data/categories_xx.txt; the languages offered are English (the source, the msgids) plus
every folder with a catalogue.

The locale of a request: the language switcher's cookie, else the browser's
Accept-Language, else English. Socket.IO handlers run in a request context made from
their connection's handshake, so a socket's errors come in its page's language too.

Catalogues are compiled (.po -> .mo) by `make install` and again here at app start
whenever a .mo is missing or older than its .po, so `pip install -e .` works as well.

    python -m game.i18n update       # extract the messages (babel.cfg), update every .po
    python -m game.i18n compile      # .po -> .mo (make install runs it)
"""
from __future__ import annotations

import os
import sys
import tempfile
import unicodedata
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po
from flask import Blueprint, Flask, current_app, redirect, request
from flask_babel import Babel, format_decimal, get_locale

from game.routes import load_categories

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DEFAULT = "en"
COOKIE = "lang"
COOKIE_AGE = 365 * 24 * 3600
# data/categories_<locale>.txt: one line per category, in the order of data/categories.txt:
# "name|phrase", the phrase being how a sentence says it ("bicicleta|una bicicleta",
# "hierba|hierba"); a line without "|" is its own phrase.
SEPARATOR = "|"

bp = Blueprint("i18n", __name__)


@lru_cache(maxsize=1)
def languages() -> list[str]:
    """English, then each language with a catalogue, in alphabetical order (read once: a
    new catalogue needs a restart, as its .mo does)."""
    found = sorted(p.parent.parent.name for p in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
    return [DEFAULT] + [code for code in found if code != DEFAULT]


def select_locale() -> str:
    chosen = request.cookies.get(COOKIE)
    offered = languages()
    if chosen in offered:
        return chosen
    # The browser's languages in its order of preference, each by its main tag ("es-MX" is
    # Spanish): the first one offered wins.
    for tag, _quality in request.accept_languages:
        primary = tag.split("-")[0].lower()
        if primary in offered:
            return primary
    return DEFAULT


def locale() -> str:
    """The current request's language code ("en" outside a request)."""
    current = get_locale()
    return str(current) if current else DEFAULT


# --- catalogues -------------------------------------------------------------------


def compile_catalogues(root: Path = TRANSLATIONS) -> list[Path]:
    """Write each .po's .mo where it is missing or older than the .po; the .mo files
    written. Atomic (a temporary file renamed), so workers starting together never read
    half a file."""
    written = []
    for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parent.parent.name)
        fd, tmp = tempfile.mkstemp(dir=po_path.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)  # fuzzy entries left out, as pybabel compile does
            os.replace(tmp, mo_path)
        except BaseException:
            os.unlink(tmp)
            raise
        written.append(mo_path)
    return written


def extract(root: Path = ROOT) -> Catalog:
    """Every message of the pages, the server and the scripts, as babel.cfg finds them
    (gettext's usual keywords: `_`, `gettext`, `ngettext`)."""
    with (root / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project="Doodle Lab", version="", copyright_holder="Doodle Lab contributors", charset="utf-8",
                      creation_date=datetime(2000, 1, 1, tzinfo=timezone.utc))  # a stable header
    for filename, lineno, message, comments, context in extract_from_dir(root, method_map, options_map):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update(root: Path = ROOT) -> None:
    """Write messages.pot and merge it into every language's .po (new messages empty, to
    be translated; gone ones dropped)."""
    template = extract(root)
    with (TRANSLATIONS / "messages.pot").open("wb") as f:
        write_po(f, template, width=100)
    for po_path in sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parent.parent.name)
        catalog.update(template, no_fuzzy_matching=True)
        with po_path.open("wb") as f:
            write_po(f, catalog, width=100, ignore_obsolete=True)
        print(f"{po_path}: {sum(1 for m in catalog if m.id and not m.string)} messages to translate")


@lru_cache(maxsize=16)
def _script_messages(code: str, po_mtime: float) -> tuple[str, dict]:
    """The catalogue's own plural rule (its Plural-Forms header: the forms it holds are
    the ones that rule indexes, whatever Babel's CLDR data says of the language now) and
    the translations of the messages used in static/*.js (their catalogue locations name
    a .js file): {msgid: msgstr} or {msgid: [forms]} for plurals."""
    messages: dict = {}
    path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=code)
    for m in catalog:
        if not m.id or m.fuzzy or not any(file.endswith(".js") for file, _ in m.locations):
            continue
        if m.pluralizable:
            if all(m.string):
                messages[m.id[0]] = list(m.string)
        elif m.string:
            messages[m.id] = m.string
    return catalog.plural_expr, messages


def script_catalogue(code: str) -> dict:
    """What static/i18n.js reads: the locale, its gettext plural rule and messages."""
    path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
    if path.exists():
        plural, messages = _script_messages(code, path.stat().st_mtime)
    else:  # English: the messages are the msgids
        plural, messages = get_plural(code).plural_expr, {}
    return {"locale": code, "plural": plural, "messages": messages}


# --- category names ---------------------------------------------------------------


@lru_cache(maxsize=16)
def category_names(categories_path: str, code: str) -> dict[str, tuple[str, str]]:
    """{category: (name, phrase)} in language `code`; the category itself where the
    language has no list. A list that does not match data/categories.txt line for line
    is an error (tests/test_i18n.py checks the shipped ones)."""
    words = load_categories(categories_path)
    path = Path(categories_path).with_name(f"categories_{code}.txt")
    if not path.exists():
        return {w: (w, w) for w in words}
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(lines) != len(words):
        raise ValueError(f"{path} has {len(lines)} lines; data/categories.txt has {len(words)}")
    names = {}
    for word, line in zip(words, lines):
        name, _, phrase = (part.strip() for part in line.partition(SEPARATOR))
        names[word] = (name, phrase or name)
    return names


def names(code: str | None = None) -> dict[str, tuple[str, str]]:
    return category_names(current_app.config["CATEGORIES_PATH"], code or locale())


def word_name(word: str) -> str:
    """A category's name in the current language (the category itself if unknown)."""
    return names().get(word, (word, word))[0]


# --- the language switcher ---------------------------------------------------------


def fold(text: str) -> str:
    """Text for matching words as people type them: accents and case dropped ("Ángel" ->
    "angel", "coño" -> "cono")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _same_site(target: str | None) -> str:
    """A path on this site to go back to; "/" for anything else (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.get("/lang/<code>")
def choose(code: str):
    """The switcher's links: remember the language in a cookie and go back."""
    response = redirect(_same_site(request.args.get("next")))
    if code in languages():
        response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, samesite="Lax", httponly=True)
    return response


def init_app(app: Flask) -> None:
    compile_catalogues()
    Babel(app, locale_selector=select_locale, default_domain="messages",
          default_translation_directories=str(TRANSLATIONS))
    app.register_blueprint(bp)
    app.jinja_env.filters["number"] = format_decimal
    app.jinja_env.filters["word_name"] = word_name
    languages_named = {code: _own_name(code) for code in languages()}

    @app.context_processor
    def i18n_context():
        return {"locale": locale(), "languages": languages_named, "script_catalogue": script_catalogue,
                "word_names": lambda: {w: list(pair) for w, pair in names().items()}}


def _own_name(code: str) -> str:
    """A language's name in itself, as the switcher shows it: "English", "Español"."""
    name = Locale.parse(code).get_display_name(code) or code
    return name[:1].upper() + name[1:]


def main(argv: list[str]) -> int:
    if argv == ["update"]:
        update()
    elif argv == ["compile"]:
        for path in compile_catalogues():
            print(path)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
