"""The vision lab (game/vision/): every task's pipeline and result on tiny random models, the
real EfficientNet-Lite0 on real photos, the doodle-photo path, bad uploads, and the clear
messages for a model that is not downloaded, a timeout, a wrong request."""
from __future__ import annotations

import io
import json
import re
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from game.app import create_app
from game.vision import VisionError
from game.vision.images import open_photo
from game.vision.pipelines import EfficientNetLite0, Pipelines
from game.vision.routes import VisionLab
from game.app import close_app
from training.data import split_of
from vision_models import LABELS, vision_config
from vision_photos import (FACE, NOT_CACHED, blank_grey_png, decode_data_url, encode, paper_photo, phone_photo_of,
                           photo, png_file, post)
from fakes import CATEGORIES, FakeClassifier

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) ships the real photos")

# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def app(tiny_models, empty_cache):
    models = vision_config(tiny_models)
    models["classification"].insert(0, "efficientnet-lite0")  # the offline default stays the default
    models["detection"].append(NOT_CACHED)
    return create_app({"TESTING": True, "SECRET_KEY": "test", "VISION_MODELS": models,
                       "VISION_CACHE_DIR": empty_cache})


@pytest.fixture
def client(app):
    return app.test_client()


# --- each task on a tiny model: the pipeline runs and the result is what the page draws -----


def test_classification_tiny_vit(client, tiny_models):
    r = post(client, "classification", encode(photo()), model=tiny_models["classification"], photo="1")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["task"] == "classification" and body["model"] == tiny_models["classification"]
    assert (body["width"], body["height"]) == (1024, 768)
    assert [x["label"] for x in body["labels"]] and {x["label"] for x in body["labels"]} == set(LABELS)
    scores = [x["score"] for x in body["labels"]]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-3)
    assert decode_data_url(body["photo"]).size == (1024, 768)


def test_detection_tiny_yolos(client, tiny_models):
    r = post(client, "detection", encode(photo()), threshold="0")
    assert r.status_code == 200, r.get_json()
    objects = r.get_json()["objects"]
    assert len(objects) == 5  # the model's five detection tokens, none under threshold 0
    for o in objects:
        assert o["label"] in LABELS and 0 <= o["score"] <= 1
        x0, y0, x1, y1 = o["box"]
        assert 0 <= x0 <= x1 <= 1024 and 0 <= y0 <= y1 <= 768
    assert [o["score"] for o in objects] == sorted((o["score"] for o in objects), reverse=True)
    # The threshold is the pipeline's: above every score, nothing comes back.
    top = objects[0]["score"]
    assert post(client, "detection", encode(photo()), threshold=str(min(1.0, top + 0.01))).get_json()["objects"] == []


def test_segmentation_tiny_segformer(client):
    r = post(client, "segmentation", encode(photo(seed=1)))
    assert r.status_code == 200, r.get_json()
    segments = r.get_json()["segments"]
    assert segments and {s["label"] for s in segments} <= set(LABELS)
    masks = [np.asarray(decode_data_url(s["mask"]).convert("L")) > 127 for s in segments]
    assert all(m.shape == (768, 1024) for m in masks)
    # Semantic segmentation: every pixel in exactly one segment; areas say how much.
    assert (np.sum(masks, axis=0) == 1).all()
    assert [s["area"] for s in segments] == pytest.approx([m.mean() for m in masks], abs=1e-4)


def test_depth_tiny_dpt(client):
    r = post(client, "depth", encode(photo(seed=2)))
    assert r.status_code == 200, r.get_json()
    depth = r.get_json()["depth"]
    png = decode_data_url(depth["png"])
    assert png.size == (1024, 768) and png.mode == "RGB"
    scale = np.asarray(decode_data_url(depth["scale"]))
    assert scale.shape == (1, 256, 3)
    # The map's colours are the scale's: every pixel is one of its 256 colours.
    colours = {tuple(c) for c in scale[0]}
    sample = np.asarray(png).reshape(-1, 3)[::997]
    assert all(tuple(c) in colours for c in sample)
    assert depth["min"] <= depth["max"]


