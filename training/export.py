"""Export a checkpoint's served model (.onnx) and its reference bank (.reference.npz) again,
weights and temperatures as they are.

For when what the served file holds changes but not the network: the embedding output and
the reference drawings that teaching a new word needs (game/model/teach.py) were added so,
the logits staying those of the model trained before.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from game.model.teach import reference_path
from training import data
from training.model import add_checkpoint_arguments, checkpoint_argument, export_served, load_checkpoint, served_path


def export(path: Path, data_dir: Path, log=print) -> tuple[Path, Path]:
    """The served model and the reference bank written beside the checkpoint at `path`."""
    model, meta = load_checkpoint(path)
    categories, splits = data.load(data_dir, log=log)
    if categories != json.loads(meta["categories"]):  # before anything is written
        raise ValueError(f"{path} was trained on other categories than the data's")
    served = export_served(model, served_path(path), meta, splits["val"])
    return served, reference_path(served)


def add_arguments(parser) -> None:
    add_checkpoint_arguments(parser, "checkpoint (.safetensors) to export beside")


def cli(args) -> int:
    path = checkpoint_argument(args)
    try:
        served, reference = export(path, Path(args.data), log=lambda *a: print(*a, file=sys.stderr))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {served} and {reference} ({reference.stat().st_size / 1e6:.1f} MB)")
    return 0
