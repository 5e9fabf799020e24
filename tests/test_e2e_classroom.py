"""End to end: a classroom in a real browser. A projector page and three phones (separate
browser contexts, phone-sized touch screens) play a short race game of 2 rounds of 5 s.

The server is the real app (tests/classroom_e2e_server.py) with a fake classifier that
counts strokes (2 strokes: "cat", 3: "dog", else "anvil"), so the test decides what the
AI sees: Ana draws the word both rounds, Bo draws one stroke (an "anvil"), Cy one stroke
in the first round only. Drawing is real touch input (CDP, as tests/test_e2e_play.py).
The projector's mosaic, leaderboard, podium and gallery are checked; so are the lobby on a
projector's screen (1366×768, 1280×800), words whose ids are not their names ("teddy-bear")
in English and Spanish, and a second game starting with a clean feed.
"""
from __future__ import annotations

import json
import re

import pytest

playwright = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from live_server import shipped_model_classroom_server, stroke_counter_server  # noqa: E402
from browser import PHONE, Finger, screenshots_dir

SECONDS = 5
PROJECTOR = dict(viewport={"width": 1280, "height": 800})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with stroke_counter_server(tmp_path_factory.mktemp("e2e-classroom")) as base:
        yield base


def watch(page: Page, problems: list[str], name: str) -> Page:
    page.on("pageerror", lambda e: problems.append(f"{name}: page error: {e}"))
    page.on("console", lambda m: problems.append(f"{name}: console: {m.text}") if m.type == "error" else None)
    page.set_default_timeout(20_000)
    return page


def draw_strokes(page: Page, n: int) -> None:
    """`n` short separate strokes across the phone's canvas, with real touch input. Headless
    chromium may take a run of quick sideways strokes for its "swipe back" gesture (a phone
    went back to about:blank on its 4th), so more than 3 strokes go down the canvas."""
    box = page.locator("#canvas").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200, box
    strokes = []
    for i in range(n):
        at = (i + 1) / (n + 1)
        if n > 3:
            x = box["x"] + box["width"] * at
            y0, y1 = box["y"] + box["height"] * 0.2, box["y"] + box["height"] * 0.8
            strokes.append([(x + (j % 2) * 6, y0 + (y1 - y0) * j / 8, 25 * j + 300 * i) for j in range(9)])
        else:
            y = box["y"] + box["height"] * at
            x0, x1 = box["x"] + box["width"] * 0.2, box["x"] + box["width"] * 0.8
            strokes.append([(x0 + (x1 - x0) * j / 8, y + (j % 2) * 6, 25 * j + 300 * i) for j in range(9)])
    Finger(page).draw(strokes)


def create_room(projector: Page, server: str, mode: str | None = None, button: str = "Create a room") -> str:
    """The teacher opens /classroom and creates a room (in `mode`) with the button named
    `button`; returns the room's code, once the projector shows it."""
    projector.goto(f"{server}/classroom")
    if mode:
        projector.locator("#create-mode").select_option(mode)
    projector.get_by_role("button", name=button).click()
    code = projector.locator("#room-code")
    expect(code).to_have_text(re.compile(r"^[A-HJ-NP-Z2-9]{5}$"))
    return code.text_content()


def wait_drawing(page: Page, index: int) -> None:
    page.wait_for_function(
        "(i) => { const s = window.doodleJoin.st; return document.getElementById('phone').dataset.view === 'draw'"
        " && s.round && s.round.index === i && performance.now() >= s.clockStart + 100; }", arg=index)


