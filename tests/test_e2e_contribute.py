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

from test_e2e_play import CHROMIUM, INK_PIXELS_JS, PHONE, Finger, browser, phone_page, server  # noqa: F401 (fixtures)

WORD = "cat"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"{CHROMIUM} not found: the end-to-end test needs Debian's chromium (`apt-get install chromium`)")

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
        page.wait_for_function("document.getElementById('replay').dataset.replaying === '1'", timeout=5_000)
        page.wait_for_function("document.getElementById('replay').dataset.replayed === '1'", timeout=10_000)
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
