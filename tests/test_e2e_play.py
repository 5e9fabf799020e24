"""End to end: the solo game in a real browser, on a phone-sized touch screen.

`python -m game serve` runs for real; Debian's chromium (`make test` installs it), driven by
Playwright for Python, opens the home page as a phone would, taps "Let's draw!", reads the
prompted word, draws a held-out Quick, Draw! doodle of it with real touch input (CDP
`Input.dispatchTouchEvent`, so the page sees Pointer Events of type "touch"), waits for the
AI's guess, uses undo / clear / skip, and checks the summary of the doodles at the end.

Set DOODLE_E2E_URL to drive a server you already run instead of starting one.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from training.data import split_of
from browser import INK_PIXELS_JS, PHONE, Finger, fit_to_canvas, phone_page, screenshots_dir

ROOT = Path(__file__).resolve().parent.parent
RAW = ROOT.parent / "shared" / "quickdraw" / "raw"
# Words to play, in order of preference: the first ROUNDS that have a held-out raw drawing.
CANDIDATES = ["bicycle", "apple", "house", "cat", "umbrella", "clock", "star", "tree"]
ROUNDS = 2
SECONDS = 10
DRAW_MS = 3000  # the doodle is replayed with its own rhythm, compressed into this long


# --- data --------------------------------------------------------------------------------


def held_out_drawing(word: str) -> dict | None:
    """A raw Quick, Draw! drawing of `word` from the held-out test split (never trained on)."""
    path = RAW / f"{word}.ndjson"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    test = [r for r in rows if split_of(str(r["key_id"])) == "test"]
    test = [r for r in test if sum(len(s[0]) for s in r["drawing"]) <= 600]
    if not test:
        return None
    # Google's own verdict first, then the simplest drawing: a doodle a person would make.
    test.sort(key=lambda r: (not r.get("recognized", False), sum(len(s[0]) for s in r["drawing"])))
    return test[0]


@pytest.fixture(scope="module")
def doodles() -> dict[str, dict]:
    if not RAW.is_dir():
        pytest.skip(f"Quick, Draw! raw drawings not found at {RAW}: the end-to-end test draws them")
    chosen: dict[str, dict] = {}
    for word in CANDIDATES:
        if (d := held_out_drawing(word)) is not None:
            chosen[word] = d
        if len(chosen) == ROUNDS:
            return chosen
    pytest.skip(f"fewer than {ROUNDS} of {CANDIDATES} have a held-out raw drawing in {RAW}")


# --- the server --------------------------------------------------------------------------


# --- helpers -----------------------------------------------------------------------------


# Record what the page sends: wraps the page's own socket (exposed as window.doodleLab).
RECORD_JS = """() => {
  window.__inkPixels = """ + INK_PIXELS_JS + """;
  const s = window.doodleLab.socket;
  window.__sent = [];
  const emit = s.emit.bind(s);
  s.emit = (event, ...args) => { window.__sent.push([event, JSON.parse(JSON.stringify(args[0] ?? null))]); return emit(event, ...args); };
  window.__received = [];
  s.onAny((event, payload) => window.__received.push([event, payload]));
  // Every sentence the AI's line has shown (a round can end, and the line reset, quickly).
  window.__sentences = [];
  const guess = document.getElementById('guess');
  new MutationObserver(() => { if (guess.textContent) window.__sentences.push(guess.textContent); })
    .observe(guess, { childList: true, characterData: true, subtree: true });
}"""


def phase_is(page: Page, *phases: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "(phases) => phases.includes(document.getElementById('game').dataset.phase)",
        arg=list(phases), timeout=timeout,
    )


def canvas_box(page: Page) -> dict:
    box = page.locator("#canvas").bounding_box()
    assert box and box["width"] > 300 and box["height"] > 400, box  # fills a phone's screen
    return box


# --- the test ----------------------------------------------------------------------------


def test_solo_game_on_a_phone(server, browser, doodles):
    context, page, problems = phone_page(browser)
    try:
        # Home: one tap starts a game (the query string makes it short and picks the words).
        words = list(doodles)
        page.goto(f"{server}/?rounds={ROUNDS}&seconds={SECONDS}&words={','.join(words)}")
        start = page.get_by_role("link", name="Let's draw!")
        expect(start).to_be_visible()
        # The open dataset toggle (issue 5): off until chosen, here and on the play page.
        expect(page.locator("#dataset-consent")).not_to_be_checked()
        start.tap()
        page.wait_for_url("**/play?*")
        expect(page.locator("#dataset-consent")).to_have_count(1)
        expect(page.locator("#dataset-consent")).not_to_be_checked()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll

        finger = Finger(page)
        page.wait_for_function("() => window.doodleLab && window.doodleLab.socket.connected")
        page.evaluate(RECORD_JS)

        # Round 1: the prompt card names the word; the countdown starts; we draw it.
        phase_is(page, "prompt", "drawing", timeout=30_000)
        word = page.locator("#prompt-word").text_content().strip()
        assert word in doodles, f"prompted {word!r}, asked for {words}"
        prompt = " ".join(page.locator("#prompt-card").text_content().split())
        assert f"Draw: {word} in under {SECONDS} seconds" in prompt, prompt
        expect(page.locator("#hud-word")).to_have_text(word)
        phase_is(page, "drawing")
        expect(page.locator("#prompt-card")).to_be_hidden()
        expect(page.locator("#btn-skip")).to_be_enabled()

        box = canvas_box(page)
        size = page.evaluate("(() => { const c = document.getElementById('canvas'); return [c.width, c.height]; })()")
        assert size == [round(box["width"] * 3), round(box["height"] * 3)]  # backing store at DPR 3

        doodle = doodles[word]
        still_drawing = "document.getElementById('game').dataset.phase === 'drawing'"
        n_strokes = finger.draw(fit_to_canvas(doodle["drawing"], box), lambda: page.evaluate(still_drawing))
        assert n_strokes >= 1
        if page.evaluate(still_drawing):
            assert page.evaluate(INK_PIXELS_JS, "#canvas") > 1000

        # The AI says what it sees, in words.
        page.wait_for_function("() => window.__sentences.some((t) => /I see|Oh, I know/.test(t))", timeout=10_000)
        sentences = page.evaluate("window.__sentences")
        assert all(re.fullmatch(r"(I see [^…]+…)( or [^…]+…)*( Oh, I know, it's [^…]+!)?|Oh, I know, it's [^…]+!", t)
                   for t in sentences), sentences

        # Let it finish on its own if it knows; otherwise give up the round.
        try:
            phase_is(page, "result", "over", timeout=2_000)
        except PlaywrightTimeoutError:
            if page.evaluate("window.doodleLab.state.phase === 'drawing' && window.doodleLab.state.round.index === 0"):
                page.get_by_role("button", name="Skip").tap(timeout=3_000)
        page.wait_for_function("() => window.doodleLab.state.over.has(0)", timeout=15_000)

        # Ink went out as the protocol says: batched, numbered, stroke by stroke.
        sent = page.evaluate("window.__sent")
        ink = [m for e, m in sent if e == "ink"]
        n_points = sum(len(m["points"]) for m in ink)
        assert ink and n_points >= n_strokes
        assert len(ink) < n_points, "points should be batched, not one message each"
        assert [m["seq"] for m in ink] == sorted({m["seq"] for m in ink})
        assert all(m["round"] == 0 and 1 <= len(m["points"]) <= 500 for m in ink)
        strokes = [m["stroke"] for m in ink]
        assert strokes[0] == 0 and all(b - a in (0, 1) for a, b in zip(strokes, strokes[1:]))
        assert strokes[-1] <= n_strokes - 1
        ts = [p[2] for m in ink for p in m["points"]]
        assert all(isinstance(v, (int, float)) for m in ink for p in m["points"] for v in p)
        assert ts == sorted(ts) and 0 <= ts[0] <= SECONDS * 1000

        # The remaining rounds: undo and clear work, then skip.
        for index in range(1, ROUNDS):
            page.wait_for_function(f"() => document.getElementById('game').dataset.round === '{index}'", timeout=20_000)
            phase_is(page, "drawing", timeout=20_000)
            box = canvas_box(page)
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            line = [[(cx - 80, cy, 0), (cx, cy + 40, 60), (cx + 80, cy, 120)]]
            finger.draw(line)
            assert page.evaluate(INK_PIXELS_JS, "#canvas") > 0
            if index == 1:
                # The connection drops: the page resumes the game and redraws the server's copy.
                page.wait_for_function(
                    "() => window.__received.some(([e, p]) => e === 'guess' && p.round === 1)", timeout=10_000)
                page.evaluate("window.doodleLab.socket.io.engine.close()")
                expect(page.locator("#toast")).to_contain_text("Reconnected", timeout=15_000)
                assert [m for e, m in page.evaluate("window.__sent") if e == "resume"]
                assert page.evaluate("window.doodleLab.state.strokes.length") == 1
                assert page.evaluate(INK_PIXELS_JS, "#canvas") > 0
                phase_is(page, "drawing")
            page.get_by_role("button", name="Undo").tap()
            assert page.evaluate(INK_PIXELS_JS, "#canvas") == 0
            finger.draw(line)
            finger.draw([[(cx - 40, cy - 60, 0), (cx + 40, cy - 60, 60)]])
            page.get_by_role("button", name="Clear").tap()
            assert page.evaluate(INK_PIXELS_JS, "#canvas") == 0
            expect(page.get_by_role("button", name="Undo")).to_be_disabled()
            if index == 1:
                # The voice's mute toggle is remembered.
                mute = page.get_by_role("button", name="Mute")
                expect(mute).to_have_attribute("aria-pressed", "false")
                mute.tap()
                expect(mute).to_have_attribute("aria-pressed", "true")
                assert page.evaluate("localStorage.getItem('doodle-lab:muted')") == "1"
            page.get_by_role("button", name="Skip").tap()

        sent = page.evaluate("window.__sent")
        events = [e for e, _ in sent]
        assert {"undo", "clear", "skip"} <= set(events)

        # The summary: every doodle, small, with the verdict and the AI's guesses; replayable.
        summary = page.locator("#summary")
        expect(summary).to_be_visible(timeout=20_000)
        tiles = page.locator("#summary-list > li")
        expect(tiles).to_have_count(ROUNDS)
        first = tiles.nth(0)
        expect(first.get_by_role("heading")).to_have_text(word)  # the word drawn in round 1
        expect(first).to_contain_text("The AI thought")
        expect(first).to_contain_text(re.compile("Recognized|Skipped|Not recognized"))
        full = page.evaluate(INK_PIXELS_JS, "#summary-list > li:first-child canvas")
        assert full > 200
        # Replay: the doodle is redrawn stroke by stroke with its own timing, then whole again.
        replay = first.get_by_role("button", name=re.compile("Replay your drawing"))
        replay.tap()
        page.wait_for_function(
            """(full) => {
              const li = document.querySelector('#summary-list > li');
              return li.dataset.replaying === '1' && window.__inkPixels('#summary-list > li:first-child canvas') < full;
            }""", arg=full, timeout=5_000)
        page.wait_for_function(
            "() => document.querySelector('#summary-list > li').dataset.replayed === '1'", timeout=25_000)
        assert page.evaluate(INK_PIXELS_JS, "#summary-list > li:first-child canvas") == full
        expect(page.get_by_role("button", name="Play again")).to_be_visible()
        page.screenshot(path=str(screenshots_dir() / "play-summary.png"))

        assert not problems, "\n".join(problems)
    finally:
        context.close()


# --- between rounds: the result card, and the next word kept back -----------------------------

# Every change to the page, with what a person sees then: the page's rendered text (the
# visually hidden aria-live announcer included), the tab's title, which card is up.
WATCH_PAGE_JS = """() => {
  window.__frames = [];
  const $ = (id) => document.getElementById(id);
  const record = () => window.__frames.push({
    t: performance.now(), result: !$('result-card').hidden, prompt: !$('prompt-card').hidden,
    title: $('result-title').textContent, text: document.body.innerText + '\\n' + document.title });
  new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  record();
}"""
BREAK_S = 3.0  # the server's break between rounds (ROUND_BREAK)


def result_spans(frames: list[dict], title: str) -> list[dict]:
    """The frames from the moment the result card titled `title` shows to the first one without it."""
    start = next(i for i, f in enumerate(frames) if f["result"] and title in f["title"])
    end = next((i for i in range(start, len(frames)) if not frames[i]["result"]), len(frames))
    return frames[start:end + 1]


def test_the_result_stays_up_and_never_shows_the_next_word(server, browser):
    """After a round its result card stays up for the server's break (or until "Next"); the
    next word is nowhere on screen, nor in what a screen reader is told, before its prompt."""
    context, page, problems = phone_page(browser)
    try:
        words = ["cat", "bicycle", "house"]
        page.goto(f"{server}/play?rounds=3&seconds=10&words={','.join(words)}")
        page.wait_for_function("() => window.doodleLab && window.doodleLab.socket.connected")
        page.evaluate(RECORD_JS)
        page.evaluate(WATCH_PAGE_JS)
        result, prompt = page.locator("#result-card"), page.locator("#prompt-card")

        # Round 1, skipped: its result stays up for the whole break, then bicycle's prompt.
        phase_is(page, "drawing", timeout=30_000)
        page.get_by_role("button", name="Skip").tap()
        expect(result).to_be_visible()
        expect(page.locator("#result-title")).to_have_text("Skipped: cat")
        expect(page.get_by_role("button", name="Next")).to_be_visible()
        page.screenshot(path=str(screenshots_dir() / "play-result-card.png"))
        expect(prompt).to_be_visible(timeout=15_000)
        expect(page.locator("#prompt-word")).to_have_text("bicycle")
        expect(page.locator("#hud-word")).to_have_text("bicycle")
        page.wait_for_function("() => document.getElementById('announce').textContent.includes('bicycle')")
        frames = page.evaluate("window.__frames")
        shown = result_spans(frames, "Skipped: cat")
        assert shown[-1]["t"] - shown[0]["t"] >= (BREAK_S - 0.2) * 1000, "the result card went away before the break ended"
        assert shown[-1]["prompt"] and "bicycle" in shown[-1]["text"]  # the watch sees the prompt's text...
        assert "Round 2 of 3. Draw: bicycle" in frames[-1]["text"]  # ...and the screen reader's announcer
        leaks = [f["text"] for f in shown[:-1] if "bicycle" in f["text"].lower()]
        assert not leaks, f"the next word showed during the result: {leaks[0]!r}"
        assert all("Draw: cat" in f["text"] for f in shown[:-1])  # the header still names the round just over

        # Round 2, skipped, then "Next" at once: the server sends house's round again, prompt now.
        phase_is(page, "drawing", timeout=15_000)
        page.get_by_role("button", name="Skip").tap()
        expect(page.locator("#result-title")).to_have_text("Skipped: bicycle")
        page.get_by_role("button", name="Next").tap()
        expect(prompt).to_be_visible()
        expect(page.locator("#prompt-word")).to_have_text("house")
        sent = [m for e, m in page.evaluate("window.__sent") if e == "next"]
        assert sent and sent[0]["round"] == 2
        rounds = [m for e, m in page.evaluate("window.__received") if e == "round" and m["index"] == 2]
        assert [(r["prompt_in"], r["starts_in"]) for r in rounds] == [(BREAK_S, BREAK_S + 2), (0, 2)]
        frames = page.evaluate("window.__frames")
        shown = result_spans(frames, "Skipped: bicycle")
        assert not [f["text"] for f in shown[:-1] if "house" in f["text"].lower()]

        # The last round: its result, then the summary on "See your doodles".
        phase_is(page, "drawing", timeout=15_000)
        page.get_by_role("button", name="Skip").tap()
        expect(page.locator("#result-title")).to_have_text("Skipped: house")
        page.get_by_role("button", name="See your doodles").tap()
        expect(page.locator("#summary")).to_be_visible()
        expect(page.locator("#summary-list > li")).to_have_count(3)
        assert not problems, "\n".join(problems)
    finally:
        context.close()


# The play page's tool buttons as a phone shows them: for each, its label's lines and box, the
# button's inner box (inside its border and padding), its overflow and font size.
TOOLS_JS = """() => [...document.querySelectorAll('.tools .tool')].map((b) => {
  const label = [...b.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).pop();
  const range = document.createRange();
  range.selectNodeContents(label);
  const text = range.getBoundingClientRect(), box = b.getBoundingClientRect(), css = getComputedStyle(b);
  const px = (v) => parseFloat(v);
  return { label: label.textContent.trim(), lines: range.getClientRects().length, fontSize: px(css.fontSize),
           scrollWidth: b.scrollWidth, clientWidth: b.clientWidth, scrollHeight: b.scrollHeight, clientHeight: b.clientHeight,
           top: box.top, height: box.height, text: { left: text.left, right: text.right, top: text.top, bottom: text.bottom },
           inner: { left: box.left + px(css.borderLeftWidth) + px(css.paddingLeft), right: box.right - px(css.borderRightWidth) - px(css.paddingRight),
                    top: box.top + px(css.borderTopWidth), bottom: box.bottom - px(css.borderBottomWidth) } };
})"""


@pytest.mark.parametrize("lang, labels", [("es", ["Deshacer", "Borrar", "Saltar", "Silenciar"]),
                                          ("en", ["Undo", "Clear", "Skip", "Mute"])])
def test_the_tool_buttons_fit_a_phone_in_every_language(server, browser, lang, labels):
    context = browser.new_context(**PHONE, locale=lang)
    page = context.new_page()
    try:
        page.goto(f"{server}/play?rounds=1&seconds=10&words=cat")
        phase_is(page, "drawing", timeout=30_000)  # no card over the tools
        tools = page.evaluate(TOOLS_JS)
        assert [t["label"] for t in tools] == labels
        for t in tools:
            assert t["scrollWidth"] <= t["clientWidth"] and t["scrollHeight"] <= t["clientHeight"], t
            assert t["lines"] == 1 and t["fontSize"] >= 14, t  # one line, never below 14 px
            # The label sits inside the button's padding, clear of its border.
            assert t["inner"]["left"] <= t["text"]["left"] and t["text"]["right"] <= t["inner"]["right"], t
            assert t["inner"]["top"] <= t["text"]["top"] and t["text"]["bottom"] <= t["inner"]["bottom"], t
        assert len({round(t["top"]) for t in tools}) == 1  # one row, the canvas keeps the screen
        assert max(t["height"] for t in tools) <= 60, tools
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.locator(".tools").screenshot(path=str(screenshots_dir() / f"play-tools-{lang}.png"))
    finally:
        context.close()



@pytest.fixture(scope="module")
def stroke_server(tmp_path_factory):
    """The real app with tests/classroom_e2e_server.py's fake classifier (one stroke: "anvil"
    at 30 %, under the threshold), so a test decides what the AI sees."""
    from live_server import stroke_counter_server
    with stroke_counter_server(tmp_path_factory.mktemp("e2e-strokes")) as base:
        yield base


def test_time_up_with_the_right_word_under_the_threshold_says_almost(stroke_server, browser):
    """The prompt was the AI's top guess when time ran out, but under the threshold: the round
    does not count, and neither the card nor the summary says the AI failed while naming the
    right word."""
    context, page, problems = phone_page(browser)
    try:
        page.goto(f"{stroke_server}/play?rounds=1&seconds=5&words=anvil")
        page.wait_for_function("() => window.doodleLab && window.doodleLab.socket.connected")
        phase_is(page, "drawing", timeout=30_000)
        box = canvas_box(page)
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        Finger(page).draw([[(cx - 80, cy, 0), (cx, cy + 40, 60), (cx + 80, cy, 120)]])
        expect(page.locator("#result-card")).to_be_visible(timeout=20_000)
        expect(page.locator("#result-title")).to_have_text("Almost: an anvil")
        detail = page.locator("#result-detail").text_content()
        assert detail == "The AI's best guess was right, an anvil, but at 30% it wasn't sure enough to say it.", detail
        page.screenshot(path=str(screenshots_dir() / "play-result-almost.png"))
        expect(page.locator("#summary")).to_be_visible(timeout=20_000)
        tile = page.locator("#summary-list > li").first
        expect(tile.locator(".verdict")).to_have_text("Almost: right, but not sure enough")
        expect(page.locator("#summary-score")).to_have_text("The AI recognized 0 of your 1 doodle.")
        assert not problems, "\n".join(problems)
    finally:
        context.close()
