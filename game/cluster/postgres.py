"""A throwaway PostgreSQL server: for the tests, benchmarks/contributions.py and
`python -m game cluster --postgres`.

Uses the binaries of Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin, which
`make test` installs): `initdb` into a fresh temporary folder, `pg_ctl start` (port 5432, in name only),
listening on a Unix socket in that folder only (no TCP), trust authentication, default
durability settings (fsync, synchronous_commit on). PostgreSQL refuses to run as root, so
as root (CI) the folder is handed to the `postgres` user the package creates and the server
commands run through `runuser -u postgres`.

    server = PostgresServer.start()            # or PostgresServer.unavailable() -> reason
    url = server.create_database()             # postgresql://postgres@/db_1?host=...&port=...
    server.stop()                              # stops the server and deletes the folder
"""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


SUPERUSER = "postgres"
# It listens on a socket in its own folder only, so the usual port clashes with nobody.
PORT = 5432


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, pg_ctl and postgres."""
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")
             if all((Path(d) / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres"))]
    found.sort(key=lambda d: [int(p) if p.isdigit() else 0 for p in d.parent.name.split(".")])
    return found[-1] if found else None


def _run_as() -> str | None:
    """The user to run the server as: None (ourselves), or "postgres" when we are root."""
    return SUPERUSER if os.geteuid() == 0 else None


def unavailable() -> str | None:
    """Why no throwaway server can be started here, or None when one can."""
    if bin_dir() is None:
        return ("PostgreSQL binaries not found in /usr/lib/postgresql/*/bin: these tests need Debian's "
                "postgresql (`apt-get install postgresql`; `make test` installs it where it runs as root)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


class PostgresServer:
    def __init__(self, root: Path, port: int, bins: Path, user: str | None):
        self.root, self.port, self.bins, self.user = root, port, bins, user
        self.data, self.sockets, self.log = root / "data", root / "sockets", root / "server.log"
        self._names = itertools.count(1)

    @classmethod
    def start(cls, settings: dict[str, str] | None = None) -> "PostgresServer":
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        user = _run_as()
        # mkdtemp makes a 0700 folder in /tmp, which the postgres user can reach once it owns it.
        root = Path(tempfile.mkdtemp(prefix="doodle-pg-"))
        server = cls(root, PORT, bin_dir(), user)
        try:
            server.sockets.mkdir()
            if user:
                entry = pwd.getpwnam(user)
                for path in (root, server.sockets):
                    os.chown(path, entry.pw_uid, entry.pw_gid)
            server._cmd("initdb", "-D", str(server.data), "-U", SUPERUSER, "--auth=trust",
                        "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")
            options = {"port": str(server.port), "listen_addresses": "''",
                       "unix_socket_directories": f"'{server.sockets}'", "max_connections": "200",
                       **(settings or {})}
            server._cmd("pg_ctl", "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60",
                        "-o", " ".join(f"-c {k}={v}" for k, v in options.items()), "start")
        except BaseException:
            server._cleanup()
            raise
        return server

    def _cmd(self, exe: str, *args: str) -> None:
        argv = [str(self.bins / exe), *args]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{exe} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.sockets}&port={self.port}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"db_{next(self._names)}"
        with psycopg.connect(host=str(self.sockets), port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.sockets), port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._cmd("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(settings: dict[str, str] | None = None) -> PostgresServer:
    return PostgresServer.start(settings)
