"""Which origins may talk to the server.

`same_origin` is the one rule for cross-site requests: Socket.IO's handshake (passed to
Flask-SocketIO as `cors_allowed_origins`) and POST /api/contributions both refuse a
browser page of another site. A request with no Origin (curl, scripts, the Python client)
is not a browser's cross-site request and passes.
"""
from __future__ import annotations

from werkzeug.wsgi import get_host


def same_origin(origin: str | None, environ: dict) -> bool:
    """Whether a request's Origin header (None: none sent) is this server's own scheme and
    host, as the request reached the app (behind trusted proxies, as ProxyFix rewrote them)."""
    if origin is None:
        return True
    # get_host drops a default port, as browsers do in Origin, and is "" for a malformed Host.
    host = get_host(environ)
    return bool(host) and origin.lower() == f"{environ['wsgi.url_scheme']}://{host}".lower()

