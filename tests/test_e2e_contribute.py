"""End to end: contribute a drawing on a phone, then find it replaying in the data browser.

`python -m game serve` runs for real (the play test's `server` fixture) with its own
SQLite file in a temporary folder; Debian's chromium, driven by Playwright, opens
/contribute on a phone-sized touch screen, consents, draws two strokes with real touch
input, submits, opens /data/<word>, finds the drawing first in the grid, taps it and
watches the replay redraw it point by point with the drawing's own timing.
"""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect
from browser import INK_PIXELS_JS, PHONE, Finger, phone_page, screenshots_dir


WORD = "cat"


# Every value the replay's point counter takes, and when (the dialog's data-points).
WATCH_JS = """() => {
  const dialog = document.getElementById('replay');
  window.__points = [];
  new MutationObserver(() => window.__points.push([performance.now(), Number(dialog.dataset.points)]))
    .observe(dialog, { attributes: true, attributeFilter: ['data-points'] });
}"""


@pytest.fixture(scope="module", autouse=True)
def own_database(tmp_path_factory):
    """The server stores into a fresh SQLite file, not the instance folder's: set before
    `server` starts (autouse fixtures come first), restored after."""
    before = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('e2e-db') / 'contributions.sqlite3'}"
    yield
    if before is None:
        del os.environ["DATABASE_URL"]
    else:
        os.environ["DATABASE_URL"] = before


def test_contribute_on_a_phone_then_replay_in_the_data_browser(server, browser):
    context, page, problems = phone_page(browser)
    try:
        # Contribute: the consent card first, then the prompted word.
        page.goto(f"{server}/contribute?word={WORD}")
        expect(page.locator("#consent-card")).to_contain_text("CC BY 4.0")
        page.get_by_role("button", name="I agree, let's draw").tap()
        expect(page.locator("#consent-card")).to_be_hidden()
        expect(page.locator("#word")).to_have_text(WORD)

        box = page.locator("#canvas").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        # Two strokes over about 1.5 s: a replay with its own timing takes as long.
        body = [(cx - 100 + 20 * i, cy + (30 if i % 2 else -30), 60 * i) for i in range(11)]
        tail = [(cx + 100, cy - 20 * i, 900 + 50 * i) for i in range(11)]
        Finger(page).draw([body, tail])
        with page.expect_response("**/api/contributions") as reply:
            page.get_by_role("button", name="Submit").tap()
        assert reply.value.status == 201, reply.value.text()
        key_id = reply.value.json()["key_id"]
        expect(page.locator("#status")).to_contain_text(f"Thanks! Your {WORD} is saved")

        # The data browser: the index counts it; the new drawing comes first for its word.
        page.goto(f"{server}/data")
        row = page.locator("tbody tr").filter(has=page.get_by_role("link", name=WORD, exact=True))
        expect(row.locator("td").first).to_have_text("1")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
        page.get_by_role("link", name=WORD, exact=True).tap()
        page.wait_for_url(f"**/data/{WORD}")
        tile = page.locator(f'#drawings > li[data-key-id="{key_id}"]')
        expect(tile).to_be_visible()
        assert page.locator("#drawings > li").first.get_attribute("data-key-id") == key_id
        assert tile.locator("svg polyline").count() == 2  # two strokes, drawn by the server
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]

        # Tap it: the larger view replays it stroke by stroke, over the drawing's own time.
        page.evaluate(WATCH_JS)
        tile.locator("button.drawing-view").tap()
        dialog = page.locator("#replay")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(f"key_id {key_id} · its original timing")
        page.wait_for_function("() => document.getElementById('replay').dataset.replaying === '1'", timeout=5_000)
        page.wait_for_function("() => document.getElementById('replay').dataset.replayed === '1'", timeout=10_000)
        seen = page.evaluate("window.__points")
        counts = [n for _, n in seen]
        assert counts == sorted(counts) and counts[-1] == len(body) + len(tail), counts
        assert len(set(counts)) >= 8, counts  # point by point, not all at once
        elapsed = seen[-1][0] - next(t for t, n in seen if n > 0)
        assert 1000 <= elapsed <= 4000, f"replayed in {elapsed:.0f} ms; drawn in about 1,400 ms"
        assert page.evaluate(INK_PIXELS_JS, "#replay-canvas") > 500

        page.get_by_role("button", name="Close").tap()
        expect(dialog).to_be_hidden()
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def strokes_across(box: dict, n: int) -> list[list[tuple[float, float, float]]]:
    """`n` short strokes across the canvas (viewport px, ms): n tells the drawings apart."""
    out = []
    for i in range(n):
        y = box["y"] + box["height"] * (i + 1) / (n + 1)
        out.append([(box["x"] + box["width"] * (0.2 + 0.6 * j / 6), y, 10 * j) for j in range(7)])
    return out


