"""The doodle network in torch: its architecture, the training checkpoint, and the ONNX file
the game serves.

Training and calibration work on the checkpoint (`<name>.safetensors`: weights and metadata);
`save` also exports the served model beside it (`<name>.onnx`: the network quantized to int8,
the same metadata), which `game.model.classifier` runs with onnxruntime, without torch, on each drawing and
its mirror (`MirrorViews` is that function in torch). The served model has two outputs: the
logits, and pooled features of each network's last stages and of its last layer's input, side
by side ("embedding"), from which a classroom teaches the AI a new word (game/model/teach.py);
`write_reference` saves beside it the reference drawings' embeddings that teaching calibrates
against (`<name>.reference.npz`). An ensemble keeps each member's weights in files of their own
(`<name>.member<i>.safetensors`, `<name>.member<i>.onnx.data`: ONNX external data), so that no
file grows with the number of members.
"""
from __future__ import annotations

import glob
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import timm
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from game.model import ink
from game.model.classifier import DEFAULT_MODEL, DoodleClassifier, logsumexp, member_file, model_file
from game.model.teach import model_digest, reference_path
from training import data

# The architectures `python -m training train --arch` builds, by name. resnet18s: timm's
# ResNet-18 with narrow stages, from scratch; 28x28 input, so the stem's max-pool is dropped to
# keep a 14x14 map in the first stage. lite0: EfficientNet-Lite0 with the ImageNet weights the
# game's vision pages ship (game.vision.pipelines), fine-tuned on the bitmaps upsampled to `size`.
ARCHS = {
    "resnet18s": {"name": "resnet18", "channels": [32, 64, 128, 256], "stem_maxpool": False},
    "lite0": {"name": "tf_efficientnet_lite0", "pretrained": "imagenet", "size": 56},
}
ONNX_OPSET = 18
# How many of a network's last stages the served embedding pools (logits_and_parts).
EMBEDDING_STAGES = 2
# The metadata `save` writes itself, in its order; the rest is its `extra`.
SAVED_KEYS = ("categories", "temperature", "one_view_temperature", "arch", "input")
# What a training run leaves in its checkpoint's metadata, which an ensemble keeps of each member.
RUN_KEYS = ("config", "history", "processes", "training_precision")


class PhotoInput(torch.nn.Module):
    """A network pretrained on photos, fed the game's bitmaps: upsampled to `size`, turned to
    black ink on white in the photos' (x - 127) / 128 range, as three equal channels. In the
    network, so the served model still takes the game's 28x28 bitmaps."""

    def __init__(self, net: torch.nn.Module, size: int):
        super().__init__()
        self.net, self.size = net, size

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (1.0 - 2.0 * x).expand(-1, 3, -1, -1)

    def forward_intermediates(self, x: torch.Tensor, indices: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.net.forward_intermediates(self.pixels(x), indices=indices)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(x, pre_logits=pre_logits)

    def get_classifier(self) -> torch.nn.Module:
        return self.net.get_classifier()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pixels(x))


