"""Debian's chromium driven by Playwright, as the browser tests use it: a phone's touch
context, real touch input, the pixels a canvas holds, where screenshots go. The `browser`
fixture (conftest.py) launches it."""
from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from game.vision.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_MISSING = (f"{CHROMIUM} not found: the browser tests need Debian's chromium (`apt-get install chromium`; "
                    "`make test` installs it where it runs as root)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = dict(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True)
DESKTOP = dict(viewport={"width": 1280, "height": 800})
# What a page shows is awaited up to 20 s, not Playwright's 5: a busy 2-core machine is slow to
# render, and a test that passes waits no longer for it.
expect.set_options(timeout=20_000)

def screenshots_dir() -> Path:
    """Where the browser tests leave their screenshots, to be looked at: DOODLE_E2E_SCREENSHOTS,
    else build/screenshots in the checkout (ignored by git)."""
    folder = Path(os.environ.get("DOODLE_E2E_SCREENSHOTS") or ROOT / "build" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def launched_chromium():
    """Debian's chromium, headless, through Playwright; closed afterwards."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Finger:
    """Real touch input through the DevTools protocol: the page gets touch Pointer Events."""

    def __init__(self, page: Page):
        self.cdp = page.context.new_cdp_session(page)

    def _send(self, kind: str, x: float | None = None, y: float | None = None) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}]
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    def draw(self, strokes: list[list[tuple[float, float, float]]], go_on=lambda: True) -> int:
        """Strokes of (x, y, ms) in viewport pixels, ms from the drawing's start; stops
        before a stroke when `go_on()` is false (the round is over). Returns strokes drawn."""
        start = time.monotonic()
        drawn = 0

        def wait_until(ms: float) -> None:
            delay = start + ms / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

        for stroke in strokes:
            (x, y, t), rest = stroke[0], stroke[1:]
            wait_until(t)
            if not go_on():
                break
            self._send("touchStart", x, y)
            for x, y, t in rest:
                wait_until(t)
                self._send("touchMove", x, y)
            self._send("touchEnd")
            drawn += 1
        return drawn


def fit_to_canvas(drawing: list, box: dict, draw_ms: float = 3000) -> list[list[tuple[float, float, float]]]:
    """Google's raw strokes [[x...], [y...], [t...]] scaled into the canvas's box, centred,
    their timing compressed into `draw_ms` (the order and rhythm of the strokes kept)."""
    xs = [x for s in drawing for x in s[0]]
    ys = [y for s in drawing for y in s[1]]
    ts = [t for s in drawing for t in s[2]]
    x0, y0, t0 = min(xs), min(ys), min(ts)
    w, h, span = max(xs) - x0 or 1, max(ys) - y0 or 1, (max(ts) - t0) or 1
    k = 0.75 * min(box["width"] / w, box["height"] / h)
    ox = box["x"] + (box["width"] - w * k) / 2
    oy = box["y"] + (box["height"] - h * k) / 2
    kt = min(1.0, draw_ms / span)
    return [[(ox + (x - x0) * k, oy + (y - y0) * k, (t - t0) * kt) for x, y, t in zip(*s[:3])] for s in drawing]


INK_PIXELS_JS = """(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""

def phone_page(browser) -> tuple:
    """A new phone-sized touch context and page, and the list its problems go into:
    page errors, console errors and HTTP errors (a test asserts it stays empty)."""
    return new_page(browser, PHONE)


def desktop_page(browser) -> tuple:
    """phone_page's, on a laptop's screen with a mouse."""
    return new_page(browser, DESKTOP)


def new_page(browser, device: dict) -> tuple:
    context = browser.new_context(**device)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.set_default_timeout(15_000)
    return context, page, problems


def page_paths(app) -> list[str]:
    """Every GET page of the app: routes without arguments, and those with one filled in
    (a word, a code; every vision task, whose pages differ); APIs, files and redirects left out."""
    fill = {"word": ["cat"], "code": ["ABCDE"], "key_id": ["1"], "format": ["ndjson"], "filename": ["style.css"],
            "name": list(TASKS)}
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.startswith(("/api/", "/lang/")):
            continue
        if any(arg not in fill for arg in rule.arguments):
            continue
        args = sorted(rule.arguments)
        for values in itertools.product(*(fill[a] for a in args)):
            path = rule.build(dict(zip(args, values)), append_unknown=False)[1]
            if not path.endswith((".js", ".webmanifest", ".zip", "healthz")):
                paths.append(path)
    return sorted(set(paths))