def test_classroom_race_game(server, browser):
    problems: list[str] = []
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server)
    assert projector.locator("#qr svg path").count() >= 1
    assert projector.locator("#join-url").text_content().endswith(f"/join/{code}")

    phones = {}
    for name in ("Ana", "Bo", "Cy"):
        page = watch(browser.new_context(**PHONE).new_page(), problems, name)
        page.goto(f"{server}/join/{code}")
        expect(page.locator("#join-code")).to_have_value(code)
        page.locator("#join-nickname").fill(name)
        consent = page.locator("#dataset-consent")
        expect(consent).not_to_be_checked()  # the open dataset toggle: off until chosen
        if name == "Ana":
            consent.check()
        page.get_by_role("button", name="Join").tap()
        expect(page.locator("#wait")).to_be_visible()
        phones[name] = page
    assert phones["Ana"].evaluate("localStorage.getItem('doodle-lab:dataset')") == "1"
    # A duplicate nickname and a wrong code are refused with clear messages.
    intruder = watch(browser.new_context(**PHONE).new_page(), problems, "intruder")
    intruder.goto(f"{server}/join")
    intruder.locator("#join-code").fill("ZZZZZ" if code != "ZZZZZ" else "YYYYY")
    intruder.locator("#join-nickname").fill("Eve")
    intruder.get_by_role("button", name="Join").tap()
    expect(intruder.locator("#join-error")).to_contain_text("No room with that code")
    intruder.locator("#join-code").fill(code)
    intruder.locator("#join-nickname").fill("ana")
    intruder.get_by_role("button", name="Join").tap()
    expect(intruder.locator("#join-error")).to_contain_text("already called")
    intruder.context.close()

    expect(projector.locator("#players li")).to_have_count(3)
    projector.locator("#set-rounds").fill("2")
    projector.locator("#set-seconds").fill(str(SECONDS))
    projector.locator('input[name="deck"][value="custom"]').check()
    projector.locator("#set-words").fill("cat, unicorn")
    projector.get_by_role("button", name="Start").click()
    expect(projector.locator("#settings-error")).to_contain_text("unicorn")  # checked against known words
    projector.locator("#set-words").fill("cat, dog")
    projector.get_by_role("button", name="Start").click()

    for index, word in enumerate(["cat", "dog"]):
        expect(projector.locator("#stage-word")).to_have_text(f"Draw: {word}")
        for page in phones.values():
            wait_drawing(page, index)
            expect(page.locator("#draw-word")).to_have_text(word)
        draw_strokes(phones["Ana"], 2 + index)  # cat: 2 strokes, dog: 3
        draw_strokes(phones["Bo"], 1)
        if index == 0:
            draw_strokes(phones["Cy"], 1)
        expect(phones["Ana"].locator("#ai-guess")).to_have_text("The AI got it!")
        expect(phones["Bo"].locator("#ai-guess")).to_contain_text("anvil")
        # The projector's mosaic: every drawing live, with the AI's guess under it.
        mosaic = projector.locator("#mosaic .cr-tile")
        expect(mosaic).to_have_count(3)
        expect(projector.locator("#mosaic .cr-tile.is-recognized")).to_have_count(1)
        expect(projector.locator("#mosaic .cr-tile", has_text="Bo")).to_contain_text("anvil")
        assert projector.evaluate(
            "() => [...document.querySelectorAll('#mosaic canvas')].slice(0, 2).every((c) => {"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; })")
        expect(projector.locator("#banner")).to_contain_text(f"It was: {word}", timeout=SECONDS * 1000 + 5000)

    expect(projector.locator("#results")).to_be_visible(timeout=15_000)
    expect(projector.locator("#podium li").first).to_have_text(re.compile(r"^1st\s+Ana — \d+$"))  # the place in words
    expect(projector.locator("#leaderboard li").first).to_contain_text("Ana")
    board = projector.locator("#leaderboard li").all_text_contents()
    assert [line.split(" — ")[0].split(". ")[1] for line in board][0] == "Ana" and len(board) == 3
    gallery = projector.locator("#gallery .cr-gallery-word")
    expect(gallery).to_have_count(2)
    expect(gallery.nth(0).locator("h3")).to_have_text("cat")
    expect(gallery.nth(1).locator("h3")).to_have_text("dog")
    expect(gallery.nth(0).locator("figure")).to_have_count(3)
    expect(gallery.nth(0).locator("figure.is-recognized")).to_contain_text("Ana")
    expect(gallery.nth(0).locator("figure", has_text="Bo")).to_contain_text("anvil")
    expect(gallery.nth(1).locator("figure", has_text="Cy")).to_contain_text("nothing")
    for page in phones.values():
        expect(page.locator("#wait-title")).to_have_text("Game over")
    expect(phones["Ana"].locator("#wait-message")).to_contain_text("#1")
    assert not problems, problems


def test_classroom_pictionary_with_the_teacher_drawing(server, browser):
    """Pictionary against the AI, the teacher taking turns: round 1 the teacher draws on the
    projector (mouse) while the phones type guesses ("cats" is almost, "cat" is correct);
    round 2 Ana draws on her phone and Bo guesses before the AI gets it."""
    problems: list[str] = []
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server, "pictionary")
    phones = {}
    for name in ("Ana", "Bo"):
        page = watch(browser.new_context(**PHONE).new_page(), problems, name)
        page.goto(f"{server}/join/{code}")
        page.locator("#join-nickname").fill(name)
        page.get_by_role("button", name="Join").tap()
        expect(page.locator("#wait")).to_be_visible()
        phones[name] = page
    expect(projector.locator("#players li")).to_have_count(2)
    projector.locator("#set-rounds").fill("2")
    projector.locator("#set-seconds").fill("10")
    projector.locator("#set-host-draws").check()
    projector.locator('input[name="deck"][value="custom"]').check()
    projector.locator("#set-words").fill("cat, dog")
    projector.get_by_role("button", name="Start").click()

    # Round 1: the teacher draws on the projector; the mosaic gives way to the drawing board,
    # and the word, which the class must not see, shows only while the teacher holds a button.
    expect(projector.locator("#stage-word")).to_have_text("Teacher draws: ___")
    expect(projector.locator("#host-drawing")).to_be_visible()
    expect(projector.locator("#mosaic")).to_be_hidden()
    expect(projector.locator("#host-word")).to_be_hidden()
    projector.locator("#host-word-btn").hover()
    projector.mouse.down()
    expect(projector.locator("#host-word")).to_have_text("cat")
    expect(projector.locator("#host-word")).to_be_visible()
    projector.mouse.up()
    expect(projector.locator("#host-word")).to_be_hidden()
    for page in phones.values():
        expect(page.locator("#guessing")).to_be_visible()
        expect(page.locator("#guess-drawer")).to_contain_text("Teacher is drawing")
    expect(projector.locator("#countdown")).to_have_text(re.compile(r"^\d+ s$"))
    box = projector.locator("#host-canvas").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 300, box
    for i in range(2):  # two strokes: the fake AI sees "cat"
        y = box["y"] + box["height"] * (i + 1) / 3
        projector.mouse.move(box["x"] + box["width"] * 0.2, y)
        projector.mouse.down()
        for j in range(1, 9):
            projector.mouse.move(box["x"] + box["width"] * (0.2 + 0.075 * j), y + (j % 2) * 8)
            projector.wait_for_timeout(20)
        projector.mouse.up()
    expect(projector.locator("#host-ai")).to_contain_text("The AI got it: cat")
    phones["Bo"].locator("#guess-text").fill("cats")
    phones["Bo"].locator("#guess-text").press("Enter")
    expect(phones["Bo"].locator("#guess-result")).to_contain_text("Almost!")
    phones["Ana"].locator("#guess-text").fill("Cat")
    phones["Ana"].locator("#guess-text").press("Enter")
    expect(phones["Ana"].locator("#guess-result")).to_contain_text("Correct")
    expect(projector.locator("#banner")).to_contain_text("It was: cat. The AI was first!")

    # Round 2: Ana draws on her phone; the projector shows her drawing, Bo guesses first.
    expect(projector.locator("#stage-word")).to_contain_text("Ana draws", timeout=10_000)
    expect(projector.locator("#host-drawing")).to_be_hidden()
    wait_drawing(phones["Ana"], 1)
    expect(phones["Ana"].locator("#draw-word")).to_have_text("dog")
    phones["Bo"].wait_for_function("() => performance.now() >= window.doodleJoin.st.clockStart + 100")
    phones["Bo"].locator("#guess-text").fill("dog")
    phones["Bo"].locator("#guess-text").press("Enter")
    expect(phones["Bo"].locator("#guess-result")).to_contain_text("Correct")
    expect(projector.locator("#banner")).to_contain_text("It was: dog. The class beat the AI!")

    expect(projector.locator("#results")).to_be_visible(timeout=15_000)
    board = projector.locator("#leaderboard li").all_text_contents()
    assert len(board) == 2 and board[0].startswith("1. Ana"), board  # guessed once, drew once
    assert not problems, problems


