"""`python -m game cluster`: a cluster on one machine, for trying it and for its tests:
Debian's redis-server and nginx, N game servers and, with `--postgres`, a throwaway
PostgreSQL for the contributions (game/cluster/postgres.py), each on a loopback port (or
socket), started in a temporary folder and stopped together (Ctrl-C or SIGTERM). docs/serving.md gives the
production recipe with the same parts.

nginx balances the servers by a cookie it sets on a browser's first request
(`doodle_server`, a random id): every request of that browser, its Socket.IO handshake,
polling and WebSocket included, hashes to the same server. A classroom's connections name
their room instead (`?room=CODE`, static/join.js and classroom.js): each server deals codes
starting with its own characters of the alphabet (`code_firsts`), and nginx sends such a
connection to the server whose characters its code starts with, the room's, so that a class
plays on one server without relaying its events over Redis. When a server is down its
clients' requests go to the next one (`proxy_next_upstream`), where they resume, and a
class's to the other servers (its room's backups, in turn), which relay them to whichever
server took the room over.

    with Cluster(servers=3, folder=Path("/tmp/c")) as cluster:
        cluster.url          # nginx: http://127.0.0.1:PORT
        cluster.servers[0]   # a Child: .url, .process, .stop(), .start()
        cluster.redis        # a Child too
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from game.classroom.rules import ALPHABET
from game.cluster import postgres as pg

PACKAGES = {"redis-server": "redis-server", "nginx": "nginx"}  # command -> Debian package
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")  # nginx lies there, outside a user's PATH


class ClusterError(RuntimeError):
    """A part of the cluster is missing or did not start."""


def command(name: str) -> str | None:
    """The path of `name`'s executable, or None."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))


