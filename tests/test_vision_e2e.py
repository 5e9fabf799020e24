"""End to end: the vision lab on a phone. `python -m game serve` runs for real (the play
test's `server` fixture), with its out-of-the-box models only; Debian's chromium, driven by
Playwright, opens a task page on a phone-sized touch screen, uploads a photo through the
page's file input and waits for the result drawn: the photo on a canvas and the labels'
bars (the offline EfficientNet-Lite0 on scikit-image's coffee; the doodle model on a photo
of a pen drawing, with the 28 x 28 bitmap it saw); and, on the tiny models, every other
kind of result: boxes, masks, a depth map, typed labels.
"""
from __future__ import annotations

import math
import os
import re
import threading

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from test_e2e_play import PHONE, browser, phone_page, server  # noqa: F401 (fixtures)
from test_vision import empty_cache, encode, paper_photo, photo, tiny_models  # noqa: F401 (fixtures)

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
