"""Serve trained models as one: their log-probabilities averaged, in one checkpoint and ONNX model
(each member's weights in files of their own beside them).

    python -m training ensemble --members a.safetensors b.safetensors --out data/models/doodle-ensemble.safetensors
    python -m training ensemble --members data/models/doodle-ensemble.safetensors c.safetensors --out x.safetensors

A member may be an ensemble: its networks join as they are (a network trained since joins the
shipped ones without training them again). The members keep their weights; the ensemble's
temperatures are fitted on the validation split as `train` fits a model's, and its reference
bank is written beside it. Teaching a new word (game/model/teach.py) reads the members'
embeddings side by side, each given an equal share.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from game.model.classifier import member_file
from training import data
from training.model import Ensemble, arch_of, checkpoint_metadata, load_checkpoint, run_of, runs_of, save, served_path
from training.train import calibration_inputs, fit_temperatures


@dataclass
class Network:
    """One trained network of an ensemble to be: its module, one-view temperature, ARCHS entry,
    training run and the checkpoint it was trained as."""
    model: torch.nn.Module
    temperature: float
    arch: dict
    run: dict
    file: str
    categories: list[str]


def networks(path: Path) -> list[Network]:
    """The networks of the checkpoint `path`: itself, or an ensemble's members (so that a
    network trained since joins the shipped ones without training them again)."""
    model, meta = load_checkpoint(path)
    categories = json.loads(meta["categories"])
    arch = arch_of(meta)
    if "members" not in arch:
        return [Network(model, float(meta.get("one_view_temperature", meta["temperature"])), arch, run_of(meta),
                        str(path), categories)]
    return [Network(m, float(t), a, {k: v for k, v in run.items() if k != "file"}, run["file"], categories)
            for m, t, a, run in zip(model.members, model.temperatures, arch["members"], runs_of(meta))]


def ensemble(members: list[Path], out: Path, data_dir: Path, log=print) -> Path:
    """The ensemble of the checkpoints `members` saved at `out` (its served model beside it)."""
    nets = [net for m in members for net in networks(m)]
    if len(nets) < 2:
        raise ValueError(f"an ensemble needs two networks at least, got {len(nets)}")
    files = [net.file for net in nets]
    for file in files:
        if files.count(file) > 1:
            raise ValueError(f"{file} is named twice (itself or in an ensemble named)")
    # An ensemble may be written again in its place with a new member (every network is read
    # by now); a network's own checkpoint may not become an ensemble's.
    if served_path(out).resolve() in {served_path(Path(net.file)).resolve() for net in nets}:
        raise ValueError(f"--out {out} would overwrite a member")
    categories = nets[0].categories
    words = nets[0].run.get("config", {}).get("words", "")
    for net in nets:
        if net.categories != categories:
            raise ValueError(f"{net.file} was trained on other categories than {nets[0].file}")
        if net.run.get("config", {}).get("words", "") != words:
            raise ValueError(f"{net.file} was trained on other words than {nets[0].file} (--words)")
    # Calibrated on the validation drawings of the words the members trained on (all, by default).
    words = [w for w in words.split(",") if w] or None
    found, splits = data.load(data_dir, words, log=log)
    if found != categories:
        raise ValueError(f"{members[0]} was trained on other categories than the data's")
    model = Ensemble([net.model for net in nets], [net.temperature for net in nets]).eval()
    x, y = calibration_inputs(splits["val"])
    temperatures = fit_temperatures(model, x, y)
    first = checkpoint_metadata(members[0])
    # Each member under the path it was named by: the card's commands make it there again.
    extra = {"members": [{"file": net.file, **net.run} for net in nets],
             **{k: json.loads(first[k]) for k in ("data_counts", "restyle") if k in first}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    served = save(model, out, categories, temperatures, {"members": [net.arch for net in nets]},
                  splits["val"], extra)
    log(f"temperatures {temperatures[0]:.3f} (mirror views), {temperatures[1]:.3f} (one view)")
    return served


def add_arguments(parser) -> None:
    parser.add_argument("--members", nargs="+", required=True, metavar="CHECKPOINT",
                        help="trained checkpoints (.safetensors)")
    parser.add_argument("--out", required=True, help="the ensemble's checkpoint (.safetensors); its .onnx goes beside it")
    parser.add_argument("--data", default=str(data.DEFAULT_DATA), help="Quick, Draw! data folder (its validation split)")


def cli(args) -> int:
    try:
        served = ensemble([Path(m) for m in args.members], Path(args.out), Path(args.data),
                          log=lambda *a: print(*a, file=sys.stderr))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    joined = arch_of(checkpoint_metadata(Path(args.out)))["members"]  # an ensemble named brings its own
    weights = [member_file(served, i) for i in range(len(joined))]
    print(f"wrote {served} with its weights ({', '.join(f'{f.name} {f.stat().st_size / 1e6:.1f} MB' for f in weights)}) "
          "and its reference bank")
    return 0
