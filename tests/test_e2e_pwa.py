"""End to end, in a real browser: the installable app (manifest, service worker, the
offline state) and the solo game in Spanish (the AI's sentences on screen and in the
voice's language). The server is the real app with the classroom tests' fake classifier
(tests/classroom_e2e_server.py: 2 strokes are a cat at 90 %, 1 an anvil at 30 %)."""
from __future__ import annotations

import io

import pytest

pytest.importorskip("playwright.sync_api")
from PIL import Image  # noqa: E402

from live_server import stroke_counter_server  # noqa: E402



@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with stroke_counter_server(tmp_path_factory.mktemp("pwa")) as base:
        yield base


def test_the_manifest_makes_the_app_installable(server, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server + "/")
        href = page.get_attribute("link[rel=manifest]", "href")
        response = page.request.get(server + href)
        assert response.ok and response.headers["content-type"].startswith("application/manifest+json")
        manifest = response.json()
        assert manifest["name"] == manifest["short_name"] == "Doodle Lab"
        assert manifest["start_url"] == "/" and manifest["display"] == "standalone" and manifest["scope"] == "/"
        assert manifest["theme_color"] and manifest["background_color"] and manifest["lang"] == "en"
        sizes = set()
        for icon in manifest["icons"]:
            image = page.request.get(server + icon["src"])
            assert image.ok, icon
            if icon["type"] == "image/png":
                w, h = Image.open(io.BytesIO(image.body())).size
                assert icon["sizes"] == f"{w}x{h}"
                sizes.add(w)
        assert {192, 512} <= sizes  # what Chrome asks of an installable app
        es = page.request.get(server + href, headers={"Accept-Language": "es"}).json()
        assert es["lang"] == "es" and es["description"].startswith("Dibuja una palabra")
    finally:
        context.close()


def test_the_service_worker_opens_the_shell_offline(server, browser):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server + "/")
        sw = page.request.get(server + "/sw.js")
        assert sw.headers["content-type"].startswith("text/javascript") and sw.headers["service-worker-allowed"] == "/"
        assert "__VERSION__" not in sw.text() and '"/offline"' in sw.text()
        page.wait_for_function("() => navigator.serviceWorker.ready.then((r) => !!r.active)")
        page.reload()
        assert page.evaluate("navigator.serviceWorker.controller !== null")  # it controls the page

        # Socket.IO is never cached: the play page connects through the network.
        page.goto(server + "/play")
        page.wait_for_function("() => window.doodleLab && window.doodleLab.socket.connected")

        context.set_offline(True)
        page.goto(server + "/")  # the home page, from the cache
        assert page.locator("h1").inner_text() == "Doodle Lab"
        banner = page.locator(".offline-banner")
        assert banner.is_visible() and "You're offline" in banner.inner_text()
        assert page.evaluate("document.documentElement.hasAttribute('data-offline')")

        page.goto(server + "/data")  # never cached: the offline page, not the browser's error
        assert page.locator("h1").inner_text() == "You're offline"
        assert page.locator("button", has_text="Try again").is_visible()

        context.set_offline(False)
        page.reload()
        assert page.locator("h1").inner_text() == "The data" and page.locator(".offline-banner").count() == 0
    finally:
        context.close()


def test_the_offline_shell_follows_the_language(server, browser):
    context = browser.new_context(locale="es", extra_http_headers={"Accept-Language": "es"})
    try:
        page = context.new_page()
        page.goto(server + "/")
        page.wait_for_function("() => navigator.serviceWorker.ready.then((r) => !!r.active)")
        page.reload()
        context.set_offline(True)
        page.goto(server + "/data")
        assert page.locator("h1").inner_text() == "No tienes conexión"
        page.goto(server + "/")
        assert "No tienes conexión" in page.locator(".offline-banner").inner_text()
        assert page.locator(".start a").inner_text() == "¡A dibujar!"
    finally:
        context.close()


# The voice, recorded: what would be said, and in which language.
SPEECH_SPY = """
window.__said = [];
window.speechSynthesis.speak = (u) => { window.__said.push([u.lang, u.text]); setTimeout(() => u.onend && u.onend(), 10); };
window.speechSynthesis.cancel = () => {};
"""


def stroke(page, box, i: int) -> None:
    y = box["y"] + box["height"] * (0.25 + 0.2 * i)
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    for k in range(1, 8):
        page.mouse.move(box["x"] + box["width"] * (0.2 + 0.08 * k), y + 5 * k, steps=2)
    page.mouse.up()
    page.wait_for_timeout(150)


def test_the_ai_speaks_spanish_in_spanish(server, browser):
    context = browser.new_context(locale="es-MX", extra_http_headers={"Accept-Language": "es-MX,es;q=0.9"},
                                  viewport={"width": 800, "height": 900}, service_workers="block")
    context.add_init_script(SPEECH_SPY)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(server + "/play?words=cat,dog&rounds=1&seconds=20")
        page.wait_for_function("() => document.getElementById('game').dataset.phase === 'drawing'")
        assert page.locator("#hud-word").inner_text() == "gato"
        box = page.locator("#canvas").bounding_box()
        stroke(page, box, 0)  # one stroke: the fake AI sees an anvil, at 30 %
        page.wait_for_function("() => document.getElementById('guess').textContent.includes('Veo un yunque…')")
        stroke(page, box, 1)  # two: a cat, the word
        page.wait_for_function("() => document.getElementById('guess').textContent.includes('¡Ya sé, es un gato!')")
        page.wait_for_selector("#result-card:not([hidden])")
        assert "¡La IA adivinó un gato!" in page.locator("#result-title").inner_text()
        said = page.evaluate("window.__said.filter(([, text]) => text)")
        assert said and all(lang == "es-MX" for lang, _ in said), said
        texts = [text for _, text in said]
        assert texts == ["Dibuja un gato", "Veo un yunque,", "¡Ya sé, es un gato!"], texts
    finally:
        context.close()


def test_online_the_worker_serves_the_shell_s_files_from_the_network(server, browser):
    """A release's pages must not run on the scripts the worker of the release before cached:
    served cache first, an old sketch.js met a new classroom.js (not in the shell), which
    failed. Online the network's copy comes, offline the cached one."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server + "/play")
        page.wait_for_function("() => navigator.serviceWorker.ready.then((r) => !!r.active)")
        page.reload()
        assert page.evaluate("navigator.serviceWorker.controller !== null")
        # What an older release's cache would hold.
        page.evaluate("""async () => {
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                await cache.put("/static/sketch.js", new Response("window.oldRelease = true;",
                                                                  { headers: { "Content-Type": "text/javascript" } }));
            }
        }""")
        page.reload()
        assert page.evaluate("window.oldRelease === undefined && typeof window.DoodleSketch.rerouter === 'function'")
        context.set_offline(True)
        page.reload()
        assert page.evaluate("window.oldRelease === true")  # offline, the cache's copy
    finally:
        context.close()
