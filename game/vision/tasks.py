"""The lab's nine tasks: what each is and where it is used (two lines on its page), what it
takes (a photo, a video clip, or nothing), its models (the first is the default; the config
may change both), and how a model's output becomes the JSON the page draws.

Every `run(pipe, input, options)` returns a dict; the page knows these result fields:
    labels    [{"label", "score"}, ...] best first                  -> bars
    objects   [{"label", "score", "box": [x0, y0, x1, y1]}, ...]    -> boxes on the photo
    segments  [{"label", "score", "area", "mask": PNG data URL}]    -> coloured masks, toggles
    depth     {"png": data URL, "scale": data URL, "min", "max"}    -> a colour-scaled map
    bitmap    PNG data URL of the 28 x 28 input                     -> what the doodle model saw
    frames    [{"time", "jpeg": data URL}, ...]                     -> the frames a video model saw
    upscaled  {"png", "input": data URLs, "width", "height", "scale"} -> the input beside it, a slider between
    image     {"png": data URL, "width", "height"}                  -> a generated image
and `notes` [str], what was done to the input, which the API adds to its own.
Coordinates and masks are in the photo's pixels as the lab returns it (upright, scaled down).
Labels are the models' own: ImageNet's, COCO's and ADE20K's English names as the model
gives them (no catalogue has them), and the doodle model's English category ids, which
the page names in its language (static/i18n.js's `word`), as the game's wire does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
# Lazy: the tasks are module data, worded when a page shows them, in its request's language.
from flask_babel import lazy_gettext as _
from PIL import Image

from game.vision import VisionError
from game.vision.doodle_photo import photo_to_bitmap
from game.vision.images import data_url
from game.vision.pipelines import DOODLE, EFFICIENTNET
from game.vision.videos import Clip

TOP_K = 5
FRAME_THUMB_SIDE = 160  # the frames a video model saw, as the page shows them
GENERATE_STEPS = 50  # a generation's default denoising steps, a pass of the model each: minutes on a CPU
MAX_STEPS = 1000  # DDPM's own training schedule: more steps than this it has none for
MAX_OBJECTS = 100
MAX_SEGMENTS = 40
MAX_LABELS = 20
MAX_LABEL_CHARS = 60
DEPTH_COLORMAP = "inferno"


PHOTO, VIDEO = "photo", "video"


@dataclass(frozen=True)
class Task:
    name: str  # in the URLs: /vision/<name>, /api/vision/<name>
    title: str  # title, what and where: lazy strings, in the language of the page showing them
    what: str  # what the task is, one line
    where: str  # where it is used, one line
    hf_task: str  # the Hugging Face task: transformers' pipeline, or pipelines.LOADERS' class
    models: tuple[str, ...]  # the default list; the first is the default
    run: Callable[[Any, Any, dict], dict]
    takes: str | None = PHOTO  # the input: PHOTO (an Image), VIDEO (a videos.Clip) or None (options only)


def scored(items) -> list[dict]:
    return [{"label": str(r["label"]), "score": round(float(r["score"]), 4)} for r in items]


def classify(pipe, image: Image.Image, options: dict) -> dict:
    return {"labels": scored(pipe(image, top_k=TOP_K))}


def detect(pipe, image: Image.Image, options: dict) -> dict:
    found = sorted(pipe(image, threshold=options["threshold"]), key=lambda r: -r["score"])[:MAX_OBJECTS]
    return {"objects": [{**s, "box": [int(r["box"][k]) for k in ("xmin", "ymin", "xmax", "ymax")]}
                        for s, r in zip(scored(found), found)]}


def segment(pipe, image: Image.Image, options: dict) -> dict:
    segments = []
    for r in pipe(image):
        mask = r["mask"].convert("L")
        if mask.size != image.size:
            mask = mask.resize(image.size, Image.Resampling.NEAREST)
        on = np.asarray(mask) > 127
        if not on.any():
            continue
        segments.append({"label": str(r["label"]),
                         "score": None if r.get("score") is None else round(float(r["score"]), 4),
                         "area": round(float(on.mean()), 4),
                         # 1-bit PNG: a 1024 x 768 mask is a few KB
                         "mask": data_url(Image.fromarray(on).convert("1"), optimize=True)})
    segments.sort(key=lambda s: -s["area"])
    return {"segments": segments[:MAX_SEGMENTS]}


def estimate_depth(pipe, image: Image.Image, options: dict) -> dict:
    from matplotlib import colormaps

    depth = np.asarray(pipe(image)["predicted_depth"].detach().float().cpu().squeeze(), dtype=np.float32)
    if depth.shape != (image.height, image.width):
        depth = np.asarray(Image.fromarray(depth, "F").resize(image.size, Image.Resampling.BILINEAR))
    lo, hi = float(depth.min()), float(depth.max())
    norm = (depth - lo) / (hi - lo) if hi > lo else np.zeros_like(depth)
    cmap = colormaps[DEPTH_COLORMAP]
    coloured = (cmap(norm)[..., :3] * 255).astype(np.uint8)
    scale = (cmap(np.linspace(0, 1, 256))[None, :, :3] * 255).astype(np.uint8)
    return {"depth": {"png": data_url(Image.fromarray(coloured)), "scale": data_url(Image.fromarray(scale)),
                      "min": float(f"{lo:.4g}"), "max": float(f"{hi:.4g}"), "colormap": DEPTH_COLORMAP}}


def zero_shot(pipe, image: Image.Image, options: dict) -> dict:
    results = pipe(image, candidate_labels=options["labels"])
    return {"labels": sorted(scored(results), key=lambda r: -r["score"])}


def doodle(classifier, image: Image.Image, options: dict) -> dict:
    bitmap = photo_to_bitmap(image)
    guesses = classifier.classify_bitmaps(bitmap.reshape(1, -1), TOP_K)[0]
    return {"labels": [{"label": w, "score": round(p, 4)} for w, p in guesses],
            "bitmap": data_url(Image.fromarray(bitmap, "L"))}


def classify_video(classifier, clip: Clip, options: dict) -> dict:
    frames, times = clip.sample(classifier.frames)
    return {"labels": scored(classifier(frames, top_k=TOP_K)),
            "frames": [{"time": t, "jpeg": data_url(thumbnail(f), "JPEG", quality=80)} for f, t in zip(frames, times)]}


def thumbnail(img: Image.Image) -> Image.Image:
    img = img.copy()
    img.thumbnail((FRAME_THUMB_SIDE, FRAME_THUMB_SIDE), Image.Resampling.BILINEAR)
    return img


def upscale(upscaler, image: Image.Image, options: dict) -> dict:
    # The result's side is bounded as a photo's is: the photo is first scaled down to 1/scale of that.
    bound = max(1, options["max_side"] // upscaler.scale)
    notes = []
    if max(image.size) > bound:
        before = image.size
        image = image.copy()
        image.thumbnail((bound, bound), Image.Resampling.LANCZOS)
        notes.append(_("scaled down from %(width)s × %(height)s to %(new_width)s × %(new_height)s pixels before "
                       "upscaling, so that the result is at most %(side)s pixels a side", width=before[0],
                       height=before[1], new_width=image.width, new_height=image.height, side=options["max_side"]))
    result = upscaler(image)
    # The input as the model got it: the page compares the result with its plain enlargement.
    return {"upscaled": {"png": data_url(result), "input": data_url(image), "width": result.width,
                         "height": result.height, "scale": upscaler.scale}, "notes": notes}


def generate(denoiser, _input, options: dict) -> dict:
    image = denoiser(options["steps"], options["progress"])
    return {"image": {"png": data_url(image), "width": image.width, "height": image.height}}


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("classification", _("Image classification"),
         _("Which of a fixed set of labels (ImageNet's 1,000 here) best describes the whole photo."),
         _("Used to sort photo libraries, screen X-rays and skin lesions, spot plant diseases, check products on a line."),
         "image-classification",
         (EFFICIENTNET, "google/vit-base-patch16-224", "microsoft/resnet-50", "facebook/deit-base-patch16-224"),
         classify),
    Task("detection", _("Object detection"),
         _("Finds each object in the photo: a box, a label and a score for every one."),
         _("Used in autonomous driving, counting cells or people, reading document layouts, checking shelves in shops."),
         "object-detection", ("facebook/detr-resnet-50", "hustvl/yolos-small"), detect),
    Task("segmentation", _("Image segmentation"),
         _("Labels every pixel: which region of the photo is sky, road, person, wall…"),
         _("Used to outline tumours and organs in medical scans, in self-driving cars, photo editing and satellite maps."),
         "image-segmentation",
         ("nvidia/segformer-b0-finetuned-ade-512-512", "facebook/mask2former-swin-tiny-ade-semantic"), segment),
    Task("depth", _("Depth estimation"),
         _("Guesses how far away each pixel is, from a single photo."),
         _("Used by robots and drones to avoid obstacles, in augmented reality, portrait-mode blur and 3-D scanning."),
         "depth-estimation", ("Intel/dpt-hybrid-midas", "Intel/zoedepth-nyu-kitti"), estimate_depth),
    Task("zero-shot", _("Zero-shot classification"),
         _("Scores labels you type yourself: the model was never trained on them, it matches text and image."),
         _("Used to search photo collections in words, sort documents and moderate content with no new training."),
         "zero-shot-image-classification", ("openai/clip-vit-base-patch32",), zero_shot),
    Task("doodle", _("Doodle photo"),
         _("Draw with a pen on paper, take a photo: it becomes a 28 × 28 doodle for the game's own classifier."),
         _("The same idea reads handwriting on forms and cheques, and digitises sketches and whiteboards."),
         "", (DOODLE,), doodle),
    Task("video", _("Video classification"),
         _("Names the action in a short clip: the model looks at a handful of frames across it, and how they change."),
         _("Used to find moments in sports and TV archives, flag unsafe videos, watch for falls in care homes, count exercises."),
         "video-classification", ("MCG-NJU/videomae-base-finetuned-kinetics", "facebook/timesformer-base-finetuned-k400"),
         classify_video, VIDEO),
    Task("image-to-image", _("Image to image: super-resolution"),
         _("Makes a photo twice as large, inventing the fine detail a plain enlargement would blur."),
         _("Used to restore old photos and films, sharpen satellite and microscope images, and upscale games and video streams."),
         "image-to-image", ("caidas/swin2SR-classical-sr-x2-64", "caidas/swin2SR-classical-sr-x4-64"), upscale),
    Task("generate", _("Image generation"),
         _("Starts from pure noise and removes a little of it at each step, until an image the model learnt to make appears."),
         _("The same denoising makes the pictures of text-to-image tools, fills in missing parts of photos, and designs molecules."),
         "unconditional-image-generation", ("google/ddpm-cat-256", "google/ddpm-cifar10-32"), generate, None),
)}


def parse_options(task: Task, form) -> dict:
    """The request's options for `task` (form fields or query arguments); VisionError(400)
    when they are wrong."""
    options: dict = {}
    if task.name == "detection":
        raw = form.get("threshold", "0.5")
        try:
            options["threshold"] = float(raw)
        except ValueError:
            options["threshold"] = -1.0
        if not 0.0 <= options["threshold"] <= 1.0:
            raise VisionError(400, _("threshold must be a number from 0 to 1, got %(got)s", got=repr(raw[:20])))
    if task.name == "zero-shot":
        labels = list(dict.fromkeys(s.strip() for s in re.split(r"[,\n]", form.get("labels", "")) if s.strip()))
        if len(labels) < 2:
            raise VisionError(400, _("type at least two labels, separated by commas (e.g. cat, dog, car)"))
        if len(labels) > MAX_LABELS or any(len(s) > MAX_LABEL_CHARS for s in labels):
            raise VisionError(400, _("at most %(labels)s labels of at most %(chars)s characters each",
                                     labels=MAX_LABELS, chars=MAX_LABEL_CHARS))
        options["labels"] = labels
    if task.name == "generate":
        raw = form.get("steps", str(GENERATE_STEPS))
        try:
            options["steps"] = int(raw)
        except ValueError:
            options["steps"] = 0
        if not 1 <= options["steps"] <= MAX_STEPS:
            raise VisionError(400, _("steps must be a whole number from 1 to %(max)s, got %(got)s", max=MAX_STEPS,
                                     got=repr(raw[:20])))
    return options