def test_zero_shot_tiny_clip(client):
    r = post(client, "zero-shot", encode(photo()), labels="a cat, a dog\nsome car, a cat")
    assert r.status_code == 200, r.get_json()
    labels = r.get_json()["labels"]
    assert sorted(x["label"] for x in labels) == ["a cat", "a dog", "some car"]  # split, trimmed, deduplicated
    assert sum(x["score"] for x in labels) == pytest.approx(1, abs=1e-3)
    assert len({x["score"] for x in labels}) > 1  # the text really goes through the model
    assert post(client, "zero-shot", encode(photo()), labels="cat").status_code == 400
    assert "at least two labels" in post(client, "zero-shot", encode(photo())).get_json()["error"]


# --- pages -------------------------------------------------------------------------------


def test_pages(client):
    index = client.get("/vision").get_data(as_text=True)
    for name in ("classification", "detection", "segmentation", "depth", "zero-shot", "doodle"):
        assert f'href="/vision/{name}"' in index
    page = client.get("/vision/classification").get_data(as_text=True)
    assert 'data-api="/api/vision/classification"' in page
    assert 'accept="image/*" capture="environment"' in page
    assert "X-rays" in page  # where it is used
    assert client.get("/vision/no-such-task").status_code == 404
    assert client.post("/api/vision/no-such-task", data=b"x").get_json()["error"].startswith("no vision task")


def test_not_downloaded_model_says_so_and_names_the_command(client):
    r = post(client, "detection", encode(photo()), model=NOT_CACHED)
    assert r.status_code == 503
    error = r.get_json()["error"]
    assert NOT_CACHED in error and "python -m game.vision pull --all detection" in error
    assert "Traceback" not in error
    page = client.get(f"/vision/detection?model={NOT_CACHED}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "is not downloaded on this server" in text and "python -m game.vision pull --all detection" in text
    assert 'class="vision-form"' not in text  # no upload offered for a model that cannot run
    # The models to choose from, each with whether it is here: the chosen one is not.
    choices = dict(re.findall(r'<input type="radio" name="model" value="([^"]+)".*?<span class="model-state[^"]*">([^<]+)</span>',
                              text, re.S))
    assert choices == {tiny: "ready" for tiny in choices if tiny != NOT_CACHED} | {NOT_CACHED: "not downloaded"}
    assert len(choices) == 2 and f'value="{NOT_CACHED}" checked' in text


def test_index_says_which_tasks_run_here(client, empty_cache):
    """/vision says, per task, whether its model is here, and the command that fetches it."""
    def states(html: str) -> dict[str, str]:
        items = re.findall(r'<li data-task="([^"]+)" data-ready="(yes|no)">.*?<span class="vision-ready[^"]*">(.*?)</span>',
                           html, re.S)
        assert [name for name, *_ in items] == ["classification", "detection", "segmentation", "depth", "zero-shot",
                                                "doodle", "video", "image-to-image", "generate"]
        return {name: (ready, text) for name, ready, text in items}

    # Out of the box with nothing downloaded: the two built-ins run, the Hub models wait for a pull.
    bare = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_CACHE_DIR": empty_cache})
    seen = states(bare.test_client().get("/vision").get_data(as_text=True))
    assert seen["classification"] == ("yes", "✓ Ready: runs here with efficientnet-lite0.")
    assert seen["doodle"] == ("yes", "✓ Ready: runs here with doodle-lab.")
    assert seen["detection"] == ("no", "✗ Not downloaded here: its model, facebook/detr-resnet-50, needs "
                                       "<code>python -m game.vision pull detection</code> on the server first.")
    for name in ("segmentation", "depth", "zero-shot", "video", "image-to-image", "generate"):
        assert seen[name][0] == "no" and f"<code>python -m game.vision pull {name}</code>" in seen[name][1]
    spanish = states(bare.test_client().get("/vision", headers=ES).get_data(as_text=True))
    assert spanish["depth"] == ("no", "✗ No descargado aquí: su modelo, Intel/dpt-hybrid-midas, necesita antes "
                                      "<code>python -m game.vision pull depth</code> en el servidor.")
    assert spanish["doodle"] == ("yes", "✓ Listo: funciona aquí con doodle-lab.")

    # The tiny models downloaded: every task runs.
    assert {ready for ready, _ in states(client.get("/vision").get_data(as_text=True)).values()} == {"yes"}


def test_index_offers_another_model_when_the_default_is_missing(tiny_models, empty_cache):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_CACHE_DIR": empty_cache,
                      "VISION_MODELS": {"detection": [NOT_CACHED, tiny_models["detection"]]}})
    html = app.test_client().get("/vision").get_data(as_text=True)
    item = re.search(r'<li data-task="detection".*?</li>', html, re.S)[0]
    assert 'data-ready="yes"' in item
    assert f"✓ Ready with {tiny_models['detection']}. Its default model, {NOT_CACHED}, is not downloaded here: " \
           "<code>python -m game.vision pull detection</code> on the server fetches it." in item
    # The link opens the page on the model that runs; that page offers the upload.
    href = re.search(r'<a class="btn vision-task" href="([^"]+)"', item)[1].replace("&amp;", "&")
    page = app.test_client().get(href).get_data(as_text=True)
    assert 'class="vision-form"' in page and "is not downloaded on this server" not in page