def test_each_drawing_is_stored_under_the_word_shown_while_it_was_drawn(server, browser):
    """At machine speed: draw, Submit, and draw on at once. While the first is saving the
    page says so and the canvas takes no ink; the reply brings the next word with an empty
    canvas; two more drawings go back to back. Every stored drawing has the word that was
    on the screen while it was drawn, and the strokes drawn under it."""
    from game.dataset.store import Store

    context, page, problems = phone_page(browser)
    held = []
    try:
        page.goto(f"{server}/contribute?word={WORD}")
        page.get_by_role("button", name="I agree, let's draw").tap()
        expect(page.locator("#word")).to_have_text(WORD)
        box = page.locator("#canvas").bounding_box()
        finger = Finger(page)
        replies = []
        page.on("response", lambda r: replies.append(r) if r.url.endswith("/api/contributions") else None)

        # The first reply is held back: the page is "saving" as long as it likes.
        page.route("**/api/contributions", lambda route: held.append(route))
        finger.draw(strokes_across(box, 2))
        page.get_by_role("button", name="Submit").tap()
        submit = page.locator("#btn-submit")
        expect(submit).to_have_text("Saving…")
        expect(submit).to_be_disabled()
        expect(page.locator("#status")).to_contain_text(f"Saving your {WORD}")
        inked = page.evaluate(INK_PIXELS_JS, "#canvas")
        finger.draw(strokes_across(box, 4))  # drawing on at once: nothing happens to the canvas
        assert page.evaluate(INK_PIXELS_JS, "#canvas") == inked
        expect(page.locator("#word")).to_have_text(WORD)
        page.screenshot(path=str(screenshots_dir() / "contribute-saving.png"))
        assert len(held) == 1
        held[0].continue_()
        page.unroute("**/api/contributions")
        expect(submit).to_have_text("Submit")
        expect(page.locator("#status")).to_contain_text(f"Thanks! Your {WORD} is saved")
        assert page.evaluate(INK_PIXELS_JS, "#canvas") == 0
        second = page.locator("#word").text_content()
        assert second != WORD

        # Back to back, no waiting: draw 3 strokes, Submit, at once draw 1 stroke, Submit. The
        # page notes the word on the screen as each stroke starts and as it ends.
        page.evaluate("""() => {
          const canvas = document.getElementById('canvas'), word = () => document.getElementById('word').textContent;
          window.__strokes = [];
          canvas.addEventListener('pointerdown', () => window.__strokes.push([word(), null]), true);
          canvas.addEventListener('pointerup', () => { window.__strokes.at(-1)[1] = word(); }, true);
        }""")
        for n in (3, 1):
            finger.draw(strokes_across(box, n))
            page.get_by_role("button", name="Submit").tap()
        shown = page.evaluate("window.__strokes")
        assert shown[:3] == [[second, second]] * 3, shown
        page.wait_for_function("() => document.getElementById('contribute').dataset.phase === 'drawing'")
        page.wait_for_function("() => !document.getElementById('status').textContent.startsWith('Saving')")
        sent = page.evaluate("performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/api/contributions')).length")
        for _ in range(50):  # the last reply's event reaches this process a moment after the page
            if len(replies) >= sent:
                break
            page.wait_for_timeout(100)

        stored = []
        store = Store(os.environ["DATABASE_URL"])
        try:
            for reply in replies:
                if reply.status == 201:
                    record = store.get(reply.json()["key_id"])
                    stored.append((record["word"], len(record["drawing"])))
        finally:
            store.close()
        # The first drawing under the first word; the next under the second; the 1-stroke drawing
        # only if all of it was drawn after the second was saved, under the word then shown.
        assert len(replies) == sent and all(r.status == 201 for r in replies), [r.status for r in replies]
        assert stored[:2] == [(WORD, 2), (second, 3)], stored
        assert len(stored) <= 3, stored
        if len(stored) == 3:
            down, up = shown[3]
            assert stored[2] == (down, 1) and down == up != second, (stored, shown)
        assert not problems, "\n".join(problems)
    finally:
        context.close()