class Ensemble(torch.nn.Module):
    """Networks trained apart, served as one (`python -m training ensemble`): the mean of their
    log-probabilities, each at its own one-view temperature, as the logits (networks that err
    on different drawings err less together); the embedding is the members' side by side."""

    def __init__(self, members: list[torch.nn.Module], temperatures: list[float] | None = None):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.register_buffer("temperatures", torch.tensor(temperatures or [1.0] * len(members)))

    def combine(self, logits: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([torch.log_softmax(z / self.temperatures[i], dim=1) for i, z in enumerate(logits)]).mean(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine([m(x) for m in self.members])


def build_model(num_classes: int, arch: dict, pretrained: bool = False) -> torch.nn.Module:
    """The network `arch` (one of ARCHS, or an ensemble's {"members": [...]}) with `num_classes`
    outputs; `pretrained` starts it from its ImageNet weights where it has them (training), not
    where a checkpoint's follow (loading)."""
    if "members" in arch:
        return Ensemble([build_model(num_classes, a) for a in arch["members"]])
    if "pretrained" in arch:
        if pretrained:
            from game.vision.pipelines import EfficientNetLite0

            net = EfficientNetLite0.load().model
            net.reset_classifier(num_classes)
        else:
            net = timm.create_model(arch["name"], pretrained=False, num_classes=num_classes)
        return PhotoInput(net, arch["size"])
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


class WithEmbedding(torch.nn.Module):
    """The served network: (logits, embedding), the logits exactly the model's, the embedding
    its parts (`logits_and_parts`) side by side, each times its `weights` (embedding_weights;
    none: as they come)."""

    def __init__(self, model: torch.nn.Module, weights: torch.Tensor | None = None):
        super().__init__()
        self.model = model
        self.weights = weights

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, parts = logits_and_parts(self.model, x)
        parts = [p for network in parts for p in network]
        if self.weights is not None:
            parts = [p * self.weights[i] for i, p in enumerate(parts)]
        return logits, torch.cat(parts, dim=1)


def logits_and_parts(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
    """`model`'s logits for `x`, and each network's parts of the served embedding: the feature
    maps of its last EMBEDDING_STAGES stages, pooled, then the pre-logit features its classifier
    reads where they are more than the last stage's pool (lite0's head convolution). A word
    the networks never saw is taught on all of them: earlier stages keep more of what tells
    drawings apart than the last layer, trained to tell the known words apart, does
    (benchmarks/teach_word.py). An ensemble's: its combined logits, its members' parts in order."""
    if isinstance(model, Ensemble):
        outputs = [logits_and_parts(m, x) for m in model.members]
        return model.combine([logits for logits, _ in outputs]), [p for _, parts in outputs for p in parts]
    features, stages = model.forward_intermediates(x, indices=EMBEDDING_STAGES)
    pre_logits = model.forward_head(features, pre_logits=True)
    pooled = [s.mean((2, 3)) for s in (stages[:-1] if features is stages[-1] else stages)]
    return model.get_classifier()(pre_logits), [[*pooled, pre_logits]]


@torch.no_grad()
def part_widths(model: torch.nn.Module) -> list[list[int]]:
    """How wide each network's parts of the served embedding are (logits_and_parts), in order."""
    return [[p.shape[1] for p in network]
            for network in logits_and_parts(model.eval(), torch.zeros(1, 1, ink.SIDE, ink.SIDE))[1]]


@torch.no_grad()
def embedding_weights(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A weight for each part of the served embedding that gives it an equal share of it on
    the bitmaps `x`: one over its mean centred length, over sqrt(parts)."""
    batches = [[p for network in logits_and_parts(model.eval(), b)[1] for p in network] for b in x.split(256)]
    lengths = torch.stack([torch.linalg.vector_norm(p - p.mean(0), dim=1).mean()
                           for p in (torch.cat(ps) for ps in zip(*batches))])
    return 1.0 / (lengths * len(lengths) ** 0.5)


def classifier_rows(model: torch.nn.Module) -> list[np.ndarray]:
    """Each network's classifier weight rows, which read its logits from its pre-logit part; an
    ensemble's members' over their temperatures (the units of the ensemble's logits where its
    members agree)."""
    if isinstance(model, Ensemble):
        return [rows / float(model.temperatures[i]) for i, m in enumerate(model.members) for rows in classifier_rows(m)]
    return [model.get_classifier().weight.detach().numpy()]


def bitmaps_to_tensor(bitmaps) -> torch.Tensor:
    """uint8 (N, 784) or (N, 28, 28) Google-style bitmaps -> float (N, 1, 28, 28) in [0, 1]."""
    x = torch.from_numpy(np.array(bitmaps, dtype=np.uint8))  # a copy: inputs may be read-only memory maps
    return x.reshape(-1, 1, ink.SIDE, ink.SIDE).float().div_(255.0)


def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (AMX or AVX-512 BF16, through oneDNN)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def served_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_suffix(".onnx")


def add_checkpoint_arguments(parser, model_help: str) -> None:
    """--model (a checkpoint, the shipped one by default) and --data, for the commands that
    work on a trained checkpoint with the data beside it (calibrate, export)."""
    parser.add_argument("--model", default=None, help=f"{model_help} (default: the shipped one)")
    parser.add_argument("--data", default=str(data.DEFAULT_DATA), help="Quick, Draw! data folder")


def checkpoint_argument(args) -> Path:
    """The checkpoint `--model` names, or the shipped one's."""
    return Path(args.model or DEFAULT_MODEL.with_suffix(".safetensors"))


def checkpoint_metadata(path: str | Path) -> dict[str, str]:
    """A checkpoint's metadata (categories, temperature, arch, history...), with clear errors
    for a missing file or one that is not ours."""
    model_file(path)
    with safe_open(str(path), "np") as f:
        meta = f.metadata() or {}
    if "categories" not in meta:
        raise ValueError(f"{path} is not a Doodle Lab checkpoint (no categories in its metadata)")
    return meta


def run_of(meta: dict[str, str]) -> dict:
    """The training run a checkpoint's metadata records (RUN_KEYS), decoded."""
    return {k: json.loads(meta[k]) for k in RUN_KEYS if k in meta}


def runs_of(meta: dict[str, str]) -> list[dict]:
    """The training runs behind a model: an ensemble's members (each with its `file`), or its own."""
    return json.loads(meta["members"]) if "members" in meta else [run_of(meta)]


def arch_of(meta: dict[str, str]) -> dict:
    """The ARCHS entry a checkpoint's (or served model's) metadata names; before --arch, resnet18s."""
    return json.loads(meta["arch"]) if "arch" in meta else ARCHS["resnet18s"]


def member_of(name: str) -> int | None:
    """The member of an ensemble a weight belongs to, by its name in the state dict
    (`members.<i>.…`) or in the ONNX file (`model.members.<i>.…`); None for the ensemble's own."""
    found = re.match(r"(?:model\.)?members\.(\d+)\.", name)
    return int(found[1]) if found else None


def remove_member_files(path: Path) -> None:
    """An earlier ensemble's member files at `path` (one of more members would outlive it)."""
    for old in path.parent.glob(f"{glob.escape(path.stem)}.member*{path.suffix}*"):
        old.unlink()


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, str]]:
    meta = checkpoint_metadata(path)
    arch = arch_of(meta)
    model = build_model(len(json.loads(meta["categories"])), arch)
    state = load_file(str(path))
    for i in range(len(arch.get("members", []))):
        state.update(load_file(str(model_file(member_file(path, i)))))
    model.load_state_dict(state)
    return model.eval(), meta


def export_onnx(model: torch.nn.Module, path: Path, meta: dict[str, str], calibration: torch.Tensor | None = None,
                weights: torch.Tensor | None = None) -> None:
    """The served model: `model` for any batch size, its outputs the logits and the embedding
    (WithEmbedding, its parts times `weights`), `meta` as the ONNX file's metadata; in float32,
    or with `calibration` (bitmaps as the model takes them) quantized to int8 by onnxruntime
    (quantize_int8)."""
    import onnx

    was_training = model.training
    model.eval()
    try:
        program = torch.onnx.export(
            WithEmbedding(model, weights).eval(), (torch.zeros(2, 1, ink.SIDE, ink.SIDE),), input_names=["bitmaps"],
            output_names=["logits", "embedding"], dynamic_shapes={"x": {0: torch.export.Dim("drawings", min=1, max=65536)}},
            opset_version=ONNX_OPSET, dynamo=True, external_data=False, verbose=False)
    finally:
        model.train(was_training)
    proto = program.model_proto
    if calibration is not None:
        proto = quantize_int8(proto, calibration)
    # An ensemble's weights go one file a member beside it, and their digests into its
    # metadata: the .onnx file's bytes then name the weights it runs (game.model.teach.model_id).
    members: dict[int, list] = {}
    for tensor in proto.graph.initializer:
        if (i := member_of(tensor.name)) is not None:
            members.setdefault(i, []).append(tensor)
    remove_member_files(path)
    digests = {}
    for i, tensors in sorted(members.items()):
        location = member_file(path, i).name
        digest = hashlib.sha256()
        for tensor in tensors:
            if tensor.HasField("raw_data"):  # the weights; a quantized model's few scalars stay inline
                digest.update(tensor.raw_data)
                onnx.external_data_helper.set_external_data(tensor, location)
        digests[location] = "sha256:" + digest.hexdigest()
    onnx.helper.set_model_props(proto, {**meta, "precision": "float32" if calibration is None else "int8",
                                        **({"weights": json.dumps(digests)} if digests else {})})
    onnx.save(proto, str(path))


def quantize_int8(proto, calibration: torch.Tensor):
    """`proto` with its convolutions and linear layers in int8 (onnxruntime's static
    quantization: weights per channel, activations' ranges from `calibration` and its mirror,
    each range cut at the 99.999th percentile of what it saw): faster on CPUs with int8
    instructions, the test split's figures within their noise (README, "The classifier")."""
    import tempfile

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    x = np.concatenate([calibration.numpy(), calibration.flip(3).numpy()]).astype(np.float32)
    n = max(1, len(x) // 256)  # batches of one size: the percentile calibrator stacks them
    x = x[:len(x) // n * n]

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter({"bitmaps": b} for b in np.split(x, n))

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        float32, prepared, int8 = (Path(tmp) / name for name in ("float32.onnx", "prepared.onnx", "int8.onnx"))
        onnx.save(proto, str(float32))
        quant_pre_process(str(float32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(int8), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile)
        return onnx.load(str(int8))


def save_weights(model: torch.nn.Module, path: Path, meta: dict[str, str]) -> None:
    """The checkpoint: `model`'s weights at `path` with `meta`; an ensemble's members' weights
    one file a member beside it (member_file), as in its ONNX file."""
    members: dict[int | None, dict] = {}
    for k, v in model.state_dict().items():
        members.setdefault(member_of(k), {})[k] = v.detach().contiguous()
    remove_member_files(path)
    save_file(members.pop(None, {}), str(path), metadata=meta)
    for i, weights in members.items():
        save_file(weights, str(member_file(path, i)), metadata={"member": str(i), "of": path.name})


def save(model: torch.nn.Module, path: Path, categories: list[str], temperatures: tuple[float, float],
         arch: dict, val: data.Split, extra: dict | None = None) -> Path:
    """Write the checkpoint at `path`, the served ONNX model beside it and its reference bank of
    `val`'s drawings; returns the served model's path. `temperatures`: (with the mirror view, with
    one view); `arch`: the ARCHS entry it was built from (or an ensemble's)."""
    meta = dict(zip(SAVED_KEYS, (json.dumps(categories), repr(float(temperatures[0])), repr(float(temperatures[1])),
                                 json.dumps(arch), "28x28 Google numpy_bitmap style, white ink on black, /255")))
    meta.update({k: json.dumps(v) for k, v in (extra or {}).items()})
    model = model.cpu()
    save_weights(model, path, meta)
    return export_served(model, served_path(path), meta, val)


def export_served(model: torch.nn.Module, served: Path, meta: dict[str, str], val: data.Split) -> Path:
    """The served model at `served`, quantized on a quarter of the reference bank's drawings of
    `val`, and the bank beside it, computed by the served model; returns `served`."""
    x, labels = reference_rows(val)
    weights = embedding_weights(model, x)
    export_onnx(model, served, meta, calibration=x[::4], weights=weights)
    write_reference(model, served, x, labels, weights)
    return served


def reference_rows(split, per_word: int = 8) -> tuple[torch.Tensor, np.ndarray]:
    """The reference bank's drawings: up to `per_word` of each word's stroke drawings in
    `split` (the validation split: never trained on), whole and half drawn (the game judges
    drawings in progress); bitmaps and their labels."""
    taken: dict[int, int] = {}
    rows, labels = [], []
    for d, y in zip(split.drawings, split.drawing_labels):
        if taken.get(y, 0) < per_word:
            taken[y] = taken.get(y, 0) + 1
            for fraction in (0.5, 1.0):
                rows.append(ink.render(ink.raw_prefix(d, fraction)))
                labels.append(y)
    return bitmaps_to_tensor(np.stack(rows)), np.array(labels, dtype=np.int16)


def write_reference(model: torch.nn.Module, served: Path, x: torch.Tensor, labels: np.ndarray,
                    weights: torch.Tensor) -> Path:
    """`<served>.reference.npz`, what game.model.teach calibrates a taught word against: the
    embeddings of the reference drawings `x` (float16: a few MB) as the served model computes
    them, their labels, top calibrated logit and logsumexp, the bank's mean embedding, and `scale`, what a
    cosine between a centred embedding and a taught word's prototype is worth in calibrated
    logits: a weight row of `model`'s own mean length, applied to a pre-logit part of the mean
    centred length (the imprinting of Qi et al. 2018); an ensemble's, its members' mean. The
    served embedding's parts are `weights` times the model's."""
    clf = DoodleClassifier.load(served, mirror_up_to=None)
    logits, embeddings = clf.logits((x * 255).round().to(torch.uint8).numpy().reshape(len(x), -1))
    mean = embeddings.mean(axis=0)
    widths = part_widths(model)
    parts = np.split(embeddings, np.cumsum([w for network in widths for w in network])[:-1], axis=1)
    worth = []
    # Each network's pre-logit part is its last.
    for rows, last in zip(classifier_rows(model), np.cumsum([len(network) for network in widths]) - 1):
        pre_logits = parts[last] / float(weights[last])
        worth.append(np.linalg.norm(rows, axis=1).mean()
                     * np.linalg.norm(pre_logits - pre_logits.mean(axis=0), axis=1).mean())
    scale = float(np.mean(worth) / clf.temperature)
    path = reference_path(served)
    np.savez_compressed(path, embeddings=embeddings.astype(np.float16), labels=labels,
                        top_logits=logits.max(axis=1).astype(np.float32), logsumexp=logsumexp(logits).astype(np.float32),
                        mean=mean.astype(np.float32), scale=np.float32(scale), model=np.str_(model_digest(served)))
    return path
