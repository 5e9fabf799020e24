"""The vision lab's video, super-resolution and generation tasks (game/vision/videos.py,
generation.py and their tasks) on tiny random models of the real architectures (VideoMAE,
Swin2SR, a DDPM UNet): real clips encoded here with PyAV from scikit-image's photos, real
photos; and every refusal: not a video, a truncated one, a header claiming four hours, too
large, too many frames, too many steps, a second generation of one client (429), a full
queue (503), and a cancelled generation."""
from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from game.app import close_app, create_app
from game.vision.routes import VisionLab
from game.vision.tasks import MAX_STEPS, TASKS
from game.vision.videos import KEPT_FRAMES, open_clip
from vision_models import LABELS, clip, vision_config
from vision_photos import NOT_CACHED, decode_data_url, encode, post

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) ships the real photos")


def lab_app(tiny_models, tmp_path_factory, **config):
    models = vision_config(tiny_models)
    models["generate"].append(NOT_CACHED)
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VISION_MODELS": models,
                       "VISION_CACHE_DIR": str(tmp_path_factory.mktemp("hf-cache")), **config})


@pytest.fixture(scope="module")
def app(tiny_models, tmp_path_factory):
    app = lab_app(tiny_models, tmp_path_factory)
    yield app
    close_app(app)


@pytest.fixture
def client(app):
    return app.test_client()


def post_video(client, data: bytes, filename="clip.mp4", **fields):
    return client.post("/api/vision/video", data={"video": (io.BytesIO(data), filename), **fields})


# --- video classification ----------------------------------------------------------------


def test_video_is_classified_from_frames_across_the_clip(client, tiny_models):
    r = post_video(client, clip(seconds=3, fps=15))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["task"] == "video" and (body["width"], body["height"]) == (320, 240)
    assert body["decoded"] == 45 and body["duration"] == pytest.approx(44 / 15, abs=0.01)
    assert {x["label"] for x in body["labels"]} == set(LABELS)
    scores = [x["score"] for x in body["labels"]]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-3)
    # The tiny VideoMAE takes 4 frames: the first, the last and two between, each shown.
    times = [f["time"] for f in body["frames"]]
    assert len(times) == 4 and times[0] == 0 and times[-1] == pytest.approx(body["duration"], abs=0.01)
    assert np.diff(times) == pytest.approx([times[-1] / 3] * 3, abs=1.5 / 15)
    thumbs = [decode_data_url(f["jpeg"]) for f in body["frames"]]
    assert all(t.format == "JPEG" and max(t.size) == 160 for t in thumbs)
    # The camera pans: the frames differ.
    assert np.abs(np.asarray(thumbs[0], float) - np.asarray(thumbs[-1], float)).mean() > 10


@pytest.mark.parametrize("codec, fmt", [("libvpx-vp9", "webm"), ("mpeg4", "mov")])
def test_other_containers_and_codecs(client, codec, fmt):
    r = post_video(client, clip(seconds=1, fps=10, codec=codec, fmt=fmt), filename=f"clip.{fmt}")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["decoded"] == 10


def test_a_long_clip_keeps_evenly_spaced_frames():
    c = open_clip(clip(seconds=10, fps=20, size=(640, 480)), 30, 1800, 1920 * 1080)
    assert c.decoded == 200 and len(c.frames) == KEPT_FRAMES
    assert min(c.frames[0].size) == 256  # scaled down for the model
    assert np.diff(c.times) == pytest.approx([c.duration / (KEPT_FRAMES - 1)] * (KEPT_FRAMES - 1), abs=0.06)
    frames, times = c.sample(16)
    assert len(frames) == 16 and times[0] == 0 and times[-1] == c.times[-1]


def refusal(r, status: int, *words: str) -> str:
    assert r.status_code == status, (r.status_code, r.get_json())
    error = r.get_json()["error"]
    assert all(w in error for w in words), error
    return error


