"""Socket.IO event handlers. Only the plumbing for now; the game's events come later."""
from __future__ import annotations

import time

from flask import current_app, request

from game.extensions import socketio


@socketio.on("connect")
def on_connect(auth=None):
    current_app.logger.debug("socket connected: %s", request.sid)


@socketio.on("ping_server")
def on_ping_server(data=None):
    """Acknowledge a ping; the client can time the round trip."""
    return {"pong": True, "server_time": time.time()}
