"""Contributing drawings: the /contribute page and POST /api/contributions, and the
drawings games give with their player's consent.

HTTP handlers are thin: refuse other sites' pages and bodies not sent as JSON
(`game.security.same_origin`), rate-limit the client, parse, validate
(`game.dataset.store.validate`), ask the model whether it recognizes the drawing, store
it. Every refusal is a 4xx with `{"error": message}` and stores nothing; a database that
cannot take it (`StoreUnavailable`: disk full, files unwritable, server down) is a 503
`{"error": message}` and one line in the log, on any page that reads the store.

Games (solo, `game.solo.transport`; classroom, `game.classroom.transport`) take the player's
`contribute: true` with `new_game` or `join` (`game_consent`) and hand each consenting
player's drawing to `GameDrawings.keep` when a round ends; a writer thread stores it, so
a Socket.IO handler never waits for the database and a store failure is only logged.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
import weakref
from typing import NamedTuple, Protocol

import orjson
from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from game.dataset.store import (ContributionError, Store, StoreUnavailable, contributor_id, country_from_headers,
                                default_url, validate)
from game.model.batcher import Batcher
from game.model.service import ModelService
from game.protocol import BAD_PAYLOAD, GameError, is_recognized
from game.ratelimit import KeyedLimiter
from game.security import same_origin
from game.words import load_categories

bp = Blueprint("contribute", __name__)

CONFIG_DEFAULTS = {
    "DATABASE_URL": None,  # None: $DATABASE_URL, else an SQLite file in the instance folder
    "CAMPAIGN_WORDS": None,  # a list of words: only these are prompted and accepted
    "CONTRIBUTION_RATE": 1.0,  # contributions a second from one address...
    "CONTRIBUTION_BURST": 10,  # ...with bursts up to this many
    "CLASSIFY_TIMEOUT": 10.0,  # seconds to wait for the model's verdict
    "GAME_DRAWINGS_QUEUE": 10_000,  # games' drawings waiting for the writer; beyond, dropped (logged)
}
LICENCE = "CC BY 4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"


class Contributions:
    """One app's contribution service: the words, the rate limit and the store. The store
    opens (and migrates) on first use, so apps that never take a contribution touch no database."""

    def __init__(self, app: Flask, model: ModelService):
        cfg = app.config
        categories = load_categories(cfg["CATEGORIES_PATH"])
        campaign = cfg["CAMPAIGN_WORDS"]
        if campaign is not None:
            unknown = sorted(set(campaign) - set(categories))
            if not campaign or unknown:
                raise ValueError(f"CAMPAIGN_WORDS must be a non-empty list of the categories; unknown: {unknown[:5]}")
        self.words = list(dict.fromkeys(campaign)) if campaign is not None else list(categories)
        self.accepted = frozenset(self.words)
        self.categories = frozenset(categories)  # games' words: any category, campaign or not
        self.url = cfg["DATABASE_URL"] or default_url(app.instance_path)
        self.limiter = KeyedLimiter(float(cfg["CONTRIBUTION_RATE"]), float(cfg["CONTRIBUTION_BURST"]))
        self.classify_timeout = float(cfg["CLASSIFY_TIMEOUT"])
        self.model = model
        self._reader: Batcher | None = None
        self._store: Store | None = None
        self._lock = threading.Lock()
        self.games = GameDrawings(self, app.logger, int(cfg["GAME_DRAWINGS_QUEUE"]))

    @classmethod
    def of(cls, app: Flask) -> "Contributions":
        return app.extensions["contributions"]

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                self._store = Store(self.url)
            return self._store

    @property
    def reader(self) -> Batcher:
        """The micro-batcher that simplifies and classifies contributions: one pass of the
        ink pipeline in the classifier's process gives the model's verdict and the stored
        simplification (made in the server's process, it halved the contributions a second)."""
        with self._lock:
            if self._reader is None:
                classifier = self.model.classifier
                # No wait for more drawings: under load they pile up while the model works on
                # the last batch anyway, and a client waits for its answer (waiting 5 ms as the
                # game does cost 10 % of contributions a second).
                self._reader = Batcher(lambda drawings: classifier.simplify_and_classify(list(drawings), 1),
                                       max_batch=self.model.batch_max, max_wait=0.0)
            return self._reader

    def close(self) -> None:
        """Store the games' drawings still queued, then close the database."""
        self.games.close()
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._store is not None:
                self._store.close()
                self._store = None


class Consent(NamedTuple):
    """A player's yes to the open dataset (new_game's or join's `contribute: true`): their
    anonymous contributor id and the country of the connection's opening request."""

    contributor: str
    countrycode: str


def game_consent(data: dict, headers) -> Consent | None:
    """`contribute` (true, false, or absent or null: false) and `contributor` (optional, as
    the /contribute page's) of a new_game or join payload: a Consent when the player said
    yes, else None. A mistyped field raises bad_payload. `headers`: the connection's
    opening request's, which Flask-SocketIO keeps for every event of the connection."""
    contribute = data.get("contribute")
    if contribute is not None and type(contribute) is not bool:
        raise GameError(BAD_PAYLOAD, _("contribute must be true or false"))
    try:
        contributor = contributor_id(data.get("contributor"))
    except ContributionError as e:
        raise GameError(BAD_PAYLOAD, e.message) from None
    return Consent(contributor, country_from_headers(headers)) if contribute else None


class Keep(Protocol):
    """Where a game hands a consenting player's finished drawing; `taught`: its word is one a
    class taught the AI, not one of the model's."""

    def __call__(self, consent: Consent, word: str, drawing: list, recognized: bool, taught: bool = False) -> bool:
        ...


class GameDrawings:
    """Drawings from games on their way to the store. `keep()` queues one and returns at
    once; a writer thread (started on first use, flushed by `close()` and at exit) stores
    them in order through `validate` and `Store.add`. A drawing without ink is not kept.
    A failure (a refused drawing, a database down) is logged and that drawing dropped: the
    game never waits for the store, nor hears of it."""

    def __init__(self, service: Contributions, logger: logging.Logger, maxsize: int):
        self._service, self._logger = service, logger
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def keep(self, consent: Consent, word: str, drawing: list, recognized: bool, taught: bool = False) -> bool:
        """Queue a round's drawing (Google's raw format); whether it was queued. Never raises."""
        try:
            if not any(stroke[0] for stroke in drawing):
                return False  # no ink: nothing to learn from
            with self._lock:
                if self._closed:
                    self._logger.warning("a %r drawing from a game came after shutdown; not stored", word)
                    return False
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="game-drawings", daemon=True)
                    self._thread.start()
                    atexit.register(_close_at_exit, weakref.ref(self))
            self._queue.put_nowait((consent, word, drawing, bool(recognized), bool(taught)))
            return True
        except queue.Full:
            self._logger.warning("%d games' drawings wait for the store; a %r drawing is dropped",
                                 self._queue.maxsize, word)
        except Exception:
            self._logger.exception("could not queue a %r drawing from a game", word)
        return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                consent, word, drawing, recognized, taught = item
                record = validate({"word": word, "drawing": drawing, "consent": True,
                                   "contributor": consent.contributor}, self._service.categories, taught)
                self._service.store.add(record, recognized=recognized, countrycode=consent.countrycode)
            except StoreUnavailable as e:  # the database's fault, not ours: no traceback
                self._logger.error("could not store a %r drawing from a game: %s", item[1], e)
            except Exception:
                self._logger.exception("could not store a %r drawing from a game", item[1])
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued drawing is stored (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Store what is queued and stop the writer; later drawings are refused (logged)."""
        with self._lock:
            self._closed, thread = True, self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                self._logger.error("the games' drawings writer is stuck; %d drawings are lost",
                                   self._queue.qsize())
                return
            thread.join(timeout)


def _close_at_exit(ref: weakref.ref) -> None:
    drawings = ref()
    if drawings is not None:
        drawings.close()


def init_app(app: Flask, model: ModelService) -> Contributions:
    """Set up contributions on `app`, their verdicts by `model`.
    The licence is a template global: the dataset partials show it on every page."""
    # $DOODLE_CONTRIBUTION_RATE / $DOODLE_CONTRIBUTION_BURST set the per-address rate limit
    # where the app's config does not (a load test; many clients behind one proxy address).
    for key in ("CONTRIBUTION_RATE", "CONTRIBUTION_BURST"):
        if os.environ.get(f"DOODLE_{key}"):
            app.config.setdefault(key, float(os.environ[f"DOODLE_{key}"]))
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    contributions = app.extensions["contributions"] = Contributions(app, model)
    app.jinja_env.globals.update(licence=LICENCE, licence_url=LICENCE_URL)
    return contributions


def _service() -> Contributions:
    return Contributions.of(current_app)


@bp.get("/contribute")
def contribute_page():
    return render_template("contribute.html", words=_service().words)


@bp.post("/api/contributions")
def add_contribution():
    service = _service()
    # Another site's page could make its visitors contribute, each from their own address
    # past the rate limit. Its cross-site POST says where it comes from (Origin), and only a
    # "simple" one (text/plain, a form) gets sent without the server's leave: JSON needs a
    # preflight, which this server never grants.
    if not same_origin(request.headers.get("Origin"), request.environ):
        raise ContributionError(403, _("contributions come from this site's own pages, not another site's"))
    if not request.is_json:
        raise ContributionError(415, _("send the contribution as JSON, with Content-Type: application/json"))
    if not service.limiter.take(request.remote_addr):
        raise ContributionError(429, _("more than %(rate)s contributions a second; slow down", rate=f"{service.limiter.rate:g}"))
    body = request.get_data(cache=False)
    # Parsed here, not by get_json: every failure is ours to word. orjson parses in a quarter
    # of the time; what it refuses, the json module tries too, so that a NaN or Infinity
    # literal gets validate's precise message, not this one.
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            raise ContributionError(400, _("the body must be JSON")) from None
    record = validate(payload, service.accepted)
    recognized, simplified = _read(service, record["word"], record["drawing"])
    key_id = service.store.add(record, recognized=recognized, countrycode=country_from_headers(request.headers),
                               simplified=simplified)
    return jsonify(key_id=key_id, word=record["word"], recognized=recognized), 201


def _read(service: Contributions, word: str, drawing: list) -> tuple[bool, list | None]:
    """The model's verdict by the game's rule (game.protocol: the word is the top guess with
    p >= the threshold), and the simplified drawing it was made from (None if no answer)."""
    done, answer = threading.Event(), []

    def on_answer(simplified_and_guesses):
        answer.append(simplified_and_guesses)
        done.set()

    service.reader.submit(object(), drawing, on_answer)  # a key of its own: never replaced
    if not done.wait(service.classify_timeout):
        # The drawing is still worth keeping; the verdict is the one thing lost.
        current_app.logger.warning("no classification for a %r contribution; stored as not recognized", word)
        return False, None
    simplified, guesses = answer[0]
    return is_recognized(guesses, word, service.model.threshold), simplified


@bp.errorhandler(ContributionError)
def contribution_error(error: ContributionError):
    return jsonify(error=error.message), error.status


@bp.app_errorhandler(StoreUnavailable)
def store_unavailable(error: StoreUnavailable):
    """The database cannot serve (disk full, files unwritable, server down): a 503 the client
    may retry, and one line in the log rather than Flask's 500 and its traceback."""
    current_app.logger.error("%s %s: the contributions' database is unavailable: %s",
                             request.method, request.path, error)
    return jsonify(error=_("the database is unavailable and nothing was saved: try again in a moment")), 503


@bp.app_errorhandler(413)
def too_large(error):
    """Werkzeug refuses a body over MAX_CONTENT_LENGTH; say so in JSON, not an HTML page."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        return jsonify(error=_("the request body is too large")), 413
    return jsonify(error=_("the request body is larger than %(size)s MB", size=f"{limit / 2**20:g}")), 413
