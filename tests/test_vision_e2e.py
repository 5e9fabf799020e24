"""End to end: the vision lab on a phone. `python -m game serve` runs for real (the play
test's `server` fixture), with its out-of-the-box models only; Debian's chromium, driven by
Playwright, opens a task page on a phone-sized touch screen, uploads a photo through the
page's file input and waits for the result drawn: the photo on a canvas and the labels'
bars (the offline EfficientNet-Lite0 on scikit-image's coffee; the doodle model on a photo
of a pen drawing, with the 28 x 28 bitmap it saw); and, on the tiny models, every other
kind of result: boxes, masks, a depth map, typed labels; a clip's labels and frames, a
super-resolution result and its slider, a generated image and its progress bar, on a phone
and on a desktop.
"""
from __future__ import annotations

import math
import re
import threading

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from browser import PHONE, desktop_page, phone_page, screenshots_dir
from game.vision.tasks import TASKS
from vision_models import LABELS, clip
from vision_photos import FACE, encode, paper_photo, phone_photo_of, photo

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the test extra) ships the real photos")


# Pixels of the result canvas that are not blank: the photo was drawn.
DRAWN_PIXELS_JS = """(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] + d[i + 1] + d[i + 2]) > 0) n++;
  return n;
}"""


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def test_classify_a_photo_on_a_phone(server, browser, tmp_path):
    coffee = tmp_path / "coffee.jpg"
    coffee.write_bytes(encode(Image.fromarray(skimage_data.coffee()), "JPEG", quality=92))
    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{server}/vision")
        page.get_by_role("link", name="Image classification").tap()
        page.wait_for_url("**/vision/classification")
        expect(page.locator(".vision-about")).to_contain_text("X-rays")
        assert page.locator('input[capture="environment"]').count() == 1  # the camera
        with page.expect_response("**/api/vision/classification") as reply:
            page.locator('input[type="file"][name="image"]').set_input_files(str(coffee))
        assert reply.value.status == 200, reply.value.text()
        top = page.locator(".vision-bars li").first
        expect(top.locator(".bar-label")).to_have_text("espresso")
        expect(top.locator(".bar-score")).to_contain_text("%")
        assert page.locator(".vision-bars li").count() == 5
        assert top.locator(".bar span").evaluate("e => e.getBoundingClientRect().width") > 100
        assert page.evaluate(DRAWN_PIXELS_JS, ".vision-canvas") > 0.9 * 600 * 400
        expect(page.locator(".vision-status")).to_contain_text("efficientnet-lite0")
        assert fits_the_phone(page)
        assert problems == []
    finally:
        context.close()


def test_doodle_photo_on_a_phone(server, browser, tmp_path):
    # A circle with two hands: a pen drawing on paper, photographed.
    circle = [[128 + 120 * math.cos(t) for t in np.linspace(0, 2 * math.pi, 40)],
              [128 + 120 * math.sin(t) for t in np.linspace(0, 2 * math.pi, 40)]]
    drawing = [circle, [[128, 128], [128, 40]], [[128, 190], [128, 128]]]
    photo = tmp_path / "doodle.jpg"
    photo.write_bytes(encode(paper_photo(drawing, pen=8), "JPEG", quality=85))
    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{server}/vision/doodle")
        with page.expect_response("**/api/vision/doodle") as reply:
            page.locator('input[type="file"][name="camera"]').set_input_files(str(photo))
        assert reply.value.status == 200, reply.value.text()
        expect(page.locator(".vision-bitmap")).to_be_visible()
        assert page.locator(".vision-bitmap").evaluate("img => img.naturalWidth") == 28
        expect(page.locator(".vision-bars li").first.locator(".bar-label")).not_to_be_empty()
        assert page.locator(".vision-bars li").count() == 5
        assert fits_the_phone(page)
        assert problems == []
    finally:
        context.close()


