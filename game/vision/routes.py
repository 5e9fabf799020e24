"""The vision lab's pages and API.

    GET  /vision                  the tasks
    GET  /vision/<task>?model=ID  a task's page: upload or take a photo (or a clip), see the result drawn
    POST /api/vision/<task>       multipart field `image` (`video` for a clip; or either as the raw
                                  body), `model`, and the task's options (`threshold`, `labels`);
                                  `photo=1` adds the photo as the model saw it (a data URL).
                                  The generate task takes no input: its `steps` queue a job (202)
    GET  /api/vision/generate/<job>/events   the job's progress and result, server-sent events
    POST /api/vision/generate/<job>/cancel   stops it

Photos and clips decode in the request's thread, at most VISION_DECODES at once: a request
waits at most VISION_DECODE_WAIT seconds for its turn (then 503). Models run on the lab's own
worker threads, never a request's: a request waits at most VISION_TIMEOUT seconds (then 504;
the model finishes in the background and stays loaded). Generations, minutes long, run on
threads of their own as jobs (generation.py).
Every refusal is `{"error": message}` with a 4xx or 5xx status, in the request's language.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import threading
import time

from flask import (Blueprint, Flask, Response, current_app, jsonify, render_template, request, stream_with_context,
                   url_for)
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from game.model.cpus import unpin_thread
from game.model.service import ModelService
from game.vision import VisionError
from game.vision.generation import Generations, Job
from game.vision.images import Photo, data_url, open_photo, size_text
from game.vision.pipelines import (BUILTIN_TASKS, DOODLE, EFFICIENTNET, EfficientNetLite0, ModelNotDownloaded,
                                   Pipelines)
from game.vision.tasks import GENERATE_STEPS, MAX_STEPS, PHOTO, TASKS, VIDEO, Task, parse_options
from game.vision.videos import Clip, open_clip

bp = Blueprint("vision", __name__)

CONFIG_DEFAULTS = {
    "VISION_MODELS": {},  # task -> [model ids] (Hub ids, local directories, built-ins); unset tasks: tasks.py's
    "VISION_DEFAULT_MODELS": {},  # task -> the id used when a request names none; unset: the list's first
    "VISION_MAX_UPLOAD": 16 * 2**20,  # bytes in an upload (413 beyond); a phone photo is 2-12 MB
    "VISION_MAX_PIXELS": 64_000_000,  # pixels in a decoded image (413 beyond: a decompression bomb)
    # Memory an image takes decoded (413 beyond): 64 MP of 1-bit or 8-bit grey, 32 MP of
    # 16-bit grey, 16 MP of colour (a JPEG counts at the reduced scale it is decoded at).
    "VISION_MAX_DECODED": 64 * 2**20,
    "VISION_DECODES": 2,  # photos decoded at once; each takes up to about 2.5 times VISION_MAX_DECODED
    "VISION_DECODE_WAIT": 5.0,  # seconds a photo waits for a decode slot (503 beyond: the server is busy)
    "VISION_MAX_SIDE": 1024,  # photos are scaled down to this longest side before the model sees them
    "VISION_TIMEOUT": 60.0,  # seconds a request waits for its model (504 beyond); the first use loads it
    "VISION_CACHE_DIR": None,  # the Hugging Face cache to read models from; None: huggingface_hub's ($HF_HUB_CACHE)
    "VISION_WORKERS": 1,  # threads running models: more serve more students at once, each slower
    "VISION_MAX_LOADED": 9,  # models kept loaded (one a task by default); beyond, the least recently used goes
    "VISION_MAX_VIDEO_UPLOAD": 64 * 2**20,  # bytes in a clip (413 beyond); a phone records 30 s of 1080p in ~60 MB
    "VISION_MAX_VIDEO_SECONDS": 30.0,  # a clip's length (413 beyond), from its header and again while decoding
    "VISION_MAX_VIDEO_FRAMES": 1800,  # frames in a clip (413 beyond): 30 s at 60 fps; counted before decoding
    "VISION_MAX_VIDEO_PIXELS": 1920 * 1080,  # a frame's pixels (413 beyond): 1080p, upright or sideways
    "VISION_GENERATE_WORKERS": 1,  # images generated at once, each on its own thread
    "VISION_GENERATE_QUEUE": 4,  # generations waiting for a worker (503 beyond)
}


class VisionLab:
    """One app's lab: the configured models per task, the loaded pipelines, the workers."""

    def __init__(self, app: Flask, game_model: ModelService):
        cfg = app.config
        self.models: dict[str, list[str]] = {}
        self.defaults: dict[str, str] = {}
        for name, task in TASKS.items():
            models = list(dict.fromkeys(cfg["VISION_MODELS"].get(name) or task.models))
            default = cfg["VISION_DEFAULT_MODELS"].get(name) or models[0]
            if default not in models:
                raise ValueError(f"VISION_DEFAULT_MODELS[{name!r}] = {default!r} is not in its VISION_MODELS {models}")
            for model in models:
                # A built-in serves its own task only; a task without a transformers pipeline has only built-ins.
                if BUILTIN_TASKS.get(model, name if task.hf_task else None) != name:
                    raise ValueError(f"VISION_MODELS[{name!r}] cannot include {model!r}")
            self.models[name], self.defaults[name] = models, default
        unknown = (set(cfg["VISION_MODELS"]) | set(cfg["VISION_DEFAULT_MODELS"])) - set(TASKS)
        if unknown:
            raise ValueError(f"unknown vision tasks in the config: {sorted(unknown)}; the tasks: {list(TASKS)}")
        self.max_upload = int(cfg["VISION_MAX_UPLOAD"])
        self.max_pixels = int(cfg["VISION_MAX_PIXELS"])
        self.max_side = int(cfg["VISION_MAX_SIDE"])
        self.max_decoded = int(cfg["VISION_MAX_DECODED"])
        self.max_video_upload = int(cfg["VISION_MAX_VIDEO_UPLOAD"])
        self.max_video_seconds = float(cfg["VISION_MAX_VIDEO_SECONDS"])
        self.max_video_frames = int(cfg["VISION_MAX_VIDEO_FRAMES"])
        self.max_video_pixels = int(cfg["VISION_MAX_VIDEO_PIXELS"])
        # Decoding runs in the request's thread: without a bound, every upload at once
        # decodes at once (8 big PNGs took the server to 7.8 GB).
        self.decodes = threading.BoundedSemaphore(int(cfg["VISION_DECODES"]))
        self.decode_wait = float(cfg["VISION_DECODE_WAIT"])
        self.timeout = float(cfg["VISION_TIMEOUT"])
        self.pipelines = Pipelines(cfg["VISION_CACHE_DIR"], {
            EFFICIENTNET: EfficientNetLite0.load,
            DOODLE: lambda: game_model.classifier,  # the game's model, already loaded
        }, max_loaded=int(cfg["VISION_MAX_LOADED"]))
        # The models compute outside the interpreter lock: their threads may use every CPU.
        self.executor = concurrent.futures.ThreadPoolExecutor(int(cfg["VISION_WORKERS"]), thread_name_prefix="vision",
                                                              initializer=unpin_thread)
        self.generations = Generations(self.generate, int(cfg["VISION_GENERATE_WORKERS"]),
                                       int(cfg["VISION_GENERATE_QUEUE"]))

    @classmethod
    def of(cls, app: Flask) -> "VisionLab":
        return app.extensions["vision"]

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.generations.close()

    def open(self, data: bytes) -> Photo:
        """The upload decoded (open_photo) once a decode slot is free; 503 if none frees
        within VISION_DECODE_WAIT seconds."""
        with self.decode_slot():
            return open_photo(data, self.max_pixels, self.max_side, self.max_decoded)

    def open_clip(self, data: bytes) -> Clip:
        """A clip decoded (videos.open_clip) in a decode slot, as a photo is."""
        with self.decode_slot():
            return open_clip(data, self.max_video_seconds, self.max_video_frames, self.max_video_pixels)

    @contextlib.contextmanager
    def decode_slot(self):
        if not self.decodes.acquire(timeout=self.decode_wait):
            raise VisionError(503, _("the server is busy with other photos; try again in a few seconds"))
        try:
            yield
        finally:
            self.decodes.release()

    def model_for(self, task: Task, requested: str | None) -> str:
        model = requested or self.defaults[task.name]
        if model not in self.models[task.name]:
            raise VisionError(400, _("%(model)s is not one of this server's %(task)s models: %(models)s",
                                     model=repr(model[:100]), task=task.name,
                                     models=", ".join(self.models[task.name])))
        return model

    def pipeline(self, task: Task, model: str):
        return self.pipelines.get(task.name, task.hf_task, model, model == self.defaults[task.name])

    def run(self, task: Task, model: str, image, options: dict) -> tuple[dict, float]:
        """The task's result for `image` and the seconds the model took, on a worker thread."""
        def job():
            pipe = self.pipeline(task, model)
            start = time.perf_counter()
            result = task.run(pipe, image, options)
            return result, time.perf_counter() - start

        future = self.executor.submit(job)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()  # still queued: never run it; running: it finishes, its model stays loaded
            raise VisionError(504, _("the model took longer than %(seconds)s s: the server is busy or loading the "
                                     "model for the first time; try again in a minute",
                                     seconds=f"{self.timeout:g}")) from None
        except VisionError:
            raise
        except Exception as e:
            current_app.logger.exception("vision %s with %s failed", task.name, model)
            raise VisionError(500, _("the model %(model)s failed on this photo (%(error)s); the server's log has "
                                     "the details", model=model, error=type(e).__name__)) from None

    def generate(self, job: Job) -> dict:
        """A generation job's result, on a generation thread (Generations)."""
        task = TASKS["generate"]
        pipe = self.pipeline(task, job.model)
        start = time.perf_counter()
        result = task.run(pipe, None, {"steps": job.steps, "progress": job.progress})
        return {"task": task.name, "model": job.model, "seconds": round(time.perf_counter() - start, 3), **result}