# What a canvas shows: is there ink within `r` device pixels of each point (CSS px from the
# canvas's top-left)?
INK_AT_JS = """([sel, points, r]) => {
  const c = document.querySelector(sel), g = c.getContext('2d');
  const k = c.width / c.getBoundingClientRect().width;
  return points.map(([x, y]) => {
    const d = g.getImageData(Math.round(x * k) - r, Math.round(y * k) - r, 2 * r + 1, 2 * r + 1).data;
    for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
    return false;
  });
}"""

# The share of a canvas's pixels with ink.
INK_SHARE_JS = """(sel) => {
  const c = document.querySelector(sel), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
  return n / (c.width * c.height);
}"""

# A projector's mosaic tile against `strokes` (what the finger drew, [[xs], [ys]]) drawn by the
# same function into a canvas of the tile's size: the share of their inked pixels in common
# (intersection over union), and the span of the coordinates the server relayed.
TILE_VS_DRAWING_JS = """([player, strokes]) => {
  const tile = window.doodleClassroom.st.tiles.get(player);
  const rect = tile.canvas.getBoundingClientRect();
  const ref = document.createElement('canvas');
  Object.assign(ref.style, { position: 'fixed', left: '0', top: '0', width: rect.width + 'px', height: rect.height + 'px' });
  document.body.append(ref);
  window.DoodleSketch.drawMini(ref, strokes);
  const a = tile.canvas.getContext('2d').getImageData(0, 0, tile.canvas.width, tile.canvas.height).data;
  const b = ref.getContext('2d').getImageData(0, 0, ref.width, ref.height).data;
  ref.remove();
  let both = 0, either = 0;
  for (let i = 3; i < a.length; i += 4) { if (a[i] && b[i]) both++; if (a[i] || b[i]) either++; }
  const xs = tile.strokes.flatMap((s) => s[0]), ys = tile.strokes.flatMap((s) => s[1]);
  return { iou: either ? both / either : 0, ink: either,
           span: [Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)] };
}"""