def test_default_hub_model_not_cached_names_pull_task(empty_cache):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_CACHE_DIR": empty_cache})
    r = post(app.test_client(), "depth", encode(photo()))
    assert r.status_code == 503
    assert "Intel/dpt-hybrid-midas" in r.get_json()["error"]
    assert "`python -m game.vision pull depth`" in r.get_json()["error"]


def test_unknown_model_and_bad_options(client):
    r = post(client, "classification", encode(photo()), model="evil/model")
    assert r.status_code == 400 and "not one of this server's classification models" in r.get_json()["error"]
    r = post(client, "detection", encode(photo()), threshold="lots")
    assert r.status_code == 400 and "threshold" in r.get_json()["error"]


def test_config_is_checked():
    with pytest.raises(ValueError, match="not in its VISION_MODELS"):
        create_app({"TESTING": True, "VISION_DEFAULT_MODELS": {"detection": "a/b"}})
    with pytest.raises(ValueError, match="cannot include 'efficientnet-lite0'"):
        create_app({"TESTING": True, "VISION_MODELS": {"detection": ["efficientnet-lite0"]}})
    with pytest.raises(ValueError, match="cannot include 'a/b'"):
        create_app({"TESTING": True, "VISION_MODELS": {"doodle": ["a/b"]}})
    with pytest.raises(ValueError, match="unknown vision tasks"):
        create_app({"TESTING": True, "VISION_MODELS": {"colouring": ["a/b"]}})


def test_timeout_is_504_and_the_model_stays_usable(tiny_models, empty_cache):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_TIMEOUT": 0.001,
                      "VISION_MODELS": vision_config(tiny_models), "VISION_CACHE_DIR": empty_cache})
    client = app.test_client()
    r = post(client, "doodle", encode(paper_photo([[[0, 255], [0, 255]]])))
    assert r.status_code == 504 and "longer than 0.001 s" in r.get_json()["error"]
    VisionLab.of(app).timeout = 30.0
    assert post(client, "doodle", encode(paper_photo([[[0, 255], [0, 255]]]))).status_code == 200


def test_pipelines_are_loaded_once(app, client, tiny_models):
    lab = VisionLab.of(app)
    post(client, "segmentation", encode(photo()))
    first = lab.pipelines.get("segmentation", "image-segmentation", tiny_models["segmentation"])
    post(client, "segmentation", encode(photo()))
    assert lab.pipelines.get("segmentation", "image-segmentation", tiny_models["segmentation"]) is first


# --- the real EfficientNet-Lite0 ---------------------------------------------------------


@pytest.fixture(scope="session")
def efficientnet():
    return EfficientNetLite0.load()


