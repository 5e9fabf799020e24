"""The doodle network in torch: its architecture, the training checkpoint, and the ONNX file
the game serves.

Training and calibration work on the checkpoint (`<name>.safetensors`: weights and metadata);
`save` also exports the served model beside it (`<name>.onnx`: the network, the same
metadata), which `game.model.classifier` runs with onnxruntime, without torch, on each drawing and
its mirror (`MirrorViews` is that function in torch).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import timm
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from game.model import ink

# timm's ResNet-18 with narrow stages; 28x28 input, so the stem's max-pool is
# dropped to keep a 14x14 map in the first stage.
ARCH = {"name": "resnet18", "channels": [32, 64, 128, 256], "stem_maxpool": False}
ONNX_OPSET = 18
# The metadata `save` writes itself, in its order; the rest is its `extra`.
SAVED_KEYS = ("categories", "temperature", "one_view_temperature", "arch", "input")


def build_model(num_classes: int, arch: dict = ARCH) -> torch.nn.Module:
    model = timm.create_model(arch["name"], pretrained=False, in_chans=1, num_classes=num_classes,
                              channels=tuple(arch["channels"]))
    if not arch["stem_maxpool"]:
        model.maxpool = torch.nn.Identity()
    return model


class MirrorViews(torch.nn.Module):
    """The model's logits averaged over each drawing and its left-right mirror, in one batch:
    a mirrored doodle is still the same word, and two views err less than one. The function
    the game serves (game.model.classifier), so training validates and calibrates on it."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.cat([x, x.flip(3)])).unflatten(0, (2, -1)).mean(0)


def bitmaps_to_tensor(bitmaps) -> torch.Tensor:
    """uint8 (N, 784) or (N, 28, 28) Google-style bitmaps -> float (N, 1, 28, 28) in [0, 1]."""
    x = torch.from_numpy(np.array(bitmaps, dtype=np.uint8))  # a copy: inputs may be read-only memory maps
    return x.reshape(-1, 1, ink.SIDE, ink.SIDE).float().div_(255.0)


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (AMX or AVX-512 BF16, through oneDNN)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def served_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".onnx")


def checkpoint_metadata(path: str | Path) -> dict[str, str]:
    """A checkpoint's metadata (categories, temperature, arch, history...), with clear errors
    for a missing file or one that is not ours."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"model file not found: {path} (train one with `python -m training train`)")
    with safe_open(str(path), "np") as f:
        meta = f.metadata() or {}
    if "categories" not in meta:
        raise ValueError(f"{path} is not a Doodle Lab checkpoint (no categories in its metadata)")
    return meta


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, str]]:
    meta = checkpoint_metadata(path)
    model = build_model(len(json.loads(meta["categories"])), json.loads(meta.get("arch", json.dumps(ARCH))))
    model.load_state_dict(load_file(str(path)))
    return model.eval(), meta


def export_onnx(model: torch.nn.Module, path: Path, meta: dict[str, str]) -> None:
    """The served model: `model` in float32, any batch size, `meta` as the ONNX file's metadata."""
    import onnx

    was_training = model.training
    model.eval()
    try:
        program = torch.onnx.export(
            model, (torch.zeros(2, 1, ink.SIDE, ink.SIDE),), input_names=["bitmaps"],
            output_names=["logits"], dynamic_shapes={"x": {0: torch.export.Dim("drawings", min=1, max=65536)}},
            opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False)
    finally:
        model.train(was_training)
    proto = program.model_proto
    onnx.helper.set_model_props(proto, meta)
    onnx.save(proto, str(path))


def save(model: torch.nn.Module, path: Path, categories: list[str], temperatures: tuple[float, float],
         extra: dict | None = None) -> Path:
    """Write the checkpoint at `path` and the served ONNX model beside it; returns the latter.
    `temperatures`: (with the mirror view, with one view)."""
    meta = dict(zip(SAVED_KEYS, (json.dumps(categories), repr(float(temperatures[0])), repr(float(temperatures[1])),
                                 json.dumps(ARCH), "28x28 Google numpy_bitmap style, white ink on black, /255")))
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    model = model.cpu()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=meta)
    served = served_path(path)
    export_onnx(model, served, meta)
    return served