LONG_NAME = "Maximiliana Fernández Ruiz"  # 26 characters: more than the 20 a nickname may have
NICKNAME_TEXTS = {
    "en": {"hint": "At most 20 characters.", "over": "Nicknames are at most 20 characters. This one has 26.",
           "refused": "Nicknames are at most 20 characters.",
           "taken": "Someone in the room is already called maximiliana. Please choose another nickname."},
    "es": {"hint": "Como máximo 20 caracteres.", "over": "Los apodos tienen como máximo 20 caracteres. Este tiene 26.",
           "refused": "Los apodos tienen como máximo 20 caracteres.",
           "taken": "Alguien en la sala ya se llama maximiliana. Elige otro apodo, por favor."},
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_long_nickname_is_never_cut_and_refusals_are_sentences(server, browser, lang):
    """The join form says the nickname's limit; a longer name, typed key by key as a person
    would, stays whole in the field and the form says it is too long, before and after
    Join, instead of cutting it; a taken name is refused with a whole sentence."""
    problems: list[str] = []
    texts = NICKNAME_TEXTS[lang]
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server)

    phone = watch(browser.new_context(**PHONE, locale=lang).new_page(), problems, "phone")
    phone.goto(f"{server}/join/{code}")
    hint, field, error = phone.locator("#join-nickname-hint"), phone.locator("#join-nickname"), phone.locator("#join-error")
    expect(hint).to_be_visible()
    expect(hint).to_have_text(texts["hint"])
    field.press_sequentially(LONG_NAME)
    expect(field).to_have_value(LONG_NAME)  # not cut at 20
    expect(hint).to_have_text(texts["over"])
    expect(field).to_have_attribute("aria-invalid", "true")
    phone.locator("#btn-join").tap()
    expect(error).to_have_text(texts["refused"])
    expect(error).to_be_visible()
    expect(phone.locator("#wait")).to_be_hidden()
    expect(field).to_have_value(LONG_NAME)
    phone.screenshot(path=str(screenshots_dir() / f"join-long-nickname-{lang}.png"))
    assert projector.locator("#players li").count() == 0  # nobody joined under a cut name

    # Shortened by the person, it joins.
    field.fill("Maximiliana")
    expect(hint).to_have_text(texts["hint"])
    expect(field).to_have_attribute("aria-invalid", "false")
    phone.locator("#btn-join").tap()
    expect(phone.locator("#wait")).to_be_visible()
    expect(projector.locator("#players li")).to_have_count(1)

    # The server's refusals read as sentences: a capital first, a full stop last.
    other = watch(browser.new_context(**PHONE, locale=lang).new_page(), problems, "other")
    other.goto(f"{server}/join/{code}")
    other.locator("#join-nickname").fill("maximiliana")
    other.locator("#btn-join").tap()
    expect(other.locator("#join-error")).to_have_text(texts["taken"])
    assert re.fullmatch(r"[A-ZÁÉÍÓÚÑ].*\.", other.locator("#join-error").text_content())
    other.screenshot(path=str(screenshots_dir() / f"join-nickname-taken-{lang}.png"))
    # Checked before closing: a socket's frames crossing the close are not the page's.
    assert not problems, problems
    for page in (projector, phone, other):
        page.context.close()


def l_shape(box: dict) -> list[tuple[float, float]]:
    """An "L" over most of the canvas, in CSS px from its top-left: down the left, then
    along the bottom."""
    w, h = box["width"], box["height"]
    down = [(0.2 * w, (0.2 + 0.5 * j / 10) * h) for j in range(11)]
    along = [((0.2 + 0.6 * j / 10) * w, 0.7 * h) for j in range(1, 11)]
    return down + along


def test_a_phone_and_a_laptop_draw_what_the_student_drew(server, browser):
    """A student's ink, by touch on a phone and by mouse on a laptop: the canvas shows the
    stroke under the finger and nothing else, the server gets it in the canvas's own
    coordinates, and the projector's mosaic shows the same drawing."""
    problems: list[str] = []
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server)
    students = {"Ana": browser.new_context(**PHONE).new_page(),
                "Bo": browser.new_context(viewport={"width": 1366, "height": 768}).new_page()}
    for name, page in students.items():
        watch(page, problems, name)
        page.goto(f"{server}/join/{code}")
        page.locator("#join-nickname").fill(name)
        page.get_by_role("button", name="Join").click()
        expect(page.locator("#wait")).to_be_visible()
    expect(projector.locator("#players li")).to_have_count(2)
    projector.locator("#set-rounds").fill("1")
    projector.locator("#set-seconds").fill("20")
    projector.locator('input[name="deck"][value="custom"]').check()
    projector.locator("#set-words").fill("cat")
    projector.get_by_role("button", name="Start").click()

    drawn = {}
    for name, page in students.items():
        wait_drawing(page, 0)
        box = page.locator("#canvas").bounding_box()
        assert box and box["width"] > 200 and box["height"] > 200, box
        path = l_shape(box)
        if name == "Ana":  # a finger
            Finger(page).draw([[(box["x"] + x, box["y"] + y, 20 * i) for i, (x, y) in enumerate(path)]])
        else:  # a mouse
            page.mouse.move(box["x"] + path[0][0], box["y"] + path[0][1])
            page.mouse.down()
            for x, y in path[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y)
            page.mouse.up()
        # Under the stroke: ink. Away from it (the L's open side, the corners): none.
        on = page.evaluate(INK_AT_JS, ["#canvas", [list(p) for p in path[::3]], 3])
        w, h = box["width"], box["height"]
        off = page.evaluate(INK_AT_JS, ["#canvas", [[0.6 * w, 0.35 * h], [0.9 * w, 0.1 * h], [0.05 * w, 0.95 * h],
                                                    [0.5 * w, 0.45 * h], [0.95 * w, 0.9 * h]], 2])
        assert all(on), f"{name}: no ink under the stroke at {[p for p, i in zip(path[::3], on) if not i]}"
        assert not any(off), f"{name}: ink away from the stroke: {off}"
        share = page.evaluate(INK_SHARE_JS, "#canvas")
        assert 0.002 < share < 0.06, f"{name}: {share:.1%} of the canvas inked by one thin L"
        # The points the student's canvas holds: what the projector's tile must come to hold.
        held = page.evaluate("window.doodleJoin.pad.strokes.map((s) => s.x.length)")
        assert len(held) == 1 and held[0] >= len(path) - 2, (name, held, len(path))
        drawn[name] = (path, w, h, held[0])
        if name == "Ana":
            page.screenshot(path=str(screenshots_dir() / "classroom-phone-drawing.png"))

    expect(projector.locator("#mosaic .cr-tile")).to_have_count(2)
    players = dict(projector.evaluate(
        "[...window.doodleClassroom.st.nicknames].map(([pid, name]) => [name, pid])"))
    for name, (path, w, h, held) in drawn.items():
        strokes = [[[x for x, _ in path], [y for _, y in path]]]
        # The whole stroke, not most of it: on a busy machine its last points come a beat later.
        projector.wait_for_function(
            "([pid, n]) => { const t = window.doodleClassroom.st.tiles.get(pid);"
            " return t && t.strokes.length === 1 && t.strokes[0][0].length >= n; }",
            arg=[players[name], held])
        seen = projector.evaluate(TILE_VS_DRAWING_JS, [players[name], strokes])
        # The server got the drawing in the canvas's coordinates: 0.6 of its width, 0.5 of its height.
        assert abs(seen["span"][0] - 0.6 * w) < 0.05 * w and abs(seen["span"][1] - 0.5 * h) < 0.05 * h, (name, seen, w, h)
        assert seen["iou"] > 0.8, (name, seen)
    projector.screenshot(path=str(screenshots_dir() / "classroom-projector-mosaic.png"))
    assert not problems, problems


