"""Accessibility in a real browser: axe-core (static/vendor/axe.min.js) audits every page
of the app in English and in Spanish, some in the states a player reaches (a classroom's
lobby, a logged-in moderator, a vision task's result), and none may have a serious or critical violation; every
page keeps a phone's width with its text at 200 %.

The pages come from the app's url_map (tests/browser.py's page_paths): a new page is
audited without touching this file. The server is the real app with the classroom tests'
fake classifier (tests/classroom_e2e_server.py), so it starts in seconds.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page  # noqa: E402

from classroom_e2e_server import WORDS, StrokeCounter  # noqa: E402
from game.app import create_app  # noqa: E402
from live_server import stroke_counter_server  # noqa: E402
from browser import PHONE, page_paths, screenshots_dir

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "audit-password"
LANGUAGES = ("en", "es")
BLOCKING = ("serious", "critical")


def pages() -> list[str]:
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "CLASSIFIER": StrokeCounter(), "DECK": WORDS,
                      "DATABASE_URL": "sqlite://"})
    return page_paths(app)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with stroke_counter_server(tmp_path_factory.mktemp("a11y"), {"DOODLE_ADMIN_PASSWORD": PASSWORD}) as base:
        yield base


def audit(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    # From the server, as the page's own scripts come: the CSP runs no inline script.
    page.add_script_tag(url="/static/vendor/axe.min.js")
    result = page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING]


def open_page(context, url: str) -> Page:
    page = context.new_page()
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)  # the page's scripts fill it in (the play page's first card)
    return page


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_passes_axe(server, browser, lang):
    context = browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang})
    report = {}
    try:
        for path in pages():
            page = open_page(context, server + path)
            assert page.evaluate("document.documentElement.lang") == lang, path
            report[path] = audit(page)
            page.close()
        # States behind a click: the classroom's lobby, the moderator's pages.
        page = open_page(context, server + "/classroom")
        page.click("#btn-create")
        page.wait_for_selector("#lobby:not([hidden])")
        report["/classroom (lobby)"] = audit(page)
        page = open_page(context, server + "/admin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin")
        report["/admin (logged in)"] = audit(page)
        page = open_page(context, server + "/admin/drawings?word=cat")
        report["/admin/drawings (logged in)"] = audit(page)
        # A vision result (the offline EfficientNet-Lite0): the photo, the labels' bars, the notes.
        page = open_page(context, server + "/vision/classification")
        photo = io.BytesIO()
        Image.radial_gradient("L").convert("RGB").save(photo, "PNG")
        page.set_input_files('input[name="image"]', {"name": "photo.png", "mimeType": "image/png",
                                                     "buffer": photo.getvalue()})
        page.wait_for_selector(".vision-result[data-ready]", timeout=60_000)
        report["/vision/classification (a result)"] = audit(page)
    finally:
        context.close()
    print(f"\naxe-core, {lang}: serious or critical violations per page")
    for path, found in report.items():
        print(f"  {len(found):2d}  {path}")
    failing = {path: found for path, found in report.items() if found}
    assert not failing, json.dumps(failing, indent=1, ensure_ascii=False)


# Every Content-Security-Policy violation, as the page's securitypolicyviolation event has it.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_no_page_breaks_the_content_security_policy(server, browser):
    """The CSP (game/security.py) leaves every page working: no violation (in the console
    or as an event) and no script error on any page, nor in the states a click reaches: the
    solo game's connection, the classroom's lobby with its QR code, a vision result."""
    context = browser.new_context()
    context.add_init_script(CSP_WATCH)
    problems = []

    def visit(path: str) -> Page:
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"{path}: page error: {e}"))
        page.on("console", lambda m: problems.append(f"{path}: console: {m.text}")
                if "Content Security Policy" in m.text else None)
        page.goto(server + path, wait_until="load")
        page.wait_for_timeout(300)
        return page

    def check(page: Page, path: str) -> None:
        problems.extend(f"{path}: violation: {v}" for v in page.evaluate("window.__cspViolations"))
        page.close()

    try:
        paths = pages()
        assert {"/", "/play", "/classroom", "/contribute", "/data", "/vision", "/offline"} <= set(paths)
        for path in paths:
            check(visit(path), path)
        page = visit("/play")
        page.wait_for_function("() => window.doodleLab && window.doodleLab.socket.connected", timeout=20_000)
        check(page, "/play (connected)")
        page = visit("/classroom")
        page.click("#btn-create")
        page.wait_for_selector("#qr svg", timeout=20_000)
        check(page, "/classroom (lobby)")
        page = visit("/vision/classification")
        photo = io.BytesIO()
        Image.radial_gradient("L").convert("RGB").save(photo, "PNG")
        page.set_input_files('input[name="image"]', {"name": "photo.png", "mimeType": "image/png",
                                                     "buffer": photo.getvalue()})
        page.wait_for_selector(".vision-result[data-ready]", timeout=60_000)  # its photo: a data: URL
        check(page, "/vision/classification (a result)")
        page = visit("/offline")
        with page.expect_navigation(timeout=20_000):
            page.click("[data-reload]")  # "Try again", a listener now, not an inline handler
        check(page, "/offline (try again)")
        assert not problems, problems  # before closing: a socket's frames crossing the close are not the page's
    finally:
        context.close()


# The page scrolls sideways, or an element sticks out of the screen where the page clips it
# (the drawing pages hide their overflow): elements in a sideways-scrolling box are fine.
# `width` is the phone's: a phone browser widens its layout to fit a page that is too wide.
WIDER_THAN_THE_SCREEN = """(width) => {
  if (document.documentElement.scrollWidth > width || window.innerWidth > width) return [`the page is ${document.documentElement.scrollWidth}px wide`];
  const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const out = [];
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (!r.width || r.right <= width + 1 || !e.checkVisibility()) continue;
    let a = e.parentElement;
    while (a && a !== document.body && !scrolls(a)) a = a.parentElement;
    if (!a || a === document.body) out.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className} ends at ${Math.round(r.right)}px`);
  }
  return out.slice(0, 5);
}"""


@pytest.mark.parametrize("lang", LANGUAGES)
def test_text_at_200_percent_keeps_the_phone_layout(server, browser, lang):
    """Root font size doubled on a 390 px wide phone: nothing wider than the screen."""
    context = browser.new_context(**PHONE, locale=lang, extra_http_headers={"Accept-Language": lang})
    too_wide = {}
    try:
        for path in pages():
            page = open_page(context, server + path)
            page.evaluate("document.documentElement.style.fontSize = '200%'")
            page.wait_for_timeout(100)
            wide = page.evaluate(WIDER_THAN_THE_SCREEN, PHONE["viewport"]["width"])
            if wide:
                too_wide[path] = wide
            page.close()
    finally:
        context.close()
    assert not too_wide, f"wider than the screen at 200 % text: {too_wide}"


def test_reduced_motion_stops_the_animations(server, browser):
    context = browser.new_context(reduced_motion="reduce")
    try:
        page = open_page(context, server + "/")
        durations = page.evaluate("""() => [...document.querySelectorAll('*')].map((e) => getComputedStyle(e))
            .filter((s) => parseFloat(s.animationDuration) > 0.01 || parseFloat(s.transitionDuration) > 0.01).length""")
        assert durations == 0
    finally:
        context.close()


def test_every_control_is_reachable_by_keyboard(server, browser):
    """Tab through the home page: every link and button gets the focus, visibly."""
    context = browser.new_context()
    try:
        page = open_page(context, server + "/")
        controls = page.evaluate("""[...document.querySelectorAll('a[href], button:not([disabled]), input, summary')]
            .filter((e) => e.checkVisibility()).length""")  # a closed <details>' links are not reachable yet
        reached = set()
        for _ in range(controls):
            page.keyboard.press("Tab")
            info = page.evaluate("""() => { const e = document.activeElement;
                const s = getComputedStyle(e);
                return [e.outerHTML.slice(0, 60), s.outlineStyle !== 'none' || s.boxShadow !== 'none'] }""")
            assert info[1], f"no visible focus on {info[0]}"
            reached.add(info[0])
        assert len(reached) == controls
    finally:
        context.close()


DESKTOP = dict(viewport={"width": 1366, "height": 768})


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_every_page_on_a_phone_and_a_desktop(server, browser, lang, device):
    """Every page at a phone's and a desktop's size, in the language asked for, with no
    script error and no sideways scroll; a screenshot of each is left in screenshots_dir()
    (build/screenshots) to be looked at."""
    size = PHONE if device == "phone" else DESKTOP
    context = browser.new_context(**size, locale=lang, extra_http_headers={"Accept-Language": lang})
    problems = []
    try:
        for path in pages():
            page = context.new_page()
            page.on("pageerror", lambda e, path=path: problems.append(f"{path}: {e}"))
            page.goto(server + path, wait_until="load")
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.lang") == lang, path
            wide = page.evaluate(WIDER_THAN_THE_SCREEN, size["viewport"]["width"])
            assert not wide, (path, wide)
            name = path.strip("/").replace("/", "-") or "home"
            page.screenshot(path=str(screenshots_dir() / f"{name}.{device}.{lang}.png"))
            page.close()
        assert not problems, problems
    finally:
        context.close()


# Counts a plural rule can trip on; each message's Spanish forms for them.
PLURALS = {
    ("The AI recognized %(got)s of your %(n)s doodle.", "The AI recognized %(got)s of your %(n)s doodles."): {
        0: "La IA reconoció 0 de tus 0 dibujos.", 1: "La IA reconoció 1 de tu 1 dibujo.",
        2: "La IA reconoció 2 de tus 2 dibujos.", 1_000_000: "La IA reconoció 1000000 de tus 1000000 dibujos."},
    ("%(got)s of %(n)s drawing recognized.", "%(got)s of %(n)s drawings recognized."): {
        0: "0 de 0 dibujos reconocidos.", 1: "1 de 1 dibujo reconocido.",
        2: "2 de 2 dibujos reconocidos.", 1_000_000: "1000000 de 1000000 dibujos reconocidos."},
}


@pytest.mark.parametrize("path", ["/play", "/classroom"])
def test_the_pages_say_counts_in_spanish(server, browser, path):
    """The scripts' plural forms come from the Spanish catalogue for 0, 1, 2 and a million,
    whatever plural rule the installed Babel knows for Spanish."""
    context = browser.new_context(locale="es", extra_http_headers={"Accept-Language": "es"})
    try:
        page = open_page(context, server + path)
        for (one, many), expected in PLURALS.items():
            said = {n: page.evaluate("([one, many, n]) => window.DoodleI18n.ngettext(one, many, n, { got: n })",
                                     [one, many, n]) for n in expected}
            assert said == expected, said
    finally:
        context.close()
