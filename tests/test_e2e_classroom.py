"""End to end: a classroom in a real browser. A projector page and three phones (separate
browser contexts, phone-sized touch screens) play a short race game of 2 rounds of 5 s.

The server is the real app (tests/classroom_e2e_server.py) with a fake classifier that
counts strokes (2 strokes: "cat", 3: "dog", else "anvil"), so the test decides what the
AI sees: Ana draws the word both rounds, Bo draws one stroke (an "anvil"), Cy one stroke
in the first round only. Drawing is real touch input (CDP, as tests/test_e2e_play.py).
The projector's mosaic, leaderboard, podium and gallery are checked.
"""
from __future__ import annotations

import re

import pytest

playwright = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect  # noqa: E402

from live_server import stroke_counter_server  # noqa: E402
from test_e2e_play import PHONE, Finger, browser  # noqa: E402,F401 (fixture)

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
    """`n` short separate strokes across the phone's canvas, with real touch input."""
    box = page.locator("#canvas").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200, box
    strokes = []
    for i in range(n):
        y = box["y"] + box["height"] * (i + 1) / (n + 1)
        x0, x1 = box["x"] + box["width"] * 0.2, box["x"] + box["width"] * 0.8
        strokes.append([(x0 + (x1 - x0) * j / 8, y + (j % 2) * 6, 25 * j + 300 * i) for j in range(9)])
    Finger(page).draw(strokes)


def wait_drawing(page: Page, index: int) -> None:
    page.wait_for_function(
        "(i) => { const s = window.doodleJoin.st; return document.getElementById('phone').dataset.view === 'draw'"
        " && s.round && s.round.index === i && performance.now() >= s.clockStart + 100; }", arg=index)


def test_classroom_race_game(server, browser):
    problems: list[str] = []
    projector = watch(browser.new_context(**PROJECTOR).new_page(), problems, "projector")
    projector.goto(f"{server}/classroom")
    projector.get_by_role("button", name="Create a room").click()
    code_el = projector.locator("#room-code")
    expect(code_el).to_have_text(re.compile(r"^[A-HJ-NP-Z2-9]{5}$"))
    code = code_el.text_content()
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
        expect(phones["Ana"].locator("#ai-guess")).to_have_text("✓ The AI got it!")
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
    expect(projector.locator("#podium li").first).to_contain_text("Ana")
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
    projector.goto(f"{server}/classroom")
    projector.locator("#create-mode").select_option("pictionary")
    projector.get_by_role("button", name="Create a room").click()
    code = projector.locator("#room-code")
    expect(code).to_have_text(re.compile(r"^[A-HJ-NP-Z2-9]{5}$"))
    phones = {}
    for name in ("Ana", "Bo"):
        page = watch(browser.new_context(**PHONE).new_page(), problems, name)
        page.goto(f"{server}/join/{code.text_content()}")
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