# --- the lobby on a projector, words by their names, one game after another ------------------

PROJECTOR_SIZES = {"1366x768": {"width": 1366, "height": 768}, "1280x800": {"width": 1280, "height": 800}}
HOST_STORE = "doodle-lab:classroom-host"

# The lobby as the page opens (scrolled to the top): the room code's lines, where the QR code,
# the join URL and the sticky Start bar are, and each player's row, name and Remove button.
LOBBY_GEOMETRY_JS = """() => {
  window.scrollTo(0, 0);
  const box = (e) => { const r = e.getBoundingClientRect(); return { left: r.left, top: r.top, right: r.right, bottom: r.bottom }; };
  const code = document.getElementById('room-code');
  return {
    viewport: { width: innerWidth, height: innerHeight }, pageWidth: document.documentElement.scrollWidth,
    code: { lines: code.getClientRects().length, height: code.parentElement.getBoundingClientRect().height,
            fontSize: parseFloat(getComputedStyle(code).fontSize), box: box(code) },
    qr: box(document.querySelector('#qr svg')), url: box(document.getElementById('join-url')),
    bar: box(document.getElementById('controls')),
    players: [...document.querySelectorAll('#players li')].map((li) => ({
      row: box(li), name: box(li.querySelector('.cr-player-name') || li), remove: box(li.querySelector('.cr-remove')) })),
  };
}"""

# Every text the elements with these ids show, in order (a banner or a phone's title changes
# within seconds: the test reads them afterwards).
RECORD_TEXTS_JS = """(ids) => {
  window.__texts = [];
  for (const id of ids) {
    const e = document.getElementById(id);
    new MutationObserver(() => window.__texts.push([id, e.textContent]))
      .observe(e, { childList: true, characterData: true, subtree: true });
  }
}"""


def texts_seen(page: Page, element_id: str) -> list[str]:
    return [text for i, text in page.evaluate("window.__texts") if i == element_id]


def in_view(b: dict, viewport: dict) -> bool:
    return b["left"] >= 0 and b["top"] >= 0 and b["right"] <= viewport["width"] and b["bottom"] <= viewport["height"]


def middle(b: dict) -> float:
    return (b["top"] + b["bottom"]) / 2


def overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def join_phone(browser, server: str, code: str, name: str, problems: list[str], lang: str = "en") -> Page:
    page = watch(browser.new_context(**PHONE, extra_http_headers={"Accept-Language": lang}).new_page(),
                 problems, name)
    page.goto(f"{server}/join/{code}")
    page.locator("#join-nickname").fill(name)
    page.locator("#btn-join").tap()
    expect(page.locator("#wait")).to_be_visible()
    return page


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_lobby_fits_a_projector_screen(server, browser, lang):
    """The teacher's lobby on a projector's screen (1366×768, then 1280×800), with players of
    short, long and unbreakable names: the room code on one line, the QR code and the join
    URL whole on the screen and clear of the sticky Start bar, without scrolling; the Remove
    buttons lined up, each beside its player's name."""
    problems: list[str] = []
    context = browser.new_context(viewport=PROJECTOR_SIZES["1366x768"], locale=lang,
                                  extra_http_headers={"Accept-Language": lang})
    projector = watch(context.new_page(), problems, "projector")
    code = create_room(projector, server, button={"en": "Create a room", "es": "Crear una sala"}[lang])
    names = ["Ana", "Maximiliano José", "Wolfeschlegelst", "Bo"]
    phones = [join_phone(browser, server, code, name, problems) for name in names]
    expect(projector.locator("#players li")).to_have_count(len(names))
    for size, viewport in PROJECTOR_SIZES.items():
        projector.set_viewport_size(viewport)
        g = projector.evaluate(LOBBY_GEOMETRY_JS)
        assert g["viewport"] == viewport and g["pageWidth"] <= viewport["width"], (size, g)
        assert g["code"]["lines"] == 1 and g["code"]["height"] < 1.6 * g["code"]["fontSize"], (size, g["code"])
        for part in ("code", "qr", "url"):
            where = g[part]["box"] if part == "code" else g[part]
            assert in_view(where, viewport), f"{size}: the {part} is not all on the screen: {where}"
            assert not overlap(where, g["bar"]), f"{size}: the Start bar covers the {part}: {where} {g['bar']}"
        assert g["qr"]["bottom"] - g["qr"]["top"] >= 250, f"{size}: a QR code too small to scan from a desk: {g['qr']}"
        columns: dict[int, list[dict]] = {}
        for p in g["players"]:
            columns.setdefault(round(p["row"]["left"]), []).append(p)
        for rows in columns.values():
            lefts = [p["remove"]["left"] for p in rows]
            assert max(lefts) - min(lefts) < 1, f"{size}: Remove buttons not lined up: {lefts}"
        for p in g["players"]:
            assert abs(p["remove"]["right"] - p["row"]["right"]) < 1, (size, p)  # at the row's end
            assert p["name"]["right"] <= p["remove"]["left"], (size, p)  # beside the name, not under it
            assert abs(middle(p["name"]) - middle(p["remove"])) < 2, (size, p)  # on the name's line
        projector.screenshot(path=str(screenshots_dir() / f"classroom-lobby-{size}.{lang}.png"))
    assert not problems, problems  # before closing, as above
    for page in (projector, *phones):
        page.context.close()


