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

from game.model.classifier import DEFAULT_MODEL
from training import data
from training.model import export_onnx, load_checkpoint, reference_rows, served_path, write_reference


def export(path: Path, data_dir: Path, log=print) -> tuple[Path, Path]:
    """The served model and the reference bank written beside the checkpoint at `path`."""
    model, meta = load_checkpoint(path)
    served = served_path(path)
    export_onnx(model, served, meta)
    categories, splits = data.load(data_dir, log=log)
    if categories != json.loads(meta["categories"]):
        raise ValueError(f"{path} was trained on other categories than the data's")
    return served, write_reference(model, served, *reference_rows(splits["val"]), float(meta["temperature"]))


def add_arguments(parser) -> None:
    parser.add_argument("--model", default=None,
                        help="checkpoint (.safetensors) to export beside (default: the shipped one)")
    parser.add_argument("--data", default=str(data.DEFAULT_DATA), help="Quick, Draw! data folder")


def cli(args) -> int:
    path = Path(args.model or DEFAULT_MODEL.with_suffix(".safetensors"))
    try:
        served, reference = export(path, Path(args.data), log=lambda *a: print(*a, file=sys.stderr))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {served} and {reference} ({reference.stat().st_size / 1e6:.1f} MB)")
    return 0
