"""Flask extensions, created unbound here and bound to an app in `create_app`.

Keeping them at module level lets `game.solo.transport` register handlers with
``@socketio.on(...)`` without importing the app (the Flask-SocketIO-Chat layout).
"""
from flask_socketio import SocketIO

socketio = SocketIO()