def test_words_by_their_names_and_each_game_starts_clean(server, browser):
    """A word whose id is not its name ("teddy-bear"): typed by the teacher as "Teddy Bear",
    it shows as "teddy bear" on an English phone and the projector (the word, the AI's guess,
    the banner, the gallery) and as "osito de peluche" on a Spanish phone and a Spanish
    projector, whose settings form gives the teacher's words back by their Spanish names.
    The second game, started from there, begins with an empty feed and leaderboard."""
    problems: list[str] = []
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server)
    phones = {name: join_phone(browser, server, code, name, problems, lang) for name, lang in (("Ana", "en"), ("Lupe", "es"))}
    for page in (projector, *phones.values()):
        page.evaluate(RECORD_TEXTS_JS, ["banner"] if page is projector else ["wait-title"])
    expect(projector.locator("#players li")).to_have_count(2)
    projector.locator("#set-rounds").fill("2")
    projector.locator("#set-seconds").fill("30")
    projector.locator('input[name="deck"][value="custom"]').check()
    # The names the pages give the words whose ids are not names (data/categories_en.txt).
    assert projector.evaluate("['teddy-bear', 'see saw', 'The Eiffel Tower', 't-shirt'].map(window.DoodleI18n.word)") \
        == ["teddy bear", "seesaw", "Eiffel Tower", "T-shirt"]
    projector.locator("#set-words").fill("cat, Teddy Bear")  # a person types names, not ids
    projector.get_by_role("button", name="Start").click()

    # Round 1, cat: Ana draws it, in the feed.
    expect(projector.locator("#stage-word")).to_have_text("Draw: cat")
    for page in phones.values():
        wait_drawing(page, 0)
    expect(phones["Lupe"].locator("#draw-word")).to_have_text("gato")
    draw_strokes(phones["Ana"], 2)
    expect(phones["Ana"].locator("#ai-guess")).to_have_text("The AI got it!")
    expect(projector.locator("#mosaic .cr-tile", has_text="Ana")).to_contain_text("Recognized by the AI")
    expect(projector.locator("#feed li")).to_have_text([re.compile(r"^The AI got Ana's drawing in ")])
    projector.get_by_role("button", name="Skip round").click()

    # Round 2, teddy-bear: by its name everywhere, and so is the AI's guess (4 strokes: a teddy
    # bear at 30 %, not sure enough to count).
    expect(projector.locator("#stage-word")).to_have_text("Draw: teddy bear", timeout=15_000)
    for page in phones.values():
        wait_drawing(page, 1)
    expect(phones["Ana"].locator("#draw-word")).to_have_text("teddy bear")
    expect(phones["Lupe"].locator("#draw-word")).to_have_text("osito de peluche")
    draw_strokes(phones["Ana"], 4)
    draw_strokes(phones["Lupe"], 4)
    expect(phones["Ana"].locator("#ai-guess")).to_have_text("The AI sees: teddy bear…")
    expect(phones["Lupe"].locator("#ai-guess")).to_have_text("La IA ve: osito de peluche…")
    for name in phones:
        expect(projector.locator("#mosaic .cr-tile", has_text=name)).to_contain_text("teddy bear (30%)")
    projector.get_by_role("button", name="Skip round").click()

    expect(projector.locator("#results")).to_be_visible(timeout=15_000)
    gallery = projector.locator("#gallery .cr-gallery-word")
    expect(gallery.locator("h3")).to_have_text(["cat", "teddy bear"])
    expect(gallery.nth(0).locator("figure", has_text="Ana")).to_have_text("Ana: recognized, the AI saw cat (90%)")
    expect(gallery.nth(1).locator("figure", has_text="Lupe")).to_have_text(
        "Lupe: not recognized, the AI saw teddy bear (30%)")
    expect(projector.locator("#podium li").first).to_have_text(re.compile(r"^1st\s+Ana — \d+$"))
    projector.screenshot(path=str(screenshots_dir() / "classroom-results.en.png"), full_page=True)
    banners = texts_seen(projector, "banner")
    assert "It was: teddy bear. 0 of 2 drawings recognized." in banners, banners
    expect(phones["Ana"].locator("#wait-title")).to_have_text("Game over")
    expect(phones["Lupe"].locator("#wait-title")).to_have_text("Fin de la partida")
    assert "It was: teddy bear" in texts_seen(phones["Ana"], "wait-title")
    assert "Era: osito de peluche" in texts_seen(phones["Lupe"], "wait-title")
    assert "Era: gato" in texts_seen(phones["Lupe"], "wait-title")
    shown = " ".join(page.locator("body").inner_text() for page in (projector, *phones.values()))
    assert "teddy-bear" not in shown, "a raw word id on a page"

    # The same room on a Spanish projector (the teacher's saved host token): the gallery and the
    # settings form in Spanish; its Start, with the words as shown, starts the same words again.
    saved = projector.evaluate(f"localStorage.getItem({json.dumps(HOST_STORE)})")
    es_context = browser.new_context(viewport=PROJECTOR_SIZES["1366x768"], locale="es",
                                     extra_http_headers={"Accept-Language": "es"})
    es_context.add_init_script(f"localStorage.setItem({json.dumps(HOST_STORE)}, {json.dumps(saved)})")
    es = watch(es_context.new_page(), problems, "Spanish projector")
    es.goto(f"{server}/classroom")
    expect(es.locator("#results")).to_be_visible()
    expect(es.locator("#gallery .cr-gallery-word h3")).to_have_text(["gato", "osito de peluche"])
    expect(es.locator("#gallery .cr-gallery-word").nth(1).locator("figure", has_text="Lupe")).to_contain_text(
        "Lupe: no reconocido, la IA vio osito de peluche")
    expect(es.locator("#podium li").first).to_have_text(re.compile(r"^1\.º\s+Ana — \d+$"))
    assert "teddy-bear" not in es.locator("body").inner_text()
    es.screenshot(path=str(screenshots_dir() / "classroom-results.es.png"), full_page=True)
    es.get_by_role("button", name="Ajustes y jugadores").click()
    expect(es.locator("#set-words")).to_have_value("gato, osito de peluche")
    expect(es.locator('input[name="deck"][value="custom"]')).to_be_checked()
    expect(es.locator("#set-rounds")).to_have_value("2")
    es.get_by_role("button", name="Empezar").click()

    # Game 2: the first game's feed and scores are gone from both projectors.
    for page in (projector, es):
        page.wait_for_function("() => { const s = window.doodleClassroom.st; return s.round && s.round.index === 0"
                               " && document.getElementById('classroom').dataset.view === 'stage'; }")
        expect(page.locator("#feed li")).to_have_count(0)
        expect(page.locator("#leaderboard li")).to_have_count(0)
    expect(projector.locator("#stage-word")).to_have_text("Draw: cat")
    expect(es.locator("#stage-word")).to_have_text("Dibuja: gato")
    wait_drawing(phones["Ana"], 0)
    draw_strokes(phones["Ana"], 2)
    for page in (projector, es):  # the new game's own events, and only those
        expect(page.locator("#feed li")).to_have_count(1)
    expect(projector.locator("#feed li")).to_have_text([re.compile(r"^The AI got Ana's drawing in ")])
    es.get_by_role("button", name="Terminar partida").click()
    expect(projector.locator("#results")).to_be_visible(timeout=15_000)
    assert not problems, problems


