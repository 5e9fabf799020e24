"""How fast the vision lab answers: per task, the model's load time and the median latency
for one 1024 x 768 photo, as the API serves it (decode + the task's run + the JSON result),
through the Flask test client, so the figures include upload decoding and result encoding.
The video task gets a 5-second 640 x 480 clip at 30 fps instead; super-resolution the same
photo (scaled to 512 first, so that the result is 1024 wide); generation no input, but
GENERATE_STEPS steps, from its POST to the last server-sent event.

Models: the tiny random models of tests/vision_models.py for the Hugging Face tasks (what
the pipelines cost around a model, not a real model's compute), the real EfficientNet-Lite0
(the offline classification default) and the game's doodle model on a photo of a drawing.
The Hub models themselves need `python -m game.vision pull` and a network: not measured.

    python benchmarks/vision_speed.py [--runs 10] [--threads 2] [--json]

Load: the first request's time less the median of the later ones (what a class's first
student waits extra). "model only": the task's own run (model, pre- and post-processing),
without upload decoding and the HTTP round trip. Run on an otherwise idle machine; `nice` changes nothing on an idle one.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "tests"):  # run as a plain script from anywhere
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from game.app import create_app  # noqa: E402
from game.vision.tasks import GENERATE_STEPS, TASKS, VIDEO  # noqa: E402
from vision_models import build_tiny_models, clip, vision_config  # noqa: E402

SIZE = (1024, 768)


def photo() -> bytes:
    """A 1024 x 768 JPEG: a real photo (scikit-image's coffee) if installed, else gradients."""
    try:
        from skimage import data

        img = Image.fromarray(data.coffee()).resize(SIZE, Image.Resampling.LANCZOS)
    except ImportError:
        yy, xx = np.mgrid[0:SIZE[1], 0:SIZE[0]]
        img = Image.fromarray(np.stack([xx * 255 // SIZE[0], yy * 255 // SIZE[1], 0 * xx + 128], -1).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def drawing_photo() -> bytes:
    """A 1024 x 768 photo of a pen drawing (a house) on grey-white paper."""
    img = Image.new("RGB", SIZE, (232, 228, 215))
    d = ImageDraw.Draw(img)
    d.line([(312, 600), (312, 350), (512, 180), (712, 350), (712, 600), (312, 600)], fill=(30, 30, 50), width=8)
    d.line([(312, 350), (712, 350)], fill=(30, 30, 50), width=8)
    d.rectangle((470, 480, 550, 600), outline=(30, 30, 50), width=8)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


FIELDS = {"detection": {"threshold": "0.05"}, "zero-shot": {"labels": "a cup, a dog, a car, a tree"}}


def upload(client, task: str, model: str, data: bytes) -> tuple[int, dict]:
    field = "video" if TASKS[task].takes == VIDEO else "image"
    r = client.post(f"/api/vision/{task}",
                    data={field: (io.BytesIO(data), "upload"), "model": model, **FIELDS.get(task, {})})
    return r.status_code, r.get_json()


def generation(client, model: str) -> tuple[int, dict]:
    """A generation queued, then followed to its last event (the result)."""
    r = client.post("/api/vision/generate", data={"model": model, "steps": str(GENERATE_STEPS)})
    if r.status_code != 202:
        return r.status_code, r.get_json()
    last = client.get(r.get_json()["events"]).get_data(as_text=True).strip().rsplit("\n\n", 1)[-1]
    event, data = (line.split(": ", 1)[1] for line in last.splitlines())
    return (200 if event == "done" else 500), json.loads(data)


def measure(client, task: str, model: str, data: bytes | None, runs: int) -> dict:
    times, model_times = [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        status, body = generation(client, model) if data is None else upload(client, task, model, data)
        times.append(time.perf_counter() - start)
        if status != 200:
            raise SystemExit(f"{task} with {model}: HTTP {status} {body}")
        model_times.append(body["seconds"])
    median = statistics.median(times[1:])
    return {"task": task, "model": model, "load_s": max(0.0, times[0] - median), "median_s": median,
            "model_s": statistics.median(model_times[1:])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the machine's cores)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    import transformers  # noqa: F401  (paid once, by the first Hub model: not in any one model's load)
    import_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_models(Path(tmp))
        models = vision_config(tiny)
        models["classification"].insert(0, "efficientnet-lite0")
        # CPU_AFFINITY off: this process ran torch before building the app, so pinning it to one CPU
        # (what a served app does) would pin torch's threads too; a served app's lab threads keep
        # every CPU (efficientnet-lite0 took 29-31 ms through `python -m game serve` either way).
        app = create_app({"SECRET_KEY": "bench", "VISION_MODELS": models, "VISION_CACHE_DIR": tmp,
                          "CPU_AFFINITY": "off"})
        client = app.test_client()
        picture, drawing, video = photo(), drawing_photo(), clip(seconds=5, fps=30, size=(640, 480))
        given = {"video": video, "generate": None}  # the rest: the photo
        rows = [measure(client, "classification", "efficientnet-lite0", picture, args.runs),
                measure(client, "doodle", "doodle-lab", drawing, args.runs)]
        rows += [measure(client, task, path, given.get(task, picture), args.runs) for task, path in tiny.items()]
    for row in rows:
        if Path(row["model"]).is_absolute():
            row["model"] = f"tiny {Path(row['model']).name}"
    if args.json:
        print(json.dumps({"import_transformers_s": import_s, "threads": args.threads, "rows": rows}, indent=2))
        return 0
    print(f"torch threads: {args.threads}; runs: {args.runs}; photo 1024 x 768 JPEG; "
          f"transformers import: {import_s:.1f} s (once, not in the loads)")
    print(f"{'task':<16}{'model':<22}{'load':>8}{'median':>10}{'model only':>12}")
    for r in rows:
        print(f"{r['task']:<16}{r['model']:<22}{r['load_s']:>7.2f}s{r['median_s'] * 1000:>8.0f}ms"
              f"{r['model_s'] * 1000:>10.0f}ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
