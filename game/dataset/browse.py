"""The data browser, like Quick, Draw!'s data site: `/data` counts drawings per word,
`/data/<word>` shows a page of them as a grid (click one to replay it, static/browse.js),
`/api/data` and `/api/data/<word>` answer the same in JSON.

A word's drawings are its contributions (newest first, rejected ones never), then the
drawings of Google's files when config `QUICKDRAW_DATA` (or $DOODLE_QUICKDRAW_DATA) names
a folder laid out like Google's bucket (`game.dataset.quickdraw_files`). Pages are cut in SQL
(LIMIT/OFFSET on an index) and by byte offsets in the files: no page loads a word's
other drawings.
"""
from __future__ import annotations

import math
import os
import re
import unicodedata
from pathlib import Path

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from game.dataset.contribute import Contributions
from game.dataset.quickdraw_files import QuickDrawFolder
from game.dataset.store import OK
from game.i18n import fold, locale, word_name
from game.words import load_categories

bp = Blueprint("browse", __name__)

MAX_PAGE = 1_000_000  # past any real listing; bounds the OFFSET a client can ask for
_DIGITS = re.compile(r"[0-9]{1,7}")
# The `recognized` query parameter: the grid's filter.
FILTERS = {"": None, "all": None, "yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
# What the JSON API returns of a drawing: Google's fields, then where it comes from.
API_FIELDS = ("key_id", "word", "countrycode", "timestamp", "recognized", "drawing", "source", "format")
# /data's `show` parameter: the words with drawings (the default when any has one) or all.
SHOW = ("drawn", "all")
MAX_QUERY = 64  # characters of the search box kept
# Letters a language sorts on their own, after their base letter (Spanish: n < ñ < o), where
# folding the accents away would sort them with it; the rest of the marks only break ties.
OWN_LETTERS = {"es": {"ñ": "n\U0010ffff"}}


def collation_key(name: str, code: str) -> tuple[str, str, str]:
    """Sort key of a name in language `code`, as a dictionary sorts it: letters first,
    accents and case only to break ties ("ángel" sorts with "a", "ñ" after "n" in Spanish)."""
    own = OWN_LETTERS.get(code, {})
    base = "".join(own.get(c, c) for c in name.casefold())
    return fold(base), unicodedata.normalize("NFKD", name.casefold()), name


class BrowseError(Exception):
    """A request the browser refuses; `status` is the HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Browser:
    """One app's browser: the words, the page size and Google's folder (if any)."""

    def __init__(self, app: Flask, contributions: Contributions):
        cfg = app.config
        self.contributions = contributions
        self.words = load_categories(cfg["CATEGORIES_PATH"])
        self.known = frozenset(self.words)
        self.per_page = int(cfg["DATA_PER_PAGE"])
        self.folder = None
        if cfg["QUICKDRAW_DATA"]:
            root = Path(cfg["QUICKDRAW_DATA"])
            if not root.is_dir():
                raise ValueError(f"QUICKDRAW_DATA is {str(root)!r}, which is not a folder "
                                 "(expected Google's layout: raw/<word>.ndjson, simplified/<word>.ndjson)")
            self.folder = QuickDrawFolder(root)

    @classmethod
    def of(cls, app: Flask) -> "Browser":
        return app.extensions["browse"]

    def counts(self) -> list[dict]:
        """Per word: contributions shown (not rejected), and Google's raw and simplified drawings;
        then the words classes taught the AI that have contributions (`taught`)."""
        contributed = self.contributions.store.counts(status=OK)
        rows = []
        for word in self.words:
            row = {"word": word, "contributions": contributed.get(word, 0), "taught": False}
            if self.folder:
                row.update(raw=self.folder.line_count(word, "raw"),
                           simplified=self.folder.line_count(word, "simplified"))
            rows.append(row)
        rows += [dict({"word": word, "contributions": n, "taught": True}, **({"raw": 0, "simplified": 0} if self.folder else {}))
                 for word, n in contributed.items() if word not in self.known]
        return rows

    def listing(self, word: str, page: int, recognized: bool | None) -> dict:
        """Page `page` (from 1) of the word's drawings: contributions, then Google's."""
        if word not in self.known and not self.contributions.store.count(word):
            raise BrowseError(404, _("no word %(word)r here: /data lists the %(n)s words", word=word[:64], n=len(self.words)))
        store, per_page = self.contributions.store, self.per_page
        contributed = store.count(word, recognized=recognized)
        quickdraw = self.folder.total(word, recognized) if self.folder else 0
        total = contributed + quickdraw
        offset = (page - 1) * per_page
        drawings = []
        if offset < contributed:
            for r in store.newest(word, limit=per_page, offset=offset, recognized=recognized, status=OK):
                drawings.append(dict(r, source="contribution", format="raw", thumbnail=r["simplified"]))
        if self.folder and len(drawings) < per_page:
            for r in self.folder.page(word, max(0, offset - contributed), per_page - len(drawings), recognized):
                drawings.append(dict(r, key_id=str(r.get("key_id", "")), source="quickdraw", thumbnail=r["drawing"]))
        return {"word": word, "page": page, "pages": max(1, math.ceil(total / per_page)), "per_page": per_page,
                "total": total, "contributions": contributed, "quickdraw": quickdraw,
                "recognized": recognized, "drawings": drawings}


def init_app(app: Flask, contributions: Contributions) -> Browser:
    """Set up the data browser on `app`, over Google's files and `contributions`."""
    app.config.setdefault("QUICKDRAW_DATA", os.environ.get("DOODLE_QUICKDRAW_DATA"))  # None: contributions only
    app.config.setdefault("DATA_PER_PAGE", 48)
    browser = app.extensions["browse"] = Browser(app, contributions)
    return browser


def _browser() -> Browser:
    return Browser.of(current_app)


def page_arg() -> int:
    """?page=N, a whole number from 1; anything else is refused, not guessed at."""
    raw = request.args.get("page", "1").strip()
    # ASCII digits only: str.isdigit and int() also take "１" and "²".
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise BrowseError(400, _("page must be a whole number from 1 to %(max)s, got %(got)r", max=f"{MAX_PAGE:,}", got=raw[:20]))
    return int(raw)


def filter_arg() -> bool | None:
    raw = request.args.get("recognized", "").strip().lower()
    if raw not in FILTERS:
        raise BrowseError(400, _("recognized must be yes, no or all"))
    return FILTERS[raw]


def thumbnail(drawing: list) -> dict:
    """A drawing as SVG: a viewBox around its ink and one polyline's points per stroke.
    Numbers only reach the markup, so nothing in a drawing can inject any."""
    xs = [float(x) for s in drawing for x in s[0]]
    ys = [float(y) for s in drawing for y in s[1]]
    if not xs:
        return {"viewbox": "0 0 1 1", "lines": []}
    x0, y0 = min(xs), min(ys)
    side = max(max(xs) - x0, max(ys) - y0, 1.0)
    pad = side * 0.06  # room for the line's width at the edges
    # Centre the ink in a square box, as Google's thumbnails do.
    cx, cy = x0 + (max(xs) - x0) / 2, y0 + (max(ys) - y0) / 2
    half = side / 2 + pad
    lines = [" ".join(f"{float(x):.1f},{float(y):.1f}" for x, y in zip(s[0], s[1])) for s in drawing]
    return {"viewbox": f"{cx - half:.1f} {cy - half:.1f} {2 * half:.1f} {2 * half:.1f}", "lines": lines}


def replay_data(drawings: list[dict]) -> list[dict]:
    """What static/browse.js replays: each drawing's strokes (with t when it has timing)."""
    return [{"key_id": d["key_id"], "drawing": d["drawing"], "format": d["format"]} for d in drawings]


# --- pages --------------------------------------------------------------------


def drawings_of(row: dict) -> int:
    """A row's drawings: its contributions and, with Google's files, their drawings."""
    return row["contributions"] + row.get("raw", 0) + row.get("simplified", 0)


@bp.get("/data")
def index():
    """The words in the page's language: those with drawings first, then the others, each
    group in that language's alphabetical order; `show=drawn` (the default when any word
    has drawings) keeps only the first group, `q` the names holding it (accents and case
    ignored). static/browse.js filters the same rows as the visitor types, without a request."""
    browser, code = _browser(), locale()
    rows = [dict(row, name=word_name(row["word"]), drawings=drawings_of(row)) for row in browser.counts()]
    for row in rows:
        row["search"] = fold(row["name"])
    rows.sort(key=lambda row: (row["drawings"] == 0, collation_key(row["name"], code)))
    drawn = sum(1 for row in rows if row["drawings"])
    show = request.args.get("show", "").strip().lower()
    if show not in SHOW:
        show = "drawn" if drawn else "all"
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    needle = fold(query)
    for row in rows:
        row["shown"] = (show == "all" or row["drawings"] > 0) and needle in row["search"]
    return render_template("browse_index.html", rows=rows, quickdraw=browser.folder is not None,
                           show=show, query=query, drawn=drawn, shown=sum(1 for row in rows if row["shown"]),
                           matching=sum(1 for row in rows if needle in row["search"]))


@bp.get("/data/<word>")
def word_page(word: str):
    listing = _browser().listing(word, page_arg(), filter_arg())
    return render_template("browse_word.html", listing=listing, thumbnail=thumbnail,
                           replay=replay_data(listing["drawings"]))


@bp.get("/api/data")
def api_index():
    browser = _browser()
    return jsonify(words=browser.counts(), quickdraw=browser.folder is not None)


@bp.get("/api/data/<word>")
def api_word(word: str):
    listing = _browser().listing(word, page_arg(), filter_arg())
    listing["drawings"] = [{k: d.get(k) for k in API_FIELDS} for d in listing["drawings"]]
    return jsonify(listing)


@bp.errorhandler(BrowseError)
def browse_error(error: BrowseError):
    if request.path.startswith("/api/"):
        return jsonify(error=error.message), error.status
    return render_template("message.html", title=_("Not found") if error.status == 404 else _("Bad request"),
                           message=error.message, back=("/data", _("All the words"))), error.status
