"""Refit a model file's temperatures on the validation split, as the game serves the model.

Temperature scaling is fitted at the end of `train`; this refits it on the same drawings
for a model file whose weights stay as they are, for when the functions the game serves
around the network change (as when it began averaging each drawing with its mirror), and
exports the served model and its reference bank again.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from game.words import CATEGORIES
from training import data
from training.model import SAVED_KEYS, add_checkpoint_arguments, arch_of, checkpoint_argument, load_checkpoint, save
from training.train import calibration_inputs, fit_temperatures


def calibrate(path: Path, data_dir: Path, log=print) -> tuple[float, tuple[float, float]]:
    """The old temperature of the checkpoint at `path` and the new ones (with the mirror view,
    with one view), which it and its served model now hold."""
    model, meta = load_checkpoint(path)
    categories = json.loads(meta["categories"])
    loaded, splits = data.load(data_dir, log=log)
    if loaded != categories:
        raise ValueError(f"{path} was trained on other categories than {CATEGORIES}")
    x, y = calibration_inputs(splits["val"])
    old, new = float(meta.get("temperature", 1.0)), fit_temperatures(model, x, y)
    extra = {k: json.loads(v) for k, v in meta.items() if k not in SAVED_KEYS}
    save(model, path, categories, new, arch_of(meta), splits["val"], extra)
    return old, new


def add_arguments(parser) -> None:
    add_checkpoint_arguments(parser, "checkpoint (.safetensors) to recalibrate, with its .onnx beside it")


def cli(args) -> int:
    path = checkpoint_argument(args)
    try:
        old, new = calibrate(path, Path(args.data), log=lambda *a: print(*a, file=sys.stderr))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{path}: temperature {old:.3f} -> {new[0]:.3f} with the mirror view, {new[1]:.3f} with one")
    return 0
