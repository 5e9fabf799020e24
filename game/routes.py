"""HTTP routes: the home page, the play page, a health check, the word list and the deck."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _

bp = Blueprint("main", __name__)


@lru_cache(maxsize=4)
def load_categories(path: str) -> tuple[str, ...]:
    """The words of data/categories.txt, one a line, in file order."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return tuple(word for line in lines if (word := line.strip()))


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/play")
def play():
    """The solo game; the page speaks docs/protocol.md over Socket.IO (static/play.js)."""
    return render_template("play.html")


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/api/categories")
def categories():
    return jsonify(list(load_categories(current_app.config["CATEGORIES_PATH"])))


@bp.get("/api/deck")
def deck():
    """The words the server deals when a game names none (the model recognises them well)."""
    return jsonify(current_app.extensions["doodle"].deck)


@bp.app_errorhandler(404)
def not_found(error):
    """JSON for API clients, a small page for browsers."""
    wants_html = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    if request.path.startswith("/api/") or not wants_html:
        return jsonify(error="not found", path=request.path), 404
    return render_template("message.html", title=_("Not found"), message=_("There is no page at this address."),
                           back=("/", _("Back to Doodle Lab"))), 404