def init_app(app: Flask, model: ModelService) -> VisionLab:
    """Set up the lab on `app`; the doodle-photo task uses `model`'s classifier. Nothing
    loads until a photo comes."""
    for key, value in CONFIG_DEFAULTS.items():
        app.config.setdefault(key, value)
    lab = app.extensions["vision"] = VisionLab(app, model)
    return lab


def _lab() -> VisionLab:
    return VisionLab.of(current_app)


def _task(name: str) -> Task:
    if name not in TASKS:
        raise VisionError(404, _("no vision task %(name)s; the tasks: %(tasks)s", name=repr(name[:50]),
                                 tasks=", ".join(TASKS)))
    return TASKS[name]


@bp.before_request
def upload_limit():
    # The app's MAX_CONTENT_LENGTH (1 MB) suits doodles; photos and clips get the lab's own limits.
    request.max_content_length = _lab().max_video_upload if _takes() == VIDEO else _lab().max_upload


def _takes() -> str | None:
    """What the request's task takes (PHOTO for a request naming no task, or an unknown one)."""
    name = (request.view_args or {}).get("name")
    return TASKS[name].takes if name in TASKS else PHOTO


def readiness(lab: VisionLab, task: Task) -> dict:
    """Whether a task can run on this server now: its default model's id and whether it is
    here (`ready`), the other models that are (`others`), and the command that downloads
    the default (ModelNotDownloaded's)."""
    default = lab.defaults[task.name]
    here = [m for m in lab.models[task.name] if lab.pipelines.available(m)]
    return {"task": task, "default": default, "ready": default in here, "others": [m for m in here if m != default],
            "command": ModelNotDownloaded(task.name, default).command}


