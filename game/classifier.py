"""The doodle classifier at inference: a drawing in, calibrated guesses out.

    clf = DoodleClassifier.load()          # the shipped model; .load(path) for another
    clf.classify(drawing, k=5)             # -> [(word, probability), ...] best first
    clf.classify_batch(drawings, k=5)      # -> one such list per drawing
    clf.classify_bitmaps(bitmaps, k=5)     # Google numpy_bitmap rows, uint8 (N, 784)
    clf.categories                         # the 345 words, model order
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import timm
import torch
from torch.fx.experimental.optimization import fuse
from safetensors.torch import load_file, save_file

from game import ink
from game.inference import model_metadata

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parents[1] / "data"
DEFAULT_MODEL = DATA / "models" / "doodle-resnet18s.safetensors"
# timm's ResNet-18 with narrow stages; 28x28 input, so the stem's max-pool is
# dropped to keep a 14x14 map in the first stage.
ARCH = {"name": "resnet18", "channels": [32, 64, 128, 256], "stem_maxpool": False}


def build_model(num_classes: int, arch: dict = ARCH) -> torch.nn.Module:
    model = timm.create_model(arch["name"], pretrained=False, in_chans=1, num_classes=num_classes,
                              channels=tuple(arch["channels"]))
    if not arch["stem_maxpool"]:
        model.maxpool = torch.nn.Identity()
    return model


def bitmaps_to_tensor(bitmaps) -> torch.Tensor:
    """uint8 (N, 784) or (N, 28, 28) Google-style bitmaps -> float (N, 1, 28, 28) in [0, 1]."""
    x = torch.from_numpy(np.array(bitmaps, dtype=np.uint8))  # a copy: inputs may be read-only memory maps
    return x.reshape(-1, 1, ink.SIDE, ink.SIDE).float().div_(255.0)


def save(model: torch.nn.Module, path: Path, categories: list[str], temperature: float,
         extra: dict | None = None) -> None:
    meta = {"categories": json.dumps(categories), "temperature": repr(float(temperature)),
            "arch": json.dumps(ARCH), "input": "28x28 Google numpy_bitmap style, white ink on black, /255"}
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=meta)


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (AMX or AVX-512 BF16,
    through oneDNN): there a batch of 64 drawings runs 2.8 times faster than in float32."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


# oneDNN lays a convolution's weights out for one input shape: batches of this many drawings
# (the server's largest, events.BATCH_MAX) get that layout; other sizes run on the same numbers,
# batches of 1 to 16 in 1.9-4.9 ms on one core, against 3.3-5.6 ms unpacked.
PACK_BATCH = 16


class _PackedConv2d(torch.nn.Module):
    """A convolution whose weights oneDNN reordered once, at load, into its own layout for
    inputs of `input_size`. Unpacked, each call reorders them again: 1.4 of the 3.3 ms a
    batch of 1 to 4 drawings took in bfloat16. The same numbers as the Conv2d it replaces."""

    def __init__(self, conv: torch.nn.Conv2d, input_size: list[int]):
        super().__init__()
        self.args = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(conv.weight.detach(), *self.args, input_size)
        self.bias = None if conv.bias is None else conv.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, *self.args, "none", [], "")


def prepack(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """`model` (channels-last, `dtype`) with its convolutions' weights in oneDNN's layout
    (`_PackedConv2d`), where torch has oneDNN and its (private) packing ops; unchanged elsewhere."""
    if not torch.backends.mkldnn.is_available():
        return model
    convs = {name: m for name, m in model.named_modules()
             if type(m) is torch.nn.Conv2d and m.padding_mode == "zeros" and not isinstance(m.padding, str)}
    sizes: dict[str, list[int]] = {}

    def record(name: str, args: tuple) -> None:  # None: a pre-hook's return value would replace args
        sizes[name] = list(args[0].shape)

    hooks = [m.register_forward_pre_hook(lambda _m, args, name=name: record(name, args)) for name, m in convs.items()]
    try:
        with torch.inference_mode():
            model(torch.zeros(PACK_BATCH, 1, ink.SIDE, ink.SIDE, dtype=dtype).to(memory_format=torch.channels_last))
    finally:
        for hook in hooks:
            hook.remove()
    try:
        packed = {name: _PackedConv2d(convs[name], size) for name, size in sizes.items()}
    except (AttributeError, NotImplementedError, RuntimeError) as e:
        log.warning("convolutions left unpacked (%s: %s); the model runs, a little slower", type(e).__name__, e)
        return model
    for name, conv in packed.items():
        model.set_submodule(name, conv)
    return model


class DoodleClassifier:
    def __init__(self, model: torch.nn.Module, categories: list[str], temperature: float = 1.0,
                 dtype: torch.dtype | None = None):
        # Batch norm folded into the convolutions: the same function (to 1e-5), 12 % faster
        # a drawing, and inference is all this class does.
        self.model = fuse(model.eval())
        # bfloat16 in channels-last layout (oneDNN's fast path) where the CPU has it: the
        # probabilities move by at most 0.015 and 99.6 % of top guesses stay (1,000 held-out
        # bitmaps, test_classifier), float32 elsewhere.
        self.dtype = dtype or (torch.bfloat16 if native_bfloat16() else torch.float32)
        self.model = prepack(self.model.to(self.dtype, memory_format=torch.channels_last), self.dtype)
        self.categories = list(categories)
        self.temperature = float(temperature)

    @classmethod
    def load(cls, path: str | Path | None = None, dtype: torch.dtype | None = None) -> "DoodleClassifier":
        """The model at `path` (default: the shipped one); `dtype` float32 or bfloat16
        (default: bfloat16 where the CPU has it natively)."""
        path = Path(path) if path else DEFAULT_MODEL
        meta = model_metadata(path)
        categories = json.loads(meta["categories"])
        model = build_model(len(categories), json.loads(meta.get("arch", json.dumps(ARCH))))
        model.load_state_dict(load_file(str(path)))
        return cls(model, categories, float(meta.get("temperature", 1.0)), dtype)

    @torch.inference_mode()
    def probabilities(self, bitmaps) -> np.ndarray:
        """Calibrated probabilities, (N, categories), for Google-style bitmaps."""
        x = bitmaps_to_tensor(bitmaps)
        if len(x) == 0:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        logits = self.model(x.to(self.dtype, memory_format=torch.channels_last)).float()
        return torch.softmax(logits / self.temperature, dim=1).numpy()

    def _top(self, probs: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        k = min(k, probs.shape[1])
        idx = np.argsort(-probs, axis=1)[:, :k]
        return [[(self.categories[j], float(p[j])) for j in row] for p, row in zip(probs, idx)]

    def classify(self, drawing, k: int = 5) -> list[tuple[str, float]]:
        return self.classify_batch([drawing], k)[0]

    def classify_batch(self, drawings, k: int = 5) -> list[list[tuple[str, float]]]:
        return self._top(self.probabilities(ink.to_bitmaps(_listed(drawings))), k)

    def simplify_and_classify(self, drawings, k: int = 5) -> list[tuple[list, list[tuple[str, float]]]]:
        """(Google's simplified drawing, guesses) for each drawing: classify_batch's guesses,
        with the simplification they were made from (one pass of the ink pipeline for both)."""
        simplified, bitmaps = ink.simplify_and_render(_listed(drawings))
        return list(zip(simplified, self._top(self.probabilities(bitmaps), k)))

    def classify_bitmaps(self, bitmaps, k: int = 5) -> list[list[tuple[str, float]]]:
        arr = np.asarray(bitmaps)
        if arr.dtype != np.uint8 or arr.ndim != 2 or arr.shape[1] != ink.SIDE * ink.SIDE:
            raise ValueError(f"bitmaps must be uint8 of shape (N, 784) like Google's numpy_bitmap, "
                             f"got {arr.dtype} {arr.shape}")
        return self._top(self.probabilities(arr), k)


def _listed(drawings) -> list:
    if not isinstance(drawings, (list, tuple)):
        raise ValueError(f"drawings must be a list of drawings, got {type(drawings).__name__}")
    return list(drawings)
