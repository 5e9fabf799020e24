"""The application factory: ``create_app()`` builds a configured Flask app."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import socketio as socketio_managers
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from game.extensions import socketio
from game.ratelimit import SocketCap
from game.words import CATEGORIES

# templates/, static/ and data/ sit at the repository root, next to game/.
ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app; ``config`` overrides the defaults (tests pass one)."""
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("DOODLE_SECRET_KEY") or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=1024 * 1024,  # 1 MB: a doodle is a few KB
        CATEGORIES_PATH=str(CATEGORIES),
        # Reverse proxies in front that set X-Forwarded-For/-Proto/-Host (docs/serving.md).
        TRUSTED_PROXIES=int(os.environ.get("DOODLE_TRUSTED_PROXIES") or 0),
        # Socket.IO connections one address may hold open (game.ratelimit.SocketCap): room
        # for a classroom of phones behind one school router, far under the server's threads.
        MAX_SOCKETS_PER_ADDRESS=int(os.environ.get("DOODLE_MAX_SOCKETS_PER_ADDRESS") or 100),
    )
    if config:
        app.config.update(config)
    secret_chosen = bool(os.environ.get("DOODLE_SECRET_KEY")) or "SECRET_KEY" in (config or {})

    from game import i18n, pwa, realtime, routes, security
    from game.classroom import transport as classroom
    from game.cluster import store as cluster
    from game.dataset import admin, browse, contribute
    from game.model import service
    from game.solo import transport as solo
    from game.vision import routes as vision

    # First: in production without an admin password, refuse to start before the model loads.
    admin.init_app(app)
    # Security headers on every response; in production an HTTPS-only session cookie.
    security.init_app(app)
    # The languages (catalogues compiled here if they are not yet), before any page renders.
    i18n.init_app(app)
    for blueprint in (pwa.bp, routes.bp, contribute.bp, browse.bp, admin.bp, classroom.bp, vision.bp):
        app.register_blueprint(blueprint)

    # Alone, or one of several servers sharing Redis (game/cluster/): before realtime's
    # defaults, as it picks the games' clock.
    store = cluster.init_app(app, secret_chosen)
    # The transports' handlers were registered when their modules were imported, above:
    # Flask-SocketIO queues handlers registered while it has no server and hands them to
    # each new one in init_app.
    # threading mode: simple-websocket gives real WebSockets on Werkzeug's server.
    # async_handlers=False: a connection's events run in order, on its own thread (ink
    # must arrive in order); handlers never wait for the model, so nothing queues.
    # serializer: packets outside the protocol are refused before any handler (game/realtime.py).
    # Browser pages of other sites may not connect: the contributions API's rule too.
    # client_manager: with several servers, Redis's, so that an emit reaches its clients
    # whichever server they are on. Given each time: Flask-SocketIO keeps its options from
    # one app to the next (tests build many), and a message_queue option would stay.
    manager = socketio_managers.RedisManager(store.url) if store.shared else socketio_managers.Manager()
    socketio.init_app(app, async_mode="threading", async_handlers=False, serializer=realtime.Packet,
                      cors_allowed_origins=security.same_origin, client_manager=manager)
    realtime.refuse_malformed(socketio.server, app.logger)
    realtime.init_app(app)
    # The model runtime every mode shares: the classifier (config MODEL_PATH or CLASSIFIER),
    # the deck and the micro-batcher.
    model = service.init_app(app)
    # Contributed drawings (game/dataset/): the database opens on first use; games hand
    # their consenting players' drawings to its writer.
    contributions = contribute.init_app(app, model)
    keep = contributions.games.keep
    # The solo game (namespace /) and the classroom (namespace /classroom, pages /classroom and /join).
    services = [store, model, contributions, solo.init_app(app, model, keep, store),
                classroom.init_app(app, model, keep, store)]
    # The data browser (/data) and moderation (/admin) read the contributions' store.
    browse.init_app(app, contributions)
    # The vision lab (/vision): photos through image models; the doodle-photo task uses the game's model.
    services.append(vision.init_app(app, model))
    app.extensions["closing"] = services[::-1]
    app.wsgi_app = SocketCap(app.wsgi_app, int(app.config["MAX_SOCKETS_PER_ADDRESS"]))
    # Outermost, around Socket.IO's middleware too: behind a proxy every client would
    # otherwise share its address, and one rate limit (contributions, joins, admin logins).
    # Without trusted proxies the headers are ignored, so a client cannot forge its way past.
    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    return app


def close_app(app: Flask) -> None:
    """Stop what `create_app` started, last first: the vision lab's workers, the transports'
    tickers (their last snapshots saved), the games' drawings still queued (stored first), the
    model's batcher, the cluster's lease. `python -m game serve` calls it on its way out
    (SIGTERM, Ctrl-C); tests, which create many apps, after each."""
    for service in app.extensions.pop("closing", ()):
        service.close()