@bp.get("/vision")
def index():
    lab = _lab()
    return render_template("vision_index.html", tasks=[readiness(lab, task) for task in TASKS.values()])


@bp.get("/vision/<name>")
def task_page(name: str):
    lab, task = _lab(), _task(name)
    model = lab.model_for(task, request.args.get("model"))
    missing = None if lab.pipelines.available(model) else str(ModelNotDownloaded(
        task.name, model, model == lab.defaults[task.name]).message)
    models = [(m, lab.pipelines.available(m)) for m in lab.models[task.name]]
    return render_template("vision_task.html", task=task, model=model, models=models, missing=missing,
                           max_upload=size_text(lab.max_video_upload if task.takes == VIDEO else lab.max_upload),
                           max_seconds=f"{lab.max_video_seconds:g}", steps=GENERATE_STEPS, max_steps=MAX_STEPS)


@bp.post("/api/vision/<name>")
def api(name: str):
    lab, task = _lab(), _task(name)
    args = request.values  # form fields and query arguments alike, for scripts
    model = lab.model_for(task, args.get("model"))
    options = parse_options(task, args)
    if task.takes is None:
        return queue_generation(lab, task, model, options)
    field = "video" if task.takes == VIDEO else "image"
    if field in request.files:
        data = request.files[field].read()
    elif request.mimetype.startswith("multipart/") or request.mimetype == "application/x-www-form-urlencoded":
        raise VisionError(400, _("no video: send the clip in the form field `video`") if task.takes == VIDEO
                          else _("no image: send the photo in the form field `image`"))
    else:
        data = request.get_data(cache=False)
    if task.takes == VIDEO:
        clip = lab.open_clip(data)
        given, notes = clip, clip.notes
        size = {"width": clip.width, "height": clip.height, "duration": round(clip.duration, 3),
                "decoded": clip.decoded}
    else:
        photo = lab.open(data)
        given, notes = photo.image, photo.notes
        size = {"width": photo.image.width, "height": photo.image.height}
    # A task's result is bounded by the lab's side as its photos are (super-resolution's).
    result, seconds = lab.run(task, model, given, {**options, "max_side": lab.max_side})
    notes = [str(n) for n in notes + result.pop("notes", [])]  # a lazy note is worded here
    body = {"task": task.name, "model": model, **size, "notes": notes, "seconds": round(seconds, 3), **result}
    if args.get("photo") == "1" and task.takes == PHOTO:
        body["photo"] = data_url(photo.image, "JPEG", quality=88)
    return jsonify(body)


