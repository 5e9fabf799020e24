"""Which origins may talk to the server, and what every response carries for the browser.

`same_origin` is the one rule for cross-site requests: Socket.IO's handshake (passed to
Flask-SocketIO as `cors_allowed_origins`) and POST /api/contributions both refuse a
browser page of another site. A request with no Origin (curl, scripts, the Python client)
is not a browser's cross-site request and passes.

`init_app` adds the security headers to every response: a Content-Security-Policy that
allows only the site's own scripts, styles and connections (and data: images: the vision
lab draws its results from data URLs), no framing, no MIME sniffing, no referrer to other
sites. In production the session cookie (the admin's login) is sent over HTTPS only.
"""
from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.wsgi import get_host

# The Socket.IO connection is named by host: `'self'` covers ws: and wss: only in CSP level 3.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws://{host} wss://{host}; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers without CSP level 2
    "Referrer-Policy": "same-origin",
}


def same_origin(origin: str | None, environ: dict) -> bool:
    """Whether a request's Origin header (None: none sent) is this server's own scheme and
    host, as the request reached the app (behind trusted proxies, as ProxyFix rewrote them)."""
    if origin is None:
        return True
    # get_host drops a default port, as browsers do in Origin, and is "" for a malformed Host.
    host = get_host(environ)
    return bool(host) and origin.lower() == f"{environ['wsgi.url_scheme']}://{host}".lower()


def init_app(app: Flask) -> None:
    """The headers on every response, and in production a session cookie sent over HTTPS
    only (after admin.init_app, which reads DOODLE_ENV and makes the cookie SameSite=Lax;
    Flask makes it HttpOnly)."""
    if app.config["DOODLE_ENV"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True
    app.after_request(add_headers)


def add_headers(response: Response) -> Response:
    # request.host is validated by Werkzeug (allowed characters only), safe in a header.
    response.headers.setdefault("Content-Security-Policy", CSP.format(host=request.host))
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