@pytest.fixture(scope="module")
def shipped_model_server(tmp_path_factory):
    """The shipped model's classroom server and the folder its taught words are kept in."""
    folder = tmp_path_factory.mktemp("e2e-teach")
    with shipped_model_classroom_server(folder) as base:
        yield base, folder


def test_teaching_the_ai_a_word(shipped_model_server, browser):
    """The teach round's screens: refusals in the form, every phone drawing the new word,
    the projector's mosaic, then the AI learning it from the class's drawings."""
    server, problems = shipped_model_server[0], []
    shots = screenshots_dir()
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server)
    projector.evaluate(RECORD_TEXTS_JS, ["banner"])
    phones = {name: join_phone(browser, server, code, name, problems) for name in ("Ana", "Bo", "Cy")}
    for page in phones.values():
        page.evaluate(RECORD_TEXTS_JS, ["wait-title"])
    expect(projector.locator("#players li")).to_have_count(3)

    word, teach = projector.locator("#teach-word"), projector.get_by_role("button", name="Teach", exact=True)
    word.fill("Cat")  # known: said so, and put in the game's words
    teach.click()
    expect(projector.locator("#teach-error")).to_contain_text("already knows “cat”")
    expect(projector.locator("#set-words")).to_have_value("cat")
    word.fill("  ")
    teach.click()
    expect(projector.locator("#teach-error")).to_have_text("Type a word to teach.")
    projector.screenshot(path=str(shots / "classroom-teach-refused.png"))

    word.fill("axolotl")
    teach.click()
    expect(projector.locator("#stage-round")).to_have_text("Teaching the AI")
    expect(projector.locator("#stage-word")).to_have_text("Everyone draws: axolotl")
    for page in phones.values():
        wait_drawing(page, 0)
        expect(page.locator("#draw-word")).to_have_text("axolotl")
        expect(page.locator("#ai-guess")).to_have_text("The AI doesn't know this word yet: your drawing teaches it.")
    for name, strokes in (("Ana", 3), ("Bo", 4), ("Cy", 2)):
        draw_strokes(phones[name], strokes)
    phones["Ana"].screenshot(path=str(shots / "classroom-teach-phone-drawing.png"))
    expect(projector.locator("#mosaic .cr-tile")).to_have_count(3)
    projector.wait_for_function(  # every drawing arrived on the projector
        "() => [...document.querySelectorAll('#mosaic canvas')].every((c) => {"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; })")
    projector.screenshot(path=str(shots / "classroom-teach-projector-drawings.png"))

    learned = "The AI learned axolotl! It can guess it from the next round."
    expect(projector.locator("#banner")).to_have_text(learned, timeout=40_000)
    assert "The AI is learning axolotl from your 3 drawings…" in texts_seen(projector, "banner")
    projector.screenshot(path=str(shots / "classroom-teach-projector-learned.png"))
    for name, page in phones.items():
        expect(page.locator("#wait-title")).to_have_text("The AI learned axolotl!")
        expect(page.locator("#wait-message")).to_have_text("From the next round, the AI can guess it.")
        assert "The AI is learning axolotl from your 3 drawings…" in texts_seen(page, "wait-title"), name
    phones["Bo"].screenshot(path=str(shots / "classroom-teach-phone-learned.png"))

    projector.get_by_role("button", name="Settings and players").click()
    expect(projector.locator("#taught")).to_have_text("axolotl")
    projector.locator("#teach").screenshot(path=str(shots / "classroom-teach-lobby.png"))
    assert not problems, problems