def queue_generation(lab: VisionLab, task: Task, model: str, options: dict):
    """202 with the job's id and where to follow or cancel it; 429 or 503 (Generations)."""
    if not lab.pipelines.available(model):  # now, not minutes later in the queue
        raise ModelNotDownloaded(task.name, model, model == lab.defaults[task.name])
    job = lab.generations.submit(request.remote_addr or "unknown", model, options["steps"])
    return jsonify(job=job.id, model=model, steps=job.steps, state=job.state,
                   events=url_for("vision.generation_events", job_id=job.id),
                   cancel=url_for("vision.cancel_generation", job_id=job.id)), 202


@bp.get("/api/vision/generate/<job_id>/events")
def generation_events(job_id: str):
    generations = _lab().generations
    job = generations.get(job_id)

    def stream():
        try:
            yield from job.events()
        finally:
            # Ended early, the page went away: nobody will see the image (a finished job stays as it is).
            generations.cancel(job.id)

    return Response(stream_with_context(stream()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # nginx: no buffering


@bp.post("/api/vision/generate/<job_id>/cancel")
def cancel_generation(job_id: str):
    job = _lab().generations.cancel(job_id)
    return jsonify(job=job.id, state=job.state)


@bp.errorhandler(VisionError)
def vision_error(error: VisionError):
    message = str(error.message)  # a lazy message is worded here, and escaped in the page like any text
    if request.path.startswith("/api/"):
        return jsonify(error=message), error.status
    return render_template("message.html", title=_("Vision lab"), message=message,
                           back=(url_for("vision.index"), _("Back to the vision lab"))), error.status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """Over VISION_MAX_UPLOAD (or VISION_MAX_VIDEO_UPLOAD): name the limit (the app's own 413
    handler names MAX_CONTENT_LENGTH)."""
    lab = _lab()
    if _takes() == VIDEO:
        return jsonify(error=_("the clip is larger than the limit, %(limit)s: send a shorter one (at most %(seconds)s "
                               "s)", limit=size_text(lab.max_video_upload), seconds=f"{lab.max_video_seconds:g}")), 413
    return jsonify(error=_("the upload is larger than the limit, %(limit)s: send a smaller photo (the lab scales "
                           "photos to %(side)s pixels anyway)", limit=size_text(lab.max_upload),
                           side=lab.max_side)), 413

