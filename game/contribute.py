"""Contributing drawings over HTTP: the /contribute page and POST /api/contributions.

Handlers are thin: rate-limit the client, parse, validate (`game.contributions.validate`),
ask the model whether it recognises the drawing, store it. Every refusal is a 4xx with
`{"error": message}` and stores nothing.
"""
from __future__ import annotations

import json
import threading

from flask import Blueprint, Flask, current_app, jsonify, render_template, request

from game.contributions import ContributionError, Store, country_from_headers, default_url, validate
from game.ratelimit import KeyedLimiter
from game.routes import load_categories

bp = Blueprint("contribute", __name__)

CONFIG_DEFAULTS = {
    "DATABASE_URL": None,  # None: $DATABASE_URL, else an SQLite file in the instance folder
    "CAMPAIGN_WORDS": None,  # a list of words: only these are prompted and accepted
    "CONTRIBUTION_RATE": 1.0,  # contributions a second from one address...
    "CONTRIBUTION_BURST": 10,  # ...with bursts up to this many
    "CLASSIFY_TIMEOUT": 10.0,  # seconds to wait for the model's verdict
}
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


class Contributions:
    """One app's contribution service: the words, the rate limit and the store. The store
    opens (and migrates) on first use, so apps that never take a contribution touch no database."""

    def __init__(self, app: Flask):
        cfg = app.config
        categories = load_categories(cfg["CATEGORIES_PATH"])
        campaign = cfg["CAMPAIGN_WORDS"]
        if campaign is not None:
            unknown = sorted(set(campaign) - set(categories))
            if not campaign or unknown:
                raise ValueError(f"CAMPAIGN_WORDS must be a non-empty list of the categories; unknown: {unknown[:5]}")
        self.words = list(dict.fromkeys(campaign)) if campaign is not None else list(categories)
        self.accepted = frozenset(self.words)
        self.url = cfg["DATABASE_URL"] or default_url(app.instance_path)
        self.limiter = KeyedLimiter(float(cfg["CONTRIBUTION_RATE"]), float(cfg["CONTRIBUTION_BURST"]))
        self.classify_timeout = float(cfg["CLASSIFY_TIMEOUT"])
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.url)
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def init_app(app: Flask) -> None:
    """Set up contributions on `app` (`app.extensions["contributions"]`); after events.init_app."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    app.extensions["contributions"] = Contributions(app)


def _service() -> Contributions:
    return current_app.extensions["contributions"]


@bp.get("/contribute")
def contribute_page():
    return render_template("contribute.html", words=_service().words, licence=LICENCE,
                           licence_url=LICENCE_URL)


@bp.post("/api/contributions")
def add_contribution():
    service = _service()
    if not service.limiter.take(request.remote_addr):
        raise ContributionError(429, f"more than {service.limiter.rate:g} contributions a second; slow down")
    try:
        # Parsed here, not by get_json: any content type is JSON to us, and every failure is ours to word.
        payload = json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise ContributionError(400, "the body must be JSON") from None
    record = validate(payload, service.accepted)
    recognized = _recognized(record["word"], record["drawing"], service.classify_timeout)
    key_id = service.store.add(record, recognized=recognized, countrycode=country_from_headers(request.headers))
    return jsonify(key_id=key_id, word=record["word"], recognized=recognized), 201


def _recognized(word: str, drawing: list, timeout: float) -> bool:
    """The game's rule (game.engine): the word is the model's top guess with p >= the threshold.
    Through the game's batcher, so contributions share model calls with the players'."""
    doodle = current_app.extensions["doodle"]
    done, answer = threading.Event(), []

    def on_guesses(guesses):
        answer.append(guesses)
        done.set()

    doodle.batcher.submit(object(), drawing, on_guesses)  # a key of its own: never replaced
    if not done.wait(timeout) or not answer[0]:
        # The drawing is still worth keeping; the verdict is the one thing lost.
        current_app.logger.warning("no classification for a %r contribution; stored as not recognized", word)
        return False
    top_word, p = answer[0][0]
    return top_word == word and p >= doodle.threshold


@bp.errorhandler(ContributionError)
def contribution_error(error: ContributionError):
    return jsonify(error=error.message), error.status


@bp.app_errorhandler(413)
def too_large(error):
    """Werkzeug refuses a body over MAX_CONTENT_LENGTH; say so in JSON, not an HTML page."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    size = f"{limit / 2**20:g} MB" if limit else "the limit"
    return jsonify(error=f"the request body is larger than {size}"), 413
