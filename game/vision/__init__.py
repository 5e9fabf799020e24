"""The vision lab: upload a photo and see what a computer-vision model makes of it.

    images.py        an upload's bytes -> an upright RGB photo of bounded size, or a VisionError
    videos.py        a clip's bytes -> evenly spaced frames of bounded size, or a VisionError
    doodle_photo.py  a photo of a pen drawing -> the doodle classifier's 28 x 28 bitmap
    pipelines.py     the models: transformers pipelines, our loaders for the tasks it has none for
                     (video, super-resolution, DDPM), the offline EfficientNet-Lite0, the cache
    tasks.py         the nine tasks: what each is and takes, its models, how its result becomes JSON
    generation.py    image generation as jobs: a bounded queue, one a client, progress as events
    routes.py        the pages (/vision, /vision/<task>) and the API (POST /api/vision/<task>)
    __main__.py      `python -m game.vision pull [TASK...]`: download models ahead of a class
"""
from __future__ import annotations


class VisionError(Exception):
    """A request the lab cannot serve; `status` is the HTTP status, `message` says why in
    words a student can act on (the API answers `{"error": message}`), in the request's
    language: a lazy string where it is made outside the request (the worker threads)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
