"""The installable app: the web app manifest, the service worker (served from the root so
its scope is the whole site) and the page it shows when a page is asked for offline.

static/sw.js precaches the shell (SHELL below) into a cache named after a hash of those
files, so a new release's worker replaces the old cache. Socket.IO and the APIs never go
through the cache.

    python -m game.pwa icons   # redraw static/icons/icon-*.png (committed)
"""
from __future__ import annotations

import hashlib
import math
import sys
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, url_for
from flask_babel import gettext as _

from game.i18n import TRANSLATIONS, locale

bp = Blueprint("pwa", __name__)

ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"
ICON_SIZES = (192, 512)
THEME = "#fffdf7"
# The shell: what a phone needs to open the app with no network. Pages are cached in the
# language they were fetched in (the worker refreshes them after a language change).
SHELL_PAGES = ("/", "/play", "/offline")
SHELL_STATIC = ("style.css", "i18n.js", "install.js", "sketch.js", "play.js", "dataset.js",
                "vendor/socket.io.min.js", "favicon.svg", "icons/icon-192.png", "icons/icon-512.png")


@bp.get("/manifest.webmanifest")
def manifest():
    icons = [{"src": url_for("static", filename=f"icons/icon-{n}.png"), "sizes": f"{n}x{n}",
              "type": "image/png", "purpose": "any maskable"} for n in ICON_SIZES]
    icons.append({"src": url_for("static", filename="favicon.svg"), "sizes": "any", "type": "image/svg+xml"})
    response = jsonify({
        "name": "Doodle Lab",
        "short_name": "Doodle Lab",
        "description": _("Draw a word in 20 seconds. A neural network guesses as you go."),
        "lang": locale(),
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "background_color": THEME,
        "theme_color": THEME,
        "icons": icons,
    })
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker():
    """static/sw.js with its cache version and shell filled in; never cached by HTTP, so
    the browser sees a new release at once."""
    source = (Path(current_app.static_folder) / "sw.js").read_text(encoding="utf-8")
    shell = list(SHELL_PAGES) + [url_for("static", filename=f) for f in SHELL_STATIC]
    body = (source.replace('"__VERSION__"', f'"{shell_version(current_app.static_folder)}"')
                  .replace('["__SHELL__"]', repr(shell).replace("'", '"')))
    return Response(body, mimetype="text/javascript", headers={
        "Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})


@lru_cache(maxsize=4)
def shell_version(static_folder: str) -> str:
    """A hash of the shell's files, templates and catalogues: any change makes a new cache."""
    digest = hashlib.sha256()
    root = Path(static_folder)
    files = [root / f for f in SHELL_STATIC] + [root / "sw.js"]
    files += sorted((root.parent / "templates").glob("*.html")) + sorted(TRANSLATIONS.glob("*/LC_MESSAGES/*.po"))
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@bp.get("/offline")
def offline():
    """What the worker shows for a page it has no copy of while the network is down."""
    return render_template("offline.html")


# --- the icons ----------------------------------------------------------------------


def draw_icon(size: int):
    """favicon.svg's squiggle and dot, full-bleed on the paper colour, inside the maskable
    safe zone (the middle 80 %), drawn 4x larger and scaled down for smooth edges."""
    from PIL import Image, ImageDraw

    k = 4
    big = size * k
    image = Image.new("RGB", (big, big), THEME)
    draw = ImageDraw.Draw(image)
    unit = big * 0.8 / 64  # favicon.svg's 64 units in the safe zone
    off = big * 0.1

    def at(x: float, y: float) -> tuple[float, float]:
        return off + x * unit, off + y * unit

    # The squiggle: favicon.svg's path sampled as a polyline, with round joints.
    points = [at(12 + 40 * t, 44 - 30 * t + 14 * _wave(t)) for t in (i / 64 for i in range(65))]
    width = round(6 * unit)
    draw.line(points, fill="#1d1d1f", width=width, joint="curve")
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill="#1d1d1f")
    cx, cy = at(52, 20)
    r = 5 * unit
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill="#e4572e")
    return image.resize((size, size), Image.LANCZOS)


def _wave(t: float) -> float:
    return -math.sin(t * 2 * math.pi) * 0.9


def main(argv: list[str]) -> int:
    if argv != ["icons"]:
        print(__doc__)
        return 2
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in ICON_SIZES:
        draw_icon(size).save(ICONS / f"icon-{size}.png", optimize=True)
        print(ICONS / f"icon-{size}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