def test_efficientnet_lite0_real_photos(efficientnet):
    top = efficientnet(Image.fromarray(skimage_data.coffee()))
    assert top[0]["label"] == "espresso" and top[0]["score"] == pytest.approx(0.95, abs=0.02)
    cat = [x["label"] for x in efficientnet(Image.fromarray(skimage_data.chelsea()), top_k=3)]
    assert any("cat" in label for label in cat), cat
    assert len(efficientnet.labels) == 1000 and efficientnet.labels[967] == "espresso"


def test_classification_default_is_offline_efficientnet(client):
    """The page's default needs no download: coffee through the API, as a phone JPEG."""
    r = post(client, "classification", encode(Image.fromarray(skimage_data.coffee()), "JPEG", quality=95),
             filename="coffee.jpg")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["model"] == "efficientnet-lite0"
    assert body["labels"][0]["label"] == "espresso" and body["labels"][0]["score"] > 0.8
    assert len(body["labels"]) == 5


# --- the doodle photo --------------------------------------------------------------------


@pytest.fixture(scope="session")
def held_out_doodles(quickdraw_dir):
    """Held-out (test split) drawings of big, clearly drawable words that the shipped model
    gets right from their strokes: so the test checks the photo path, not the model."""
    from game.model.classifier import DoodleClassifier

    clf = DoodleClassifier.load()
    chosen = []
    for word in ("apple", "house", "bicycle", "clock", "star", "tree"):
        path = quickdraw_dir / "simplified" / f"{word}.ndjson"
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if split_of(str(row["key_id"])) == "test" and clf.classify(row["drawing"], 1)[0][0] == word:
                chosen.append((word, row["drawing"]))
                break
    if len(chosen) < 3:
        pytest.skip(f"fewer than 3 held-out drawings the model recognizes in {quickdraw_dir}")
    return chosen


def test_doodle_photo_is_recognized(client, held_out_doodles):
    from game.model import ink

    for word, drawing in held_out_doodles:
        for pen in (3, 12):
            r = post(client, "doodle", encode(paper_photo(drawing, pen=pen, seed=len(word)), "JPEG", quality=85),
                     filename="doodle.jpg")
            assert r.status_code == 200, r.get_json()
            body = r.get_json()
            assert word in [x["label"] for x in body["labels"][:3]], (word, pen, body["labels"])
            bitmap = np.asarray(decode_data_url(body["bitmap"]), dtype=np.float64)
            assert bitmap.shape == (28, 28)
            # Close to what the game's own renderer makes of the strokes (the model's training look).
            ref = ink.to_bitmap(drawing).reshape(28, 28).astype(np.float64)
            cosine = (bitmap * ref).sum() / np.linalg.norm(bitmap) / np.linalg.norm(ref)
            assert cosine > 0.9, (word, pen, cosine)


def test_doodle_blank_paper_is_422(client):
    r = post(client, "doodle", encode(paper_photo([]), "JPEG"), filename="blank.jpg")
    assert r.status_code == 422 and "no drawing found" in r.get_json()["error"]


PHOTO_PAPERS = {  # how the paper and the light vary
    "cream paper": {},
    "blue-tinted paper, deep shadow": dict(tint=(0.85, 0.92, 1.0), shadow=0.6),
    "grey felt-tip": dict(ink=(95, 95, 110), noise=6.0),
    "noisy, sharp, low JPEG quality": dict(noise=16.0, blur=0.5, quality=60),
    "very noisy, deepest shadow": dict(noise=20.0, blur=0.3, shadow=0.7, quality=50),
}


@pytest.mark.parametrize("paper", list(PHOTO_PAPERS))
@pytest.mark.parametrize("pen", [3, 8, 16])
def test_doodle_photo_of_a_drawing_on_real_paper_is_accepted(client, paper, pen):
    r = post(client, "doodle", encode(phone_photo_of(FACE, pen=pen, seed=pen, **PHOTO_PAPERS[paper]), "JPEG"),
             filename="drawing.jpg")
    assert r.status_code == 200, (paper, pen, r.get_json())
    assert len(r.get_json()["labels"]) == 5


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "camera", "rocket", "coins", "retina"])
def test_doodle_photo_of_something_else_is_422(client, name):
    """Real photos are not drawings: refused with a message that says so and what to do,
    never a guess ("animal migration 3.9 %" for the astronaut)."""
    image = Image.fromarray(getattr(skimage_data, name)())
    for data, filename in ((encode(image, "JPEG", quality=90), f"{name}.jpg"), (encode(image), f"{name}.png")):
        r = post(client, "doodle", data, filename=filename)
        assert r.status_code == 422, (name, r.get_json())
        error = r.get_json()["error"]
        assert error.startswith("no drawing found: ") and "is it a photo of something else?" in error, error
        assert "photograph a dark pen drawing on plain light paper" in error and "labels" not in r.get_json()


