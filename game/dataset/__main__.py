"""The dataset's command line: export the contributed drawings in Google's Quick, Draw! format.

    python -m game.dataset export --format raw --out DIR [--database URL]
"""
from __future__ import annotations

import argparse
import sys

from game.dataset.store import FORMATS, Store, default_url, export


def _flask_instance_path() -> str:
    # The path Flask gives create_app's app (import name "game.app"), found without
    # building the app, which would load the model.
    from flask import Flask

    return Flask("game.app").instance_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m game.dataset", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ex = commands.add_parser("export", help="write one Google-format <word>.ndjson per word")
    ex.add_argument("--format", choices=FORMATS, default="raw")
    ex.add_argument("--out", required=True, help="the folder to write into")
    ex.add_argument("--database", help="database URL (default: $DATABASE_URL, else the app's SQLite file)")
    args = parser.parse_args(argv)

    store = Store(args.database or default_url(_flask_instance_path()))
    try:
        counts = export(store, args.out, args.format)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"wrote {sum(counts.values())} drawings in {len(counts)} files to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