@pytest.fixture(scope="module")
def tiny_server(tiny_models, empty_cache):
    """The app with the tiny models, served in this process (werkzeug, a thread)."""
    from werkzeug.serving import make_server

    from game.app import create_app
    from vision_models import vision_config

    app = create_app({"SECRET_KEY": "e2e", "VISION_MODELS": vision_config(tiny_models),
                      "VISION_CACHE_DIR": empty_cache})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def test_every_result_kind_is_drawn(tiny_server, browser, tmp_path):
    """Boxes and the slider, masks and their toggles, the depth map and its download, typed
    labels: each drawn from a tiny model's result."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(photo(), "JPEG"))
    context, page, problems = phone_page(browser)

    def upload(task: str) -> None:
        with page.expect_response(f"**/api/vision/{task}") as reply:
            page.locator('input[type="file"][name="image"]').set_input_files(str(path))
        assert reply.value.status == 200, reply.value.text()
        expect(page.locator(".vision-result")).to_have_attribute("data-ready", "1")

    def canvas_bytes() -> str:
        return page.locator(".vision-canvas").evaluate("c => c.toDataURL()")

    try:
        page.goto(f"{tiny_server}/vision/detection")
        upload("detection")
        slider = page.locator(".vision-slider input")
        caption = page.locator(".vision-slider span")
        expect(caption).to_contain_text("at least 0.50")
        before = canvas_bytes()
        slider.fill("0.05")  # every box of the tiny model scores above 0.05
        expect(caption).to_contain_text("5 of 5 objects")
        assert canvas_bytes() != before  # the boxes were drawn

        page.goto(f"{tiny_server}/vision/segmentation")
        upload("segmentation")
        toggles = page.locator(".vision-legend input[type=checkbox]")
        assert toggles.count() >= 1
        before = canvas_bytes()
        toggles.first.uncheck()
        assert canvas_bytes() != before  # the segment's colour went away
        toggles.first.check()
        assert canvas_bytes() == before

        page.goto(f"{tiny_server}/vision/depth")
        upload("depth")
        assert page.locator(".vision-stage img").evaluate("img => img.naturalWidth") == 1024
        download = page.locator("a[download]")
        expect(download).to_have_attribute("href", re.compile(r"^data:image/png;base64,"))

        page.goto(f"{tiny_server}/vision/zero-shot")
        page.locator('input[name="labels"]').fill("a red ball, a blue sky, a green tree")
        upload("zero-shot")
        labels = page.locator(".vision-bars .bar-label").all_text_contents()
        assert sorted(labels) == ["a blue sky", "a green tree", "a red ball"]
        page.locator('input[name="labels"]').fill("a cat, a dog")
        with page.expect_response("**/api/vision/zero-shot"):
            page.get_by_role("button", name="Score these labels").tap()
        expect(page.locator(".vision-bars li")).to_have_count(2)
        assert fits_the_phone(page)
        assert problems == []
    finally:
        context.close()


# Each model choice, its whole id and its state inside its box: nothing cut off or scrolled.
CHOICES_JS = """() => [...document.querySelectorAll('.vision-models label')].map((label) => {
  const box = label.getBoundingClientRect();
  const inside = (el) => { const r = el.getBoundingClientRect();
    return r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.width > 0; };
  const id = label.querySelector('.model-id'), state = label.querySelector('.model-state');
  return {value: label.querySelector('input').value, id: id.textContent, state: state.textContent,
          fits: label.scrollWidth <= label.clientWidth && id.scrollWidth <= id.clientWidth
                && state.scrollWidth <= state.clientWidth && inside(id) && inside(state)};
})"""


@pytest.mark.parametrize("lang", ["en", "es"])
def test_index_on_a_phone_says_which_tasks_run_here(server, browser, lang):

    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{server}/lang/{lang}?next=/vision")
        tasks = page.locator(".vision-tasks li")
        assert tasks.count() == len(TASKS)
        ready, missing = ("✓ Ready", "✗ Not downloaded here") if lang == "en" else ("✓ Listo", "✗ No descargado aquí")
        for i in range(len(TASKS)):
            item = tasks.nth(i)
            name, state = item.get_attribute("data-task"), item.locator(".vision-ready")
            expect(state).to_be_visible()
            if item.get_attribute("data-ready") == "yes":
                expect(state).to_contain_text(ready)
            else:
                expect(state).to_contain_text(missing)
                expect(state.locator("code")).to_have_text(re.compile(rf"^python -m game\.vision pull (--all )?{name}$"))
        # The built-ins run out of the box.
        expect(page.locator('[data-task="classification"] .vision-ready')).to_contain_text(ready)
        expect(page.locator('[data-task="doodle"] .vision-ready')).to_contain_text(ready)
        assert fits_the_phone(page)
        page.screenshot(path=str(screenshots_dir() / f"vision-index-ready.phone.{lang}.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_model_choices_are_readable_on_a_phone(server, browser, lang):
    """The models' ids and states, in full on a 390 px phone (a <select> cut them to
    "…(not down"); choosing one opens the page on it."""
    from game.vision.tasks import TASKS

    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{server}/lang/{lang}?next=/vision")
        for task in ("segmentation", "classification", "detection"):
            page.goto(f"{server}/vision/{task}")
            choices = page.evaluate(CHOICES_JS)
            assert [c["value"] for c in choices] == list(TASKS[task].models)
            assert all(c["id"] == c["value"] and c["fits"] for c in choices), choices
            states = {"ready", "not downloaded"} if lang == "en" else {"listo", "no descargado"}
            assert {c["state"] for c in choices} <= states
            assert fits_the_phone(page)
            page.screenshot(path=str(screenshots_dir() / f"vision-models-{task}.phone.{lang}.png"), full_page=True)
        other = TASKS["detection"].models[1]
        page.locator(f'.vision-models input[value="{other}"]').check()
        page.wait_for_url(f"**/vision/detection?model={other.replace('/', '%2F')}")
        assert page.locator(f'.vision-models input[value="{other}"]').is_checked()
        expect(page.locator(".vision-model p, .vision-missing, .vision-form").first).to_be_visible()
        assert problems == []
    finally:
        context.close()


def test_doodle_page_says_when_a_photo_is_not_a_drawing(server, browser, tmp_path):
    """A photo of a drawing is read; then a photo of an astronaut: the page says no drawing
    was found and why, and takes the last drawing's result away."""

    drawing = tmp_path / "face.jpg"
    drawing.write_bytes(encode(phone_photo_of(FACE, pen=8), "JPEG"))
    astronaut = tmp_path / "astronaut.jpg"
    astronaut.write_bytes(encode(Image.fromarray(skimage_data.astronaut()), "JPEG", quality=90))
    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{server}/vision/doodle")
        expect(page.locator("p.vision-model")).to_have_text("Model: doodle-lab")
        with page.expect_response("**/api/vision/doodle") as reply:
            page.locator('input[type="file"][name="image"]').set_input_files(str(drawing))
        assert reply.value.status == 200, reply.value.text()
        expect(page.locator(".vision-result")).to_be_visible()
        with page.expect_response("**/api/vision/doodle") as reply:
            page.locator('input[type="file"][name="image"]').set_input_files(str(astronaut))
        assert reply.value.status == 422
        status = page.locator(".vision-status")
        expect(status).to_have_class(re.compile(r"\bis-error\b"))
        expect(status).to_contain_text("no drawing found: too much of this photo is dark for pen lines on paper")
        expect(status).to_contain_text("is it a photo of something else?")
        expect(page.locator(".vision-result")).to_be_hidden()
        assert fits_the_phone(page)
        page.screenshot(path=str(screenshots_dir() / "vision-doodle-astronaut.phone.en.png"), full_page=True)
        problems[:] = [p for p in problems if "422" not in p]  # the refusal itself
        assert problems == []
    finally:
        context.close()


