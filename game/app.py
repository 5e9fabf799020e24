"""The application factory: ``create_app()`` builds a configured Flask app."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from game.extensions import socketio
from game.ratelimit import SocketCap

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
        CATEGORIES_PATH=str(ROOT / "data" / "categories.txt"),
        # Reverse proxies in front that set X-Forwarded-For/-Proto/-Host (docs/serving.md).
        TRUSTED_PROXIES=int(os.environ.get("DOODLE_TRUSTED_PROXIES") or 0),
        # Socket.IO connections one address may hold open (game.ratelimit.SocketCap): room
        # for a classroom of phones behind one school router, far under the server's threads.
        MAX_SOCKETS_PER_ADDRESS=int(os.environ.get("DOODLE_MAX_SOCKETS_PER_ADDRESS") or 100),
    )
    if config:
        app.config.update(config)

    from game import admin, browse, classroom_events, contribute, i18n, pwa, security, wire
    from game.routes import bp
    from game.vision import routes as vision

    # First: in production without an admin password, refuse to start before the model loads.
    admin.init_app(app)
    # Security headers on every response; in production an HTTPS-only session cookie.
    security.init_app(app)
    # The languages (catalogues compiled here if they are not yet), before any page renders.
    i18n.init_app(app)
    app.register_blueprint(pwa.bp)
    app.register_blueprint(bp)
    app.register_blueprint(contribute.bp)
    app.register_blueprint(browse.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(classroom_events.bp)
    app.register_blueprint(vision.bp)

    # Import the socket handlers *before* init_app: Flask-SocketIO queues handlers
    # registered while it has no server and hands them to each new one in init_app.
    from game import events

    # threading mode: simple-websocket gives real WebSockets on Werkzeug's server.
    # async_handlers=False: a connection's events run in order, on its own thread (ink
    # must arrive in order); handlers never wait for the model, so nothing queues.
    # serializer: packets outside the protocol are refused before any handler (game/wire.py).
    # Browser pages of other sites may not connect: the contributions API's rule too.
    socketio.init_app(app, async_mode="threading", async_handlers=False, serializer=wire.Packet,
                      cors_allowed_origins=security.same_origin)
    wire.refuse_malformed(socketio.server, app.logger)
    # The game service: loads the classifier (config MODEL_PATH or CLASSIFIER) and the deck.
    events.init_app(app)
    # The classroom (namespace /classroom, pages /classroom and /join): on the same batcher.
    classroom_events.init_app(app)
    # Contributed drawings (game/contribute.py): the database opens on first use.
    contribute.init_app(app)
    # The data browser (/data) and moderation (/admin) read that store.
    browse.init_app(app)
    # The vision lab (/vision): photos through image models; the doodle-photo task uses the game's model.
    vision.init_app(app)
    app.wsgi_app = SocketCap(app.wsgi_app, int(app.config["MAX_SOCKETS_PER_ADDRESS"]))
    # Outermost, around Socket.IO's middleware too: behind a proxy every client would
    # otherwise share its address, and one rate limit (contributions, joins, admin logins).
    # Without trusted proxies the headers are ignored, so a client cannot forge its way past.
    if app.config["TRUSTED_PROXIES"]:
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    return app
