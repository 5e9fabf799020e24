"""The lab's six tasks: what each is and where it is used (two lines on its page), its
models (the first is the default; the config may change both), and how a model's output
becomes the JSON the page draws.

Every `run(pipe, image, options)` returns a dict; the page knows these result fields:
    labels    [{"label", "score"}, ...] best first                  -> bars
    objects   [{"label", "score", "box": [x0, y0, x1, y1]}, ...]    -> boxes on the photo
    segments  [{"label", "score", "area", "mask": PNG data URL}]    -> coloured masks, toggles
    depth     {"png": data URL, "scale": data URL, "min", "max"}    -> a colour-scaled map
    bitmap    PNG data URL of the 28 x 28 input                     -> what the doodle model saw
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

TOP_K = 5
MAX_OBJECTS = 100
MAX_SEGMENTS = 40
MAX_LABELS = 20
MAX_LABEL_CHARS = 60
DEPTH_COLORMAP = "inferno"


@dataclass(frozen=True)
class Task:
    name: str  # in the URLs: /vision/<name>, /api/vision/<name>
    title: str  # title, what and where: lazy strings, in the language of the page showing them
    what: str  # what the task is, one line
    where: str  # where it is used, one line
    hf_task: str  # transformers' pipeline task
    models: tuple[str, ...]  # the default list; the first is the default
    run: Callable[[Any, Image.Image, dict], dict]


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
    return options
