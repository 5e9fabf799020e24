"""HTTP routes: the home page, the play page, a health check, the word list and the deck."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from game.model.service import ModelService
from game.words import load_categories

bp = Blueprint("main", __name__)


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
    """The words the server deals when a game names none (the model recognizes them well)."""
    return jsonify(ModelService.of(current_app).deck)


@bp.app_errorhandler(404)
def not_found(error):
    """JSON for API clients, a small page for browsers."""
    wants_html = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    if request.path.startswith("/api/") or not wants_html:
        return jsonify(error="not found", path=request.path), 404
    return render_template("message.html", title=_("Not found"), message=_("There is no page at this address."),
                           back=("/", _("Back to Doodle Lab"))), 404
