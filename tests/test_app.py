"""The web app: factory, routes, socket events, and `python -m game serve` for real."""
from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import simple_websocket

from game.app import create_app
from game.extensions import socketio
from game.replay.solo import replay
from live_server import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app():
    return create_app({"TESTING": True, "SECRET_KEY": "test"})


@pytest.fixture
def client(app):
    return app.test_client()


# --- the factory -------------------------------------------------------------


def test_config_defaults_and_overrides(monkeypatch):
    monkeypatch.delenv("DOODLE_SECRET_KEY", raising=False)
    a, b = create_app(), create_app()
    assert not a.testing
    assert a.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert len(a.config["SECRET_KEY"]) >= 32
    assert a.config["SECRET_KEY"] != b.config["SECRET_KEY"]  # random when env has none

    monkeypatch.setenv("DOODLE_SECRET_KEY", "from-env")
    assert create_app().config["SECRET_KEY"] == "from-env"

    c = create_app({"TESTING": True, "SECRET_KEY": "override"})
    assert c.testing and c.config["SECRET_KEY"] == "override"


def test_socketio_is_threading(app):
    assert app.extensions["socketio"] is socketio
    assert socketio.async_mode == "threading"


# --- routes ------------------------------------------------------------------


def test_index(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "Doodle Lab" in html
    assert "the classifier is ready" in html
    assert 'name="viewport"' in html
    assert "/static/style.css" in html


def test_stylesheet_served(client):
    r = client.get("/static/style.css")
    assert r.status_code == 200
    assert r.mimetype == "text/css"
    r.close()


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}


def test_categories(client):
    r = client.get("/api/categories")
    assert r.status_code == 200
    words = r.get_json()
    assert isinstance(words, list)
    assert len(words) == 345
    assert len(set(words)) == 345
    assert words[0] == "aircraft carrier"
    assert words[-1] == "zigzag"
    assert all(w == w.strip() and w for w in words)


