"""python -m game {serve,cluster} ..."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def serve(args: argparse.Namespace) -> int:
    from game.app import close_app, create_app
    from game.extensions import socketio

    app = create_app()
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    if ":" in shown:
        shown = f"[{shown}]"
    # A service manager stops us with SIGTERM, which by default ends Python without its exit
    # handlers: make it a normal exit, so the games' drawings still queued get stored first.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"Doodle Lab is running: open http://{shown}:{args.port} (Ctrl+C to stop)", flush=True)
    try:
        socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True)
    finally:
        # With several servers this hands the server's games and rooms over (saved, its lease given up).
        close_app(app)
    return 0


def cluster(args: argparse.Namespace) -> int:
    from game.cluster.launch import run

    return run(args.servers, args.port, args.database_url, args.folder, args.postgres)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m game", description="Doodle Lab, the game.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="Run the game's web server.")
    p.add_argument("--host", default=os.environ.get("DOODLE_HOST", "127.0.0.1"),
                   help="address to listen on (env DOODLE_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=os.environ.get("DOODLE_PORT", "5000"),
                   help="port to listen on (env DOODLE_PORT; default 5000)")
    p.set_defaults(run=serve)

    p = sub.add_parser("cluster", help="Run Redis, nginx and several game servers on this machine (docs/serving.md).")
    p.add_argument("--servers", type=positive, default=3, help="game servers behind nginx (default 3)")
    p.add_argument("--port", type=int, default=None, help="nginx's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--database-url", default=None,
                   help="the contributions' database (default: $DATABASE_URL, else one SQLite file in the folder)")
    p.add_argument("--postgres", action="store_true",
                   help="run a throwaway PostgreSQL for the contributions (Debian's postgresql), deleted at the end")
    p.add_argument("--folder", type=Path, default=None,
                   help="where the configs and logs go, kept afterwards (default: a temporary folder, deleted)")
    p.set_defaults(run=cluster)

    args = parser.parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