def test_doodle_photo_checks_each_say_why():
    """Each check on its own: too much ink (a black silhouette on white: no shading at all),
    and shading away from the lines (a pen line across a faded photo: little ink)."""
    from game.vision import doodle_photo

    silhouette = Image.fromarray(np.asarray(skimage_data.horse(), dtype=np.uint8) * 255).convert("RGB")
    with pytest.raises(VisionError, match="too much of this photo is dark") as refused:
        doodle_photo.photo_to_bitmap(silhouette)
    assert refused.value.status == 422
    faded = 255 - 0.2 * (255 - np.asarray(skimage_data.astronaut(), dtype=np.float64))
    img = Image.fromarray(faded.astype(np.uint8))
    ImageDraw.Draw(img).line([(20, 20), (490, 490)], fill=(30, 30, 30), width=5)
    assert doodle_photo.ink_mask(img).mean() < 0.05  # the line is the ink: the shading refuses it
    with pytest.raises(VisionError, match="shades and textures"):
        doodle_photo.photo_to_bitmap(img)
    # The same line on plain paper is a drawing.
    plain = Image.new("RGB", (800, 600), (235, 232, 220))
    ImageDraw.Draw(plain).line([(100, 100), (700, 500)], fill=(30, 30, 30), width=5)
    assert doodle_photo.photo_to_bitmap(plain).max() == 255


# --- bad uploads -------------------------------------------------------------------------


