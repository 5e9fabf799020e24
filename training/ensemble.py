"""Serve trained models as one: their log-probabilities averaged, in one checkpoint and ONNX model
(each member's weights in files of their own beside them).

    python -m training ensemble --members a.safetensors b.safetensors --out data/models/doodle-ensemble.safetensors

The members keep their weights; the ensemble's temperatures are fitted on the validation split
as `train` fits a model's, and its reference bank is written beside it. Teaching a new word
(game/model/teach.py) reads the members' embeddings side by side, each given an equal share.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from game.model.classifier import member_file
from training import data
from training.model import Ensemble, arch_of, load_checkpoint, run_of, save, served_path
from training.train import calibration_inputs, fit_temperatures


def ensemble(members: list[Path], out: Path, data_dir: Path, log=print) -> Path:
    """The ensemble of the checkpoints `members` saved at `out` (its served model beside it)."""
    if len(members) < 2:
        raise ValueError(f"an ensemble needs two members at least, got {len(members)}")
    if served_path(out).resolve() in {served_path(m).resolve() for m in members}:
        raise ValueError(f"--out {out} would overwrite a member")
    loaded = [load_checkpoint(m) for m in members]
    categories = json.loads(loaded[0][1]["categories"])
    words = run_of(loaded[0][1]).get("config", {}).get("words", "")
    for path, (_, meta) in zip(members, loaded):
        if json.loads(meta["categories"]) != categories:
            raise ValueError(f"{path} was trained on other categories than {members[0]}")
        if "members" in arch_of(meta):
            raise ValueError(f"{path} is an ensemble already: name its members instead")
        if run_of(meta).get("config", {}).get("words", "") != words:
            raise ValueError(f"{path} was trained on other words than {members[0]} (--words)")
    # Calibrated on the validation drawings of the words the members trained on (all, by default).
    words = [w for w in words.split(",") if w] or None
    found, splits = data.load(data_dir, words, log=log)
    if found != categories:
        raise ValueError(f"{members[0]} was trained on other categories than the data's")
    model = Ensemble([m for m, _ in loaded], [float(meta.get("one_view_temperature", meta["temperature"]))
                                             for _, meta in loaded]).eval()
    x, y = calibration_inputs(splits["val"])
    temperatures = fit_temperatures(model, x, y)
    first = loaded[0][1]
    # Each member under the path it was named by: the card's commands make it there again.
    extra = {"members": [{"file": str(p), **run_of(meta)} for p, (_, meta) in zip(members, loaded)],
             **{k: json.loads(first[k]) for k in ("data_counts", "restyle") if k in first}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    served = save(model, out, categories, temperatures, {"members": [arch_of(meta) for _, meta in loaded]},
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
    weights = [member_file(served, i) for i in range(len(args.members))]
    print(f"wrote {served} with its weights ({', '.join(f'{f.name} {f.stat().st_size / 1e6:.1f} MB' for f in weights)}) "
          "and its reference bank")
    return 0