# The result image's pixels, read back from the page: how many are not flat grey or blank.
IMAGE_PIXELS_JS = """(img) => {
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let lit = 0, min = 255, max = 0;
  for (let i = 0; i < d.length; i += 4) {
    const v = d[i] + d[i + 1] + d[i + 2];
    if (d[i + 3] > 0 && v > 0) lit++;
    min = Math.min(min, d[i]); max = Math.max(max, d[i]);
  }
  return {lit, spread: max - min, width: c.width, height: c.height};
}"""

DEVICES = {"phone": phone_page, "desktop": desktop_page}


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("device", list(DEVICES))
def test_video_clip_labels_and_frames(tiny_server, browser, tmp_path, device):
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip(seconds=3, fps=15))
    context, page, problems = DEVICES[device](browser)
    try:
        page.goto(f"{tiny_server}/vision/video")
        expect(page.locator(".vision-about")).to_contain_text("sports")
        assert page.locator('input[type="file"][accept="video/*"][capture]').count() == 1  # record one
        with page.expect_response("**/api/vision/video") as reply:
            page.locator('input[type="file"][name="video"]').set_input_files(str(path))
        assert reply.value.status == 200, reply.value.text()
        expect(page.locator(".vision-result")).to_have_attribute("data-ready", "1")
        labels = page.locator(".vision-bars .bar-label").all_text_contents()
        assert sorted(labels) == sorted(LABELS)
        assert all(s.endswith("%") for s in page.locator(".vision-bars .bar-score").all_text_contents())
        frames = page.locator(".vision-frames li")
        expect(frames).to_have_count(4)  # the tiny VideoMAE's four
        assert frames.first.locator("span").text_content() == "0.0 s"
        assert frames.last.locator("span").text_content() == "2.9 s"
        for img in frames.locator("img").all():
            assert img.evaluate(IMAGE_PIXELS_JS)["spread"] > 50  # the astronaut, not a blank
        expect(page.locator(".vision-result")).to_contain_text("4 frames of the 45 in the clip")
        assert fits(page)
        page.screenshot(path=str(screenshots_dir() / f"vision-video.{device}.en.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize("device", list(DEVICES))
def test_super_resolution_side_by_side_with_a_slider(tiny_server, browser, tmp_path, device):
    path = tmp_path / "coffee.jpg"
    path.write_bytes(encode(Image.fromarray(skimage_data.coffee()), "JPEG", quality=92))
    context, page, problems = DEVICES[device](browser)
    try:
        page.goto(f"{tiny_server}/vision/image-to-image")
        with page.expect_response("**/api/vision/image-to-image", timeout=60_000) as reply:  # a 1024-px result
            page.locator('input[type="file"][name="image"]').set_input_files(str(path))
        assert reply.value.status == 200, reply.value.text()
        expect(page.locator(".vision-result")).to_have_attribute("data-ready", "1")
        after = page.locator(".vision-compare .vision-after")
        pixels = after.evaluate(IMAGE_PIXELS_JS)
        assert (pixels["width"], pixels["height"]) == (1024, 682)
        assert pixels["lit"] > 0.9 * 1024 * 682 and pixels["spread"] > 50
        before = page.locator(".vision-compare img").first
        assert before.evaluate("img => img.naturalWidth") == 512
        # Side by side in one box, the line between them where the slider says.
        box, shown = before.bounding_box(), after.bounding_box()
        assert abs(box["width"] - shown["width"]) < 1 and abs(box["height"] - shown["height"]) < 2
        assert after.evaluate("img => img.style.clipPath") == "inset(0px 0px 0px 50%)"
        page.locator(".vision-slider input").fill("20")
        assert after.evaluate("img => img.style.clipPath") == "inset(0px 0px 0px 20%)"
        expect(page.locator("a[download]")).to_have_attribute("href", re.compile(r"^data:image/png;base64,"))
        expect(page.locator(".vision-status")).to_contain_text("before upscaling")
        assert fits(page)
        page.screenshot(path=str(screenshots_dir() / f"vision-super-resolution.{device}.en.png"), full_page=True)
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize("device", list(DEVICES))
def test_generate_with_a_progress_bar_and_cancel(tiny_server, browser, device):
    context, page, problems = DEVICES[device](browser)
    try:
        page.goto(f"{tiny_server}/vision/generate")
        assert page.locator('input[type="file"]').count() == 0  # nothing to upload
        page.locator('input[name="steps"]').fill("25")
        page.get_by_role("button", name="Generate").click()
        bar = page.locator(".vision-progress progress")
        expect(page.locator(".vision-progress-text")).to_have_text("Step 25 of 25 (100 %)")
        assert bar.evaluate("p => [p.value, p.max]") == [25, 25]
        expect(page.locator(".vision-result")).to_have_attribute("data-ready", "1")
        pixels = page.locator(".vision-generated").evaluate(IMAGE_PIXELS_JS)
        assert (pixels["width"], pixels["height"]) == (32, 32) and pixels["spread"] > 20
        expect(page.locator(".vision-generated + figcaption")).to_have_text("32 × 32 pixels, after 25 steps")
        expect(page.locator(".vision-cancel")).to_be_hidden()
        assert fits(page)
        page.screenshot(path=str(screenshots_dir() / f"vision-generate.{device}.en.png"), full_page=True)

        # A long one, cancelled once it runs: the page says so and may start again.
        page.locator('input[name="steps"]').fill("1000")
        page.get_by_role("button", name="Generate").click()
        expect(page.locator(".vision-progress-text")).to_contain_text("of 1000")
        with page.expect_response("**/cancel") as reply:
            page.get_by_role("button", name="Cancel").click()
        assert reply.value.json()["state"] == "cancelled"
        expect(page.locator(".vision-status")).to_have_text("Cancelled.")
        expect(page.get_by_role("button", name="Generate")).to_be_enabled()
        assert problems == []
    finally:
        context.close()


def test_generation_in_spanish_on_a_phone(tiny_server, browser):
    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{tiny_server}/lang/es?next=/vision/generate")
        expect(page.locator("h1")).to_have_text("Generación de imágenes")
        page.locator('input[name="steps"]').fill("5")
        page.get_by_role("button", name="Generar").tap()
        expect(page.locator(".vision-progress-text")).to_have_text("Paso 5 de 5 (100 %)")
        expect(page.locator(".vision-result")).to_have_attribute("data-ready", "1")
        page.screenshot(path=str(screenshots_dir() / "vision-generate.phone.es.png"), full_page=True)
        assert problems == []
    finally:
        context.close()