def png_chunks(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG written by hand: Pillow cannot write 16-bit RGB, nor lie about its size."""
    return png_file(width, height, bit_depth, colour_type, zlib.compress(raw))


def png16(arr: np.ndarray) -> bytes:
    """A 16-bit PNG of uint16 (h, w) grey or (h, w, 3) RGB."""
    colour_type = 0 if arr.ndim == 2 else 2
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)
    return png_chunks(arr.shape[1], arr.shape[0], 16, colour_type, raw)


def returned_photo(client, data: bytes, filename="x.png") -> tuple[dict, np.ndarray]:
    """The API's answer for an upload, and the photo as the model saw it (`photo=1`)."""
    r = post(client, "classification", data, filename=filename, photo="1")
    body = r.get_json()
    assert r.status_code == 200, body
    return body, np.asarray(decode_data_url(body["photo"]).convert("RGB"), dtype=np.int64)


def test_not_an_image_is_400(client):
    r = post(client, "classification", b"%PDF-1.4 this is not a photo", filename="notes.pdf")
    assert r.status_code == 400 and "not an image" in r.get_json()["error"]


def test_empty_and_missing_uploads_are_400(client):
    assert "no image" in post(client, "classification", b"").get_json()["error"]
    r = client.post("/api/vision/classification", data={"model": "efficientnet-lite0"})
    assert r.status_code == 400 and "`image`" in r.get_json()["error"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_400(client, fmt):
    data = encode(photo(), fmt)
    r = post(client, "classification", data[: len(data) // 2], filename=f"cut.{fmt.lower()}")
    assert r.status_code == 400 and "truncated or damaged" in r.get_json()["error"]


def test_decompression_bomb_is_413(client):
    # 20,000 x 20,000 in its header and a few bytes of data: Pillow would allocate 1.2 GB.
    bomb = png_chunks(20_000, 20_000, 8, 2, b"\x00" * 1000)
    r = post(client, "classification", bomb)
    assert r.status_code == 413
    assert "limit" in r.get_json()["error"] and "64 megapixels" in r.get_json()["error"]


def test_pixel_limit_is_configurable():
    with pytest.raises(VisionError) as caught:
        open_photo(encode(photo((1024, 768))), max_pixels=500_000, max_side=1024, max_bytes=64 * 2**20)
    assert caught.value.status == 413 and "1024 × 768" in caught.value.message


@pytest.fixture(scope="module")
def big_pngs() -> dict[str, bytes]:
    """8000 × 8000 in a few hundred KB: 16-bit grey (122 MB decoded) and 1-bit (61 MB:
    Pillow keeps a byte a pixel)."""
    return {"I;16": blank_grey_png(8000, 8000, 16), "1": blank_grey_png(8000, 8000, 1)}


@pytest.fixture(scope="module")
def strict_client():
    """A lab decoding one photo at a time, at most 32 MB of it, and never waiting for a slot."""
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_MAX_DECODED": 32 * 2**20,
                      "VISION_DECODES": 1, "VISION_DECODE_WAIT": 0})
    return app.test_client()


def test_decoded_memory_is_bounded_from_the_header(client, strict_client, big_pngs):
    """Pixels are not enough: 64 MP of 16-bit grey take 122 MB decoded (the server went
    from 134 MB to 1.2 GB for one). Refused from the header, before decoding."""
    assert all(len(data) < 200_000 for data in big_pngs.values())
    r = post(client, "classification", big_pngs["I;16"])  # the default limit, 64 MB
    error = r.get_json()["error"]
    assert r.status_code == 413 and "8000 × 8000 pixels of I;16" in error and "122 MB" in error and "64 MB" in error
    for mode, size in (("I;16", "122 MB"), ("1", "61 MB")):
        r = post(strict_client, "classification", big_pngs[mode])
        error = r.get_json()["error"]
        assert r.status_code == 413 and f"pixels of {mode}" in error and size in error and "32 MB" in error


def test_a_big_one_bit_png_is_reduced_before_it_is_converted(big_pngs):
    """Within the limit, a big image is reduced in its own mode before it becomes RGB (the
    8000 × 8000 1-bit PNG took 450 MB converted first): benchmarks/vision_memory.py
    measures the memory; here, what comes out."""
    found = open_photo(big_pngs["1"], max_pixels=64_000_000, max_side=1024, max_bytes=64 * 2**20)
    assert found.image.mode == "RGB" and found.image.size == (1024, 1024)
    assert any("scaled down from 8000 × 8000 to 1024 × 1024" in n for n in found.notes)
    assert np.asarray(found.image).max() == 0  # black stays black


def test_a_busy_lab_answers_503_rather_than_queueing(strict_client):
    lab = VisionLab.of(strict_client.application)
    assert lab.decodes.acquire(timeout=0)  # another photo is decoding
    try:
        r = post(strict_client, "classification", encode(photo((320, 240))))
        assert r.status_code == 503 and "busy" in r.get_json()["error"]
    finally:
        lab.decodes.release()
    r = post(strict_client, "classification", b"not an image")  # the slot is free again: decoded, refused
    assert r.status_code == 400 and "not an image" in r.get_json()["error"]


def test_upload_limit_is_the_labs_not_the_apps(client, app):
    """The app's MAX_CONTENT_LENGTH (1 MB, for doodles) does not apply; VISION_MAX_UPLOAD does."""
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (768, 1024, 3), dtype=np.uint8))
    data = encode(noisy)
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    assert post(client, "classification", data).status_code == 200
    r = post(client, "classification", data + b"\x00" * (50 * 2**20))  # a 50 MB upload
    assert r.status_code == 413
    assert "larger than the limit, 16 MB" in r.get_json()["error"]


def test_upload_limit_configured():
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "VISION_MAX_UPLOAD": 100_000})
    noise = Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    r = post(app.test_client(), "classification", encode(noise))
    assert r.status_code == 413 and "97.7 KB" in r.get_json()["error"]