def missing() -> str | None:
    """What is not installed here, as one line naming the packages, or None."""
    absent = [package for cmd, package in PACKAGES.items() if command(cmd) is None]
    if not absent:
        return None
    return (f"Debian's {' and '.join(absent)} not installed: the cluster needs them "
            f"(`apt-get install {' '.join(absent)}`; `make test` installs them where it runs as root)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """One process of the cluster: `argv`, its output in `log`, ready once `ready()` is true."""

    def __init__(self, name: str, argv: list[str], log: Path, ready: Callable[[], bool],
                 env: dict | None = None, url: str | None = None):
        self.name, self.argv, self.log, self._ready, self.env, self.url = name, argv, log, ready, env, url
        self.process: subprocess.Popen | None = None

    def start(self, wait: float = 120) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + wait
        while not self._ready():
            if self.process.poll() is not None:
                raise ClusterError(f"{self.name} exited with {self.process.returncode}; its log, {self.log}:\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.name} not ready in {wait:g} s; its log: {self.log}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (servers save their games' last state), SIGKILL after `timeout` seconds."""
        if not self.alive():
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
    return ready


def listens(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    return ready


def code_firsts(servers: int) -> list[str]:
    """Each server's characters, that its rooms' codes start with: the alphabet dealt out."""
    if not 1 <= servers <= len(ALPHABET):
        raise ValueError(f"servers must be 1 to {len(ALPHABET)}, got {servers}")
    return [ALPHABET[i::servers] for i in range(servers)]


def nginx_config(folder: Path, port: int, servers: list[int]) -> str:
    upstream = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=3s;" for p in servers)
    # A room's server, the others its backups (nginx shares its requests among them in turn).
    rooms = "\n".join(
        f"    upstream doodle_{i + 1} {{\n" + "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=3s{' backup' if j else ''};"
            for j, p in enumerate(servers[i:] + servers[:i])) + "\n    }"
        for i in range(len(servers)))
    by_room = "\n".join(f'        "~*^[{first}]" doodle_{i + 1};' for i, first in enumerate(code_firsts(len(servers))))
    temp = "\n".join(f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# Written by python -m game cluster.
daemon off;
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'nginx.log'} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp}
    # The browser's balancing key: its cookie, or for its first request a new one.
    map $cookie_doodle_server $doodle_key {{ "" $request_id; default $cookie_doodle_server; }}
    map $cookie_doodle_server $doodle_set_cookie {{ "" "doodle_server=$request_id; Path=/; HttpOnly; SameSite=Lax"; default ""; }}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    # A classroom connection naming its room: to the server whose characters its code starts with.
    map $arg_room $doodle_upstream {{
        default doodle;
{by_room}
    }}
    upstream doodle {{
        hash $doodle_key consistent;
{upstream}
    }}
{rooms}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://$doodle_upstream;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 1h;
            proxy_next_upstream error timeout http_502 http_503;
            add_header Set-Cookie $doodle_set_cookie always;
        }}
    }}
}}
"""


def default_server(port: int) -> list[str]:
    return [sys.executable, "-m", "game", "serve", "--port", str(port)]


class Cluster:
    """Redis, `servers` game servers and nginx in front, in `folder` (a new temporary one
    by default, deleted by `stop`). `server_argv(port)` is a server's command line;
    `database_url` the contributions' database (default: one SQLite file in `folder`,
    shared by the servers), or with `postgres` a throwaway PostgreSQL's; `port` nginx's
    (default: a free one)."""

    def __init__(self, servers: int = 3, folder: Path | None = None, port: int | None = None,
                 database_url: str | None = None, server_argv: Callable[[int], list[str]] = default_server,
                 postgres: bool = False):
        firsts = code_firsts(servers)
        if postgres and database_url:
            raise ValueError("give a database_url or postgres, not both")
        reason = missing() or (pg.unavailable() if postgres else None)
        if reason:
            raise ClusterError(reason)
        self._postgres = postgres
        self.pg: pg.PostgresServer | None = None
        self._own_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="doodle-cluster-")) if folder is None else folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        # No persistence: Redis holds the games' latest state only, which the servers hold too
        # and save again after a restart.
        self.redis = Child("redis", [command("redis-server"), "--port", str(redis_port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
                           self.folder / "redis.log", listens(redis_port))
        # The servers' environment (`start` adds a throwaway PostgreSQL's URL to each one's).
        env = dict(
            os.environ, PYTHONUNBUFFERED="1", DOODLE_REDIS_URL=self.redis_url,
            DOODLE_SECRET_KEY=os.environ.get("DOODLE_SECRET_KEY") or secrets.token_hex(32),
            DOODLE_TRUSTED_PROXIES="1",  # nginx
            # Each pinned to its first CPU, the servers would all share one.
            DOODLE_CPU_AFFINITY=os.environ.get("DOODLE_CPU_AFFINITY", "off"),
            DATABASE_URL=database_url or os.environ.get("DATABASE_URL")
            or f"sqlite:///{self.folder / 'contributions.sqlite3'}")
        env.pop("DOODLE_HOST", None)
        self.servers = []
        for i, first in enumerate(firsts):
            p = free_port()
            self.servers.append(Child(f"server {i + 1}", server_argv(p), self.folder / f"server-{i + 1}.log",
                                      answers(f"http://127.0.0.1:{p}/healthz"),
                                      env={**env, "DOODLE_CLASSROOM_CODE_FIRST": first}, url=f"http://127.0.0.1:{p}"))
        config = self.folder / "nginx.conf"
        config.write_text(nginx_config(self.folder, self.port, [int(s.url.rsplit(":", 1)[1]) for s in self.servers]))
        self.nginx = Child("nginx", [command("nginx"), "-c", str(config), "-p", str(self.folder),
                                     "-e", str(self.folder / "nginx.log")],
                           self.folder / "nginx.out", answers(f"{self.url}/healthz"))

    def start(self) -> "Cluster":
        try:
            if self._postgres:
                try:
                    self.pg = pg.start()
                except RuntimeError as e:
                    raise ClusterError(f"PostgreSQL did not start: {e}") from None
                url = self.pg.create_database("doodle")
                for server in self.servers:
                    server.env["DATABASE_URL"] = url
            self.redis.start()
            for server in self.servers:
                server.start()
            self._nginx_folders()
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def _nginx_folders(self) -> None:
        """nginx's temporary folders, writable by its workers (run as nobody under root)."""
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.folder / kind).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self.folder.chmod(0o755)
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                os.chown(self.folder / kind, nobody.pw_uid, nobody.pw_gid)

    def stop(self) -> None:
        """nginx first (no new requests), then the servers (they save their games), then Redis
        and PostgreSQL."""
        self.nginx.stop()
        for server in self.servers:
            server.stop()
        self.redis.stop()
        if self.pg is not None:
            self.pg.stop()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run(servers: int, port: int | None, database_url: str | None, folder: Path | None, postgres: bool) -> int:
    """The CLI: start the cluster, say where it is, run until Ctrl-C or SIGTERM."""
    try:
        cluster = Cluster(servers, folder=folder, port=port, database_url=database_url, postgres=postgres)
    except (ClusterError, ValueError) as e:
        print(e, file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        cluster.start()
        print(f"Doodle Lab cluster: open {cluster.url} (nginx), {servers} servers "
              f"({', '.join(s.url for s in cluster.servers)}), Redis at {cluster.redis_url}"
              f"{', PostgreSQL at ' + cluster.pg.url('doodle') if cluster.pg else ''}; "
              f"logs in {cluster.folder}{'' if folder else ' (deleted at the end)'} (Ctrl+C to stop)", flush=True)
        while True:
            for child in (cluster.redis, cluster.nginx, *cluster.servers):
                if child.process is not None and child.process.poll() is not None:
                    print(f"{child.name} exited with {child.process.returncode}; its log: {child.log}", flush=True)
                    child.process = None
            time.sleep(1)
    except ClusterError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()