def test_a_join_whose_connection_does_not_come_up_says_so_and_the_next_try_joins(server, browser):
    """A typed code makes the page reconnect naming its room (its server, with several,
    docs/serving.md) before it joins. With the server out of reach meanwhile, the phone says
    so after 10 s instead of waiting silently; once it is back, Join seats the student."""
    problems: list[str] = []
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    code = create_room(projector, server)
    phone = watch(browser.new_context(**PHONE).new_page(), [], "phone")  # its failed requests are the point
    phone.goto(f"{server}/join")
    expect(phone.locator("#join-form")).to_be_visible()
    phone.route("**/socket.io/**", lambda route: route.abort())  # every new connection fails
    phone.locator("#join-code").fill(code.lower())
    phone.locator("#join-nickname").fill("Dee")
    phone.locator("#btn-join").tap()
    expect(phone.locator("#join-error")).to_have_text("The server did not answer. Try again.", timeout=20_000)
    expect(phone.locator("#wait")).to_be_hidden()
    phone.screenshot(path=str(screenshots_dir() / "join-no-answer.png"))
    phone.unroute("**/socket.io/**")
    phone.locator("#btn-join").tap()
    expect(phone.locator("#wait")).to_be_visible(timeout=20_000)
    expect(projector.locator("#lobby")).to_contain_text("Dee")
    phone.screenshot(path=str(screenshots_dir() / "join-after-no-answer.png"))
    assert not problems, problems


def test_a_class_hears_which_words_an_updated_ai_no_longer_knows(shipped_model_server, browser):
    """A class taught words to the model served before this one (a prototype is one model's):
    the teacher's new room says which, to teach them again, in the page's language."""
    import hashlib

    server, folder = shipped_model_server
    store = folder / "taught_words.json"
    classes = json.loads(store.read_text()) if store.exists() else {}
    for key, words in (("class-of-2025", ["volcano", "axolotl"]), ("clase-de-2025", ["volcán"])):
        classes[hashlib.sha256(key.encode()).hexdigest()] = {
            "model": "doodle-ensemble.onnx sha256:0000000000000000",
            "words": [{"word": w, "prototype": [0.0] * 8, "bias": 0.0, "drawings": 5} for w in words]}
    store.write_text(json.dumps(classes))
    problems: list[str] = []
    for key, lang, text in (("class-of-2025", "en", "The AI was updated and no longer knows these words your "
                                                      "class taught it: volcano, axolotl. Teach them again."),
                            ("clase-de-2025", "es", "La IA se actualizó y ya no conoce estas palabras que tu "
                                                    "clase le enseñó: volcán. Vuelve a enseñárselas.")):
        context = browser.new_context(**PROJECTOR, extra_http_headers={"Accept-Language": lang})
        context.add_init_script(f"localStorage.setItem('doodle-lab:classroom-class', {json.dumps(key)})")
        projector = watch(context.new_page(), problems, f"projector ({lang})")
        create_room(projector, server, button="Create a room" if lang == "en" else "Crear una sala")
        expect(projector.locator("#toast")).to_have_text(text)  # on creating the room, and in the teach form:
        line = projector.locator("#forgotten-line")
        expect(line).to_have_text(text)
        expect(line).to_be_visible()
        expect(projector.locator("#taught-line")).to_be_hidden()
        line.scroll_into_view_if_needed()
        projector.screenshot(path=str(screenshots_dir() / f"classroom-forgotten-words-{lang}.png"))
        context.close()
    # A class that taught this model nothing before hears nothing.
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    create_room(projector, server)
    expect(projector.locator("#forgotten-line")).to_be_hidden()
    assert not problems, problems
