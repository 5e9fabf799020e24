"""python -m game {serve} ..."""
from __future__ import annotations

import argparse
import os
import signal
import sys


def serve(args: argparse.Namespace) -> int:
    from game.app import create_app
    from game.extensions import socketio

    app = create_app()
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    if ":" in shown:
        shown = f"[{shown}]"
    # A service manager stops us with SIGTERM, which by default ends Python without its exit
    # handlers: make it a normal exit, so the games' drawings still queued get stored first.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"Doodle Lab is running: open http://{shown}:{args.port} (Ctrl+C to stop)", flush=True)
    socketio.run(app, host=args.host, port=args.port, allow_unsafe_werkzeug=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m game", description="Doodle Lab, the game.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="Run the game's web server.")
    p.add_argument("--host", default=os.environ.get("DOODLE_HOST", "127.0.0.1"),
                   help="address to listen on (env DOODLE_HOST; default 127.0.0.1)")
    p.add_argument("--port", type=int, default=os.environ.get("DOODLE_PORT", "5000"),
                   help="port to listen on (env DOODLE_PORT; default 5000)")
    p.set_defaults(run=serve)

    args = parser.parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