def test_animated_gif_uses_first_frame(client):
    red, green, blue = (Image.new("RGB", (320, 240), c) for c in [(220, 20, 20), (20, 220, 20), (20, 20, 220)])
    buf = io.BytesIO()
    red.save(buf, "GIF", save_all=True, append_images=[green, blue], duration=100, loop=0)
    body, pixels = returned_photo(client, buf.getvalue(), "anim.gif")
    assert any("first one" in n and "3 frames" in n for n in body["notes"])
    r, g, b = pixels.reshape(-1, 3).mean(axis=0)
    assert r > 180 and b < 60


def test_sixteen_bit_png_is_scaled_not_clipped(client):
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    body, pixels = returned_photo(client, png16(ramp))
    grey = pixels[..., 0].mean(axis=0)
    # Clipping at 255 would make nearly every column white; scaling keeps the ramp.
    assert abs(grey[128] - 128) < 6 and grey[5] < 20 and grey[-1] > 240
    rgb = np.stack([ramp, np.full_like(ramp, 32768), 65535 - ramp], -1)
    body, pixels = returned_photo(client, png16(rgb))
    assert abs(pixels[..., 1].mean() - 128) < 6 and pixels[:, 0, 2].mean() > 240


def test_cmyk_is_converted(client):
    cmyk = Image.new("CMYK", (200, 150), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    body, pixels = returned_photo(client, encode(cmyk, "JPEG", quality=95), "cmyk.jpg")
    r, g, b = pixels.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_transparent_png_goes_on_white(client):
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((0, 0, 49, 99), fill=(0, 0, 255, 255))
    body, pixels = returned_photo(client, encode(img))
    assert pixels[:, 75].mean() > 245  # transparent -> white paper, not black
    assert pixels[:, 10, 2].mean() > 200 and pixels[:, 10, 0].mean() < 50


def test_exif_rotated_phone_photo_is_upright(client):
    # Stored sideways as a phone does (landscape pixels) with EXIF orientation 6: "turn 90°
    # clockwise to show". Stored: left half red, right half blue -> shown: top red, bottom blue.
    stored = Image.new("RGB", (400, 300), (0, 0, 255))
    ImageDraw.Draw(stored).rectangle((0, 0, 199, 299), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    body, pixels = returned_photo(client, encode(stored, "JPEG", exif=exif, quality=95), "phone.jpg")
    assert (body["width"], body["height"]) == (300, 400)
    assert any("upright" in n for n in body["notes"])
    top, bottom = pixels[:150].reshape(-1, 3).mean(axis=0), pixels[250:].reshape(-1, 3).mean(axis=0)
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60


def test_big_photo_is_scaled_down_and_raw_body_works(client):
    big = photo((3000, 2000))
    r = client.post("/api/vision/classification", data=encode(big, "JPEG"), content_type="image/jpeg")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["width"], body["height"]) == (1024, 683)
    assert any("scaled down from 3000 × 2000" in n for n in body["notes"])


# --- in Spanish ----------------------------------------------------------------------------

ES = {"Accept-Language": "es-MX,es;q=0.9"}


def test_pages_in_spanish(client):
    index = client.get("/vision", headers=ES).get_data(as_text=True)
    assert '<html lang="es">' in index and "<h1>Laboratorio de visión</h1>" in index
    assert ">Detección de objetos</a>" in index
    page = client.get("/vision/classification", headers=ES).get_data(as_text=True)
    assert "<h1>Clasificación de imágenes</h1>" in page and "radiografías" in page  # the task's two lines
    assert "Hacer una foto" in page and "Hasta 16 MB." in page
    catalogue = json.loads(re.search(r'<script type="application/json" id="i18n">(.*?)</script>', page, re.S)[1])
    assert catalogue["messages"]["Looking at your photo…"] == "Mirando tu foto…"  # static/vision.js's, in the page
    assert 'id="i18n-words"' not in page  # ImageNet's labels stay the model's
    missing = client.get(f"/vision/detection?model={NOT_CACHED}", headers=ES).get_data(as_text=True)
    assert "no está descargado en este servidor" in missing
    shown_id = NOT_CACHED.replace("/", "/<wbr>")  # a line may break after the slash
    assert re.search(rf'value="{NOT_CACHED}" checked>\s*<span class="model-id">{shown_id}</span>\s*'
                     r'<span class="model-state is-missing">no descargado</span>', missing)
    assert "Laboratorio de visión" in client.get("/vision/no-such-task", headers=ES).get_data(as_text=True)
    client.set_cookie("lang", "es")  # the switcher's choice
    doodle = client.get("/vision/doodle").get_data(as_text=True)
    words = json.loads(re.search(r'<script type="application/json" id="i18n-words">(.*?)</script>', doodle, re.S)[1])
    assert words["bicycle"] == ["bicicleta", "una bicicleta"]  # the doodle model's labels, named by the page


def test_api_errors_and_notes_in_spanish(client):
    r = client.post("/api/vision/classification", headers=ES,
                    data={"image": (io.BytesIO(b"%PDF-1.4 this is not a photo"), "notes.pdf")})
    assert r.status_code == 400 and r.get_json()["error"] == \
        "no podemos leer esta imagen: envía una foto (JPEG, PNG, WebP o GIF)"
    # Made on the lab's worker threads, outside the request: worded in its language all the same.
    r = client.post("/api/vision/detection", headers=ES,
                    data={"image": (io.BytesIO(encode(photo())), "x.png"), "model": NOT_CACHED})
    assert r.status_code == 503 and "no está descargado" in r.get_json()["error"]
    assert "`python -m game.vision pull --all detection`" in r.get_json()["error"]
    r = client.post("/api/vision/doodle", headers=ES,
                    data={"image": (io.BytesIO(encode(paper_photo([]), "JPEG")), "blank.jpg")})
    assert r.status_code == 422 and r.get_json()["error"].startswith("no se encontró ningún dibujo")
    r = client.post("/api/vision/doodle", headers=ES,
                    data={"image": (io.BytesIO(encode(Image.fromarray(skimage_data.astronaut()), "JPEG")), "a.jpg")})
    assert r.status_code == 422 and r.get_json()["error"].startswith("no se encontró ningún dibujo")
    assert "¿es una foto de otra cosa?" in r.get_json()["error"]
    assert client.post("/api/vision/classification", data=b"x").get_json()["error"] == \
        "this is not an image we can read: send a photo (JPEG, PNG, WebP or GIF)"  # English without the header
    gif = io.BytesIO()
    frames = [Image.new("RGB", (64, 48), c) for c in ("red", "green")]
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    r = client.post("/api/vision/classification", headers=ES, data={"image": (io.BytesIO(gif.getvalue()), "a.gif")})
    assert r.status_code == 200 and r.get_json()["notes"] == ["una imagen animada de 2 fotogramas: el modelo ve el primero"]


def test_at_most_max_loaded_models_stay_loaded():
    """Trying every model of every task must not fill the server's memory: loading one
    more than VISION_MAX_LOADED drops the least recently used, which loads again if asked."""
    loads = []

    def builtin(name):
        def load():
            loads.append(name)
            return object()
        return load

    pipes = Pipelines(None, {name: builtin(name) for name in "abc"}, max_loaded=2)
    a = pipes.get("t", "", "a")
    pipes.get("t", "", "b")
    assert pipes.get("t", "", "a") is a  # cached, and now the most recently used
    pipes.get("t", "", "c")  # one too many: b, least recently used, goes
    assert pipes.loaded() == [("t", "a"), ("t", "c")]
    pipes.get("t", "", "b")
    assert loads == ["a", "b", "c", "b"] and pipes.loaded() == [("t", "c"), ("t", "b")]
    with pytest.raises(ValueError):
        Pipelines(None, {}, max_loaded=0)


def test_the_lab_keeps_the_configured_number_of_models(app):
    assert VisionLab.of(app).pipelines.max_loaded == 9  # one a task
    other = create_app({"TESTING": True, "CLASSIFIER": FakeClassifier(CATEGORIES), "DECK": ["cat"], "VISION_MAX_LOADED": 2})
    try:
        assert VisionLab.of(other).pipelines.max_loaded == 2
    finally:
        close_app(other)