def test_not_a_video_is_400(client):
    refusal(post_video(client, b"hello, this is text\n" * 50, "notes.txt"), 400, "not a video")
    png = encode(Image.fromarray(skimage_data.coffee()))
    refusal(post_video(client, png, "coffee.mp4"), 400, "still image")
    refusal(post_video(client, b""), 400, "no video")
    refusal(client.post("/api/vision/video", data={"image": (io.BytesIO(clip()), "clip.mp4")}), 400, "`video`")


def test_sound_only_is_400(client):
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    refusal(post_video(client, buf.getvalue(), "sound.m4a"), 400, "no pictures")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_mp4_is_400(client, keep):
    data = clip(seconds=2)
    refusal(post_video(client, data[:int(len(data) * keep)]), 400)


def test_truncated_faststart_mp4_is_400(client, tmp_path):
    """The index first (how phones and browsers save for streaming): the header promises more
    frames than the cut file holds."""
    path = tmp_path / "faststart.mp4"  # a file: faststart moves the index by reading it back
    with av.open(str(path), "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        rng = np.random.default_rng(0)
        for _ in range(30):  # noise: every frame big, so the cut falls among the frames
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (240, 320, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    refusal(post_video(client, data[:len(data) // 2]), 400, "truncated")


def test_a_header_claiming_four_hours_is_413_before_decoding(client):
    """Two frames four hours apart: the container says 4 h, and the lab believes it."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1)
        for pts in (0, 4 * 3600):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = pts
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = buf.getvalue()
    assert len(data) < 10_000
    refusal(post_video(client, data), 413, "240 min", "30 s")


def test_too_long_too_large_and_too_many_frames_are_413(tiny_models, tmp_path_factory):
    app = lab_app(tiny_models, tmp_path_factory, VISION_MAX_VIDEO_SECONDS=1.0, VISION_MAX_VIDEO_FRAMES=40,
                  VISION_MAX_VIDEO_UPLOAD=200_000, VISION_MAX_VIDEO_PIXELS=320 * 240)
    try:
        c = app.test_client()
        assert post_video(c, clip(seconds=1, fps=10)).status_code == 200
        refusal(post_video(c, clip(seconds=3, fps=10)), 413, "3 s", "1 s")
        refusal(post_video(c, clip(seconds=0.5, fps=10, size=(640, 480))), 413, "640 × 480")
        refusal(post_video(c, b"\0" * 200_001), 413, "195 KB")
        # A bomb: 100 frames of 16 x 16 in 1 s, a few KB; counted from the packets, never decoded.
        refusal(post_video(c, clip(seconds=1, fps=100, size=(16, 16))), 413, "more than 40 frames")
    finally:
        close_app(app)


def test_a_zip_bomb_is_not_a_video(client):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("video.mp4", b"\0" * 50_000_000)  # 50 MB of zeros in 50 KB
    assert len(buf.getvalue()) < 100_000
    refusal(post_video(client, buf.getvalue(), "video.zip"), 400, "not a video")


def test_video_limit_is_the_clips_not_the_photos(client, app):
    lab = VisionLab.of(app)
    assert lab.max_video_upload == 64 * 2**20 and lab.max_upload == 16 * 2**20
    big = clip(seconds=1) + b"\0" * (lab.max_upload + 1)  # over the photo limit, under the clip one
    r = post_video(client, big)
    assert r.status_code != 413, r.get_json()
    refusal(post(client, "classification", big, "big.jpg"), 413, "16 MB")


def test_video_model_not_downloaded_names_the_pull_command(tiny_models, tmp_path_factory):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_CACHE_DIR": str(tmp_path_factory.mktemp("empty"))})
    try:
        c = app.test_client()
        for task, send in (("video", lambda: post_video(c, clip(seconds=1))),
                           ("image-to-image", lambda: post(c, "image-to-image", encode(Image.new("RGB", (40, 30))))),
                           ("generate", lambda: c.post("/api/vision/generate", data={"steps": "5"}))):
            error = refusal(send(), 503, TASKS[task].models[0], f"python -m game.vision pull {task}")
            assert "never fetches" in error
            page = c.get(f"/vision/{task}").get_data(as_text=True)
            assert f"python -m game.vision pull {task}" in page
    finally:
        close_app(app)


# --- super-resolution --------------------------------------------------------------------


def test_super_resolution_doubles_a_real_photo(client):
    coffee = Image.fromarray(skimage_data.coffee())  # 600 x 400
    r = post(client, "image-to-image", encode(coffee, "JPEG", quality=92))
    assert r.status_code == 200, r.get_json()
    up = r.get_json()["upscaled"]
    assert (up["width"], up["height"], up["scale"]) == (1024, 682, 2)  # bounded: the photo went to 512 first
    result, given = decode_data_url(up["png"]), decode_data_url(up["input"])
    assert result.format == "PNG" and result.size == (1024, 682) and given.size == (512, 341)
    assert any("before upscaling" in n for n in r.get_json()["notes"])
    assert np.asarray(result).std() > 5  # an image, not a blank


def test_super_resolution_of_a_small_photo_is_not_scaled_first(client):
    camera = Image.fromarray(skimage_data.camera()).resize((101, 77))  # grey, odd sizes: padding cut off again
    r = post(client, "image-to-image", encode(camera))
    assert r.status_code == 200, r.get_json()
    up = r.get_json()["upscaled"]
    assert (up["width"], up["height"]) == (202, 154) and decode_data_url(up["png"]).size == (202, 154)
    assert r.get_json()["notes"] == []


def test_super_resolution_output_follows_the_labs_side(tiny_models, tmp_path_factory):
    app = lab_app(tiny_models, tmp_path_factory, VISION_MAX_SIDE=200)
    try:
        r = post(app.test_client(), "image-to-image", encode(Image.fromarray(skimage_data.astronaut())))
        assert (r.get_json()["upscaled"]["width"], r.get_json()["upscaled"]["height"]) == (200, 200)
    finally:
        close_app(app)


def test_super_resolution_refuses_what_is_not_a_photo(client):
    refusal(post(client, "image-to-image", b"not a photo"), 400, "not an image")


# --- generation ----------------------------------------------------------------------------


def events(client, url: str) -> list[tuple[str, dict]]:
    """A job's server-sent events, read to the end."""
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == "text/event-stream"
    out = []
    for block in r.get_data(as_text=True).split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def start(client, **fields):
    return client.post("/api/vision/generate", data=fields)


def test_generation_streams_progress_then_the_image(client, tiny_models):
    r = start(client, steps="12")
    assert r.status_code == 202, r.get_json()
    job = r.get_json()
    assert job["steps"] == 12 and job["model"] == tiny_models["generate"]
    stream = events(client, job["events"])
    kinds = [k for k, _ in stream]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"progress"}
    # Each change as it is seen (a stream that looks while two steps pass sees the second).
    steps = [d["step"] for k, d in stream if k == "progress" and d["state"] == "running"]
    assert steps and steps == sorted(steps) and steps[-1] <= 12
    done = stream[-1][1]
    assert done["step"] == done["steps"] == 12
    image = decode_data_url(done["image"]["png"])
    assert image.size == (32, 32) and image.mode == "RGB" and (done["image"]["width"], done["steps"]) == (32, 12)
    assert np.asarray(image).std() > 1
    # The finished job is kept a while: a page that reconnects gets the image again.
    assert events(client, job["events"])[-1][0] == "done"


@pytest.mark.parametrize("steps", ["0", "-3", str(MAX_STEPS + 1), "many", "2.5"])
def test_bad_step_counts_are_400(client, steps):
    refusal(start(client, steps=steps), 400, "steps", str(MAX_STEPS))


def slow_lab(tiny_models, tmp_path_factory, **config):
    """A lab whose generations wait for `gate` before each step: the tests hold them running."""
    app = lab_app(tiny_models, tmp_path_factory, **config)
    lab = VisionLab.of(app)
    gate = threading.Event()
    real = lab.generate

    def held(job):
        progress = job.progress

        def wait_then(step):
            gate.wait(10)
            progress(step)
        job.progress = wait_then
        return real(job)

    lab.generations.run = held
    return app, lab, gate


def client_at(app, address: str):
    """A test client whose requests come from `address`: the lab tells clients apart by it."""
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def wait_for(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_one_generation_per_client_429_and_a_full_queue_503(tiny_models, tmp_path_factory):
    app, lab, gate = slow_lab(tiny_models, tmp_path_factory, VISION_GENERATE_QUEUE=2)
    try:

        a = client_at(app, "10.0.0.1")
        first = start(a, steps="3").get_json()
        wait_for(lambda: lab.generations.get(first["job"]).state == "running")
        refusal(start(a, steps="3"), 429, "already")
        # Two more clients wait in the queue; a fourth finds it full.
        queued = [start(client_at(app, f"10.0.0.{i}"), steps="3") for i in (2, 3)]
        assert [r.status_code for r in queued] == [202, 202]
        assert [lab.generations.get(r.get_json()["job"]).position for r in queued] == [0, 1]
        refusal(start(client_at(app, "10.0.0.4"), steps="3"), 503, "busy")
        gate.set()
        for job in [first] + [r.get_json() for r in queued]:
            assert events(a, job["events"])[-1][0] == "done"
        assert start(a, steps="3").status_code == 202  # its first is done: a client may start another
    finally:
        gate.set()
        close_app(app)


def test_cancel_stops_a_running_generation(tiny_models, tmp_path_factory):
    app, lab, gate = slow_lab(tiny_models, tmp_path_factory)
    try:
        c = app.test_client()
        job = start(c, steps="500").get_json()
        wait_for(lambda: lab.generations.get(job["job"]).state == "running")
        r = c.post(job["cancel"])
        assert r.status_code == 200 and r.get_json()["state"] == "cancelled"
        gate.set()
        stream = events(c, job["events"])
        assert stream[-1][0] == "cancelled"
        # The client may start again at once; its new job runs once the model stopped the
        # cancelled one (one worker), at its next step, not after 500.
        again = start(c, steps="2")
        assert again.status_code == 202
        assert events(c, again.get_json()["events"])[-1][0] == "done"
        assert lab.generations.get(job["job"]).step < 500
        refusal(c.post("/api/vision/generate/no-such-job/cancel"), 404, "no such generation")
    finally:
        gate.set()
        close_app(app)


def test_a_queued_generation_cancelled_never_runs(tiny_models, tmp_path_factory):
    app, lab, gate = slow_lab(tiny_models, tmp_path_factory)
    try:
        first = start(client_at(app, "10.0.0.1"), steps="2").get_json()
        c = client_at(app, "10.0.0.2")
        second = start(c, steps="2").get_json()
        c.post(second["cancel"])
        gate.set()
        assert events(c, first["events"])[-1][0] == "done"
        assert events(c, second["events"])[-1][0] == "cancelled"
        assert lab.generations.get(second["job"]).step == 0
    finally:
        gate.set()
        close_app(app)


def test_generation_page_and_the_other_new_pages(client):
    for name, words in (("video", ['accept="video/*"', "capture", "30 s", "64 MB"]),
                        ("image-to-image", ['accept="image/*"', "twice as large"]),
                        ("generate", ['name="steps"', f'max="{MAX_STEPS}"', "Generate", "Cancel", "<progress"])):
        page = client.get(f"/vision/{name}").get_data(as_text=True)
        assert all(w in page for w in words), (name, [w for w in words if w not in page])
        assert str(TASKS[name].where) in page.replace("&#39;", "'")
    assert 'type="file"' not in client.get("/vision/generate").get_data(as_text=True)


def test_new_pages_in_spanish(client):
    client.get("/lang/es")
    for name, words in (("video", ["Grabar un clip", "Elegir un clip"]), ("image-to-image", ["Elegir una foto"]),
                        ("generate", ["Generar", "Cancelar", "Pasos"])):
        page = client.get(f"/vision/{name}").get_data(as_text=True)
        assert all(w in page for w in words), (name, [w for w in words if w not in page])
    refusal(post_video(client, b"text"), 400, "no es un vídeo")
    refusal(start(client, steps="0"), 400, "pasos")