def test_categories_path_is_configurable(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("cat\n\ndog\n", encoding="utf-8")
    app = create_app({"TESTING": True, "CATEGORIES_PATH": str(words)})
    assert app.test_client().get("/api/categories").get_json() == ["cat", "dog"]


def test_404_json(client):
    r = client.get("/api/nope")
    assert r.status_code == 404
    assert r.get_json() == {"error": "not found", "path": "/api/nope"}

    r = client.get("/nope")  # no Accept header: JSON
    assert r.status_code == 404
    assert r.get_json()["error"] == "not found"


def test_404_html_for_browsers(client):
    r = client.get("/nope", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 404
    assert r.mimetype == "text/html"
    assert "Not found" in r.get_data(as_text=True)


# --- security headers --------------------------------------------------------

# A plausible value for each URL parameter of the app's GET routes.
URL_VALUES = {"filename": "style.css", "code": "es", "word": "cat", "name": "classification", "job_id": "none"}


def test_every_get_route_carries_the_security_headers():
    """Every GET route of the url_map, whatever it answers (a page, JSON, a redirect, a
    login form, a 404): a CSP with no inline script and no framing, nosniff, no framing, no
    referrer to other sites."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "ADMIN_PASSWORD": "pw"})
    client = app.test_client()
    urls = [rule.build({arg: URL_VALUES[arg] for arg in rule.arguments})[1]
            for rule in app.url_map.iter_rules() if "GET" in rule.methods]
    assert {"/", "/play", "/classroom", "/contribute", "/data", "/vision", "/vision/classification"} <= set(urls)
    for url in urls + ["/no-such-page"]:
        r = client.get(url)
        assert r.status_code < 500, (url, r.status_code)
        csp = dict(d.strip().split(" ", 1) for d in r.headers["Content-Security-Policy"].split(";"))
        assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'", url  # nothing inline, no eval
        assert csp["frame-ancestors"] == "'none'" and csp["img-src"] == "'self' data:", url
        assert csp["connect-src"] == "'self' ws://localhost wss://localhost", url  # Socket.IO on this host
        assert r.headers["X-Content-Type-Options"] == "nosniff", url
        assert r.headers["X-Frame-Options"] == "DENY", url
        assert r.headers["Referrer-Policy"] == "same-origin", url


def test_no_template_has_inline_script():
    """The CSP runs no inline script: no handler attributes, no script without src but JSON data."""
    for path in (ROOT / "templates").glob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", html), path.name
        assert not re.search(r"javascript:", html, re.I), path.name
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (path.name, tag)


@pytest.mark.parametrize("env", ["development", "production"])
def test_the_session_cookie_is_https_only_in_production(env):
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DOODLE_ENV": env, "ADMIN_PASSWORD": "pw"})
    r = app.test_client().get("/admin")  # the login form keeps its CSRF token in the session
    cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert len(cookie) == 1
    flags = {f.strip().split("=")[0].lower(): f.strip() for f in cookie[0].split(";")[1:]}
    assert "httponly" in flags and flags["samesite"] == "SameSite=Lax"
    assert ("secure" in flags) == (env == "production")


# --- socket events -----------------------------------------------------------


def test_socket_connect_and_ping(app):
    sc = socketio.test_client(app)
    try:
        assert sc.is_connected()
        assert sc.get_received() == []  # connect emits nothing
        ack = sc.emit("ping_server", callback=True)
        assert ack["pong"] is True
        assert abs(ack["server_time"] - time.time()) < 60
        ack = sc.emit("ping_server", {"t": 1}, callback=True)
        assert ack["pong"] is True
    finally:
        sc.disconnect()
    assert not sc.is_connected()


def test_socket_handshake_refuses_another_sites_page(client):
    """Socket.IO refuses another site's page by the rule POST /api/contributions follows
    (game.security.same_origin); the site's own pages and scripts without Origin connect."""
    handshake = "/socket.io/?EIO=4&transport=polling"
    assert client.get(handshake, headers={"Origin": "https://evil.example"}).status_code == 400
    assert client.get(handshake, headers={"Origin": "http://localhost"}).status_code == 200
    assert client.get(handshake).status_code == 200


def test_socket_handlers_survive_a_second_app():
    """Each create_app rebuilds the Socket.IO server; the handlers must come along."""
    create_app({"TESTING": True})
    app = create_app({"TESTING": True})
    sc = socketio.test_client(app)
    try:
        assert sc.emit("ping_server", callback=True)["pong"] is True
    finally:
        sc.disconnect()


# --- python -m game serve and gunicorn (docs/serving.md), for real ------------

SERVERS = {
    "dev": lambda port: [sys.executable, "-m", "game", "serve", "--port", str(port)],
    "gunicorn": lambda port: [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "50",
                              "--bind", f"127.0.0.1:{port}", "game.app:create_app()"],
}
RAW = ROOT.parent / "shared" / "quickdraw" / "raw"


@pytest.fixture(scope="module", params=sorted(SERVERS))
def live_server(request, tmp_path_factory):
    """`python -m game serve` or gunicorn on a free port in a subprocess; yields its base
    URL, its log and which server it is."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve") / "serve.log"
    with running_server(SERVERS[request.param](port), log_path, port) as (base, _):
        yield base, log_path, request.param


def test_serve_answers_healthz(live_server):
    base, log_path, kind = live_server
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        assert r.status == 200
        assert json.load(r) == {"status": "ok"}
    if kind == "dev":
        assert f"open {base}" in log_path.read_text()


def test_serve_speaks_socketio_over_a_real_websocket(live_server):
    """Threading mode with simple-websocket upgrades to a real WebSocket."""
    base, _, _ = live_server
    ws = simple_websocket.Client.connect(
        base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    )
    try:

        def receive() -> str:
            while True:
                packet = ws.receive(timeout=60)  # a bound for a hang, not a speed target
                assert packet is not None, "no packet in 60 s"
                if packet == "2":  # Engine.IO ping
                    ws.send("3")
                    continue
                return packet

        assert receive().startswith("0{")  # Engine.IO open
        ws.send("40")  # Socket.IO connect to "/"
        assert receive().startswith("40{")
        ws.send('420["ping_server"]')  # event with ack id 0
        packet = receive()
        assert packet.startswith("430[")
        assert json.loads(packet[3:])[0]["pong"] is True
    finally:
        ws.close()


def _websocket(base: str, source: str = "127.0.0.1") -> tuple[socket.socket, str]:
    """A raw Socket.IO WebSocket handshake from `source` (any 127.x address is this machine):
    the open socket and the response's status line."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60, source_address=(source, 0))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head.split(b"\r\n", 1)[0].decode()


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_one_address_cannot_hold_every_thread(kind, tmp_path):
    """Idle WebSockets from one address stop at MAX_SOCKETS_PER_ADDRESS (429 past it), so the
    server's threads stay free for /healthz and for players from other addresses; a socket
    closed gives its place back."""
    port = free_port()
    argv = SERVERS[kind](port)
    if kind == "gunicorn":
        argv[argv.index("--threads") + 1] = "12"
    with running_server(argv, tmp_path / "serve.log", port, env={"DOODLE_MAX_SOCKETS_PER_ADDRESS": "4"}) as (base, _):
        held = [_websocket(base) for _ in range(4)]
        try:
            assert [status for _, status in held] == ["HTTP/1.1 101 Switching Protocols"] * 4
            refused = [_websocket(base) for _ in range(20)]
            for sock, status in refused:
                assert status.startswith("HTTP/1.1 429"), status
                sock.close()
            with urllib.request.urlopen(base + "/healthz", timeout=30) as r:
                assert r.status == 200
            other, status = _websocket(base, source="127.0.0.2")  # another player
            assert status == "HTTP/1.1 101 Switching Protocols"
            other.close()
            held.pop()[0].close()
            deadline = time.monotonic() + 30  # the server notices the close on its own time
            while True:
                sock, status = _websocket(base)
                sock.close()
                if status.startswith("HTTP/1.1 101") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert status == "HTTP/1.1 101 Switching Protocols"
        finally:
            for sock, _ in held:
                sock.close()
        assert (tmp_path / "serve.log").read_text().count("refused a Socket.IO connection from 127.0.0.1") >= 20


def test_a_game_of_real_drawings_through_the_server(live_server):
    """The replay tool plays held-out raw drawings of deck words over a real WebSocket."""
    if not RAW.is_dir():
        pytest.skip(f"Quick, Draw! raw drawings not found at {RAW}")
    base, log_path, _ = live_server
    result = replay(base, RAW, players=2, rounds=2, seconds=5, swap=0.5, per_word=3)
    assert result["rounds_played"] == 4 and result["errors"] == 0, result["error_samples"]
    assert result["guesses"] > 0
    assert "Traceback" not in log_path.read_text()
