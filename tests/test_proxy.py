"""Behind a reverse proxy (TRUSTED_PROXIES, docs/serving.md), through a real server and
Socket.IO: the classroom's wrong-code lockout counts each client that X-Forwarded-For names,
not the proxy's one address; without trusted proxies the header is ignored."""
from __future__ import annotations

import sys

import pytest

from live_server import free_port, running_server

socketio = pytest.importorskip("socketio")
NS = "/classroom"


def joins(base: str, forwarded_for: str, n: int) -> list[str]:
    """`n` joins with a wrong code from one client the proxy names; their error codes."""
    sio = socketio.Client()
    sio.connect(base, namespaces=[NS], transports=["websocket"], headers={"X-Forwarded-For": forwarded_for})
    try:
        return [sio.call("join", {"code": "ZZZZZ", "nickname": "Ana"}, namespace=NS, timeout=10)["code"]
                for _ in range(n)]
    finally:
        sio.disconnect()


@pytest.mark.parametrize("proxies", [0, 1])
def test_the_join_lockout_counts_each_client_behind_a_trusted_proxy(tmp_path, monkeypatch, proxies):
    monkeypatch.delenv("DOODLE_TRUSTED_PROXIES", raising=False)
    port = free_port()
    env = {"DOODLE_TRUSTED_PROXIES": str(proxies)} if proxies else {}
    argv = [sys.executable, "-m", "game", "serve", "--port", str(port)]
    with running_server(argv, tmp_path / "serve.log", port, env=env) as (base, _):
        # Five wrong codes lock a client out (RoomConfig.join_failures)...
        assert joins(base, "203.0.113.5", 6) == ["no_room"] * 5 + ["rate_limited"]
        # ...and another client behind the same proxy is its own client only if the proxy is trusted.
        assert joins(base, "198.51.100.9", 1) == (["no_room"] if proxies else ["rate_limited"])
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace")
