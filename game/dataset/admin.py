"""Moderation: the admin area at /admin, behind one password.

The password comes from config `ADMIN_PASSWORD`, else $DOODLE_ADMIN_PASSWORD. Without one
the admin area is off; in production (config or $DOODLE_ENV = "production") the app
refuses to start without one (`init_app` raises). A login form sets a signed session
cookie; every change is a POST carrying the session's CSRF token; failed logins are
limited per client address.

Pages: newest drawings of a word (every status) with reject / restore / delete, delete by
key_id, and the export as a zip of one Google-format ndjson per word, written by the same
`game.dataset.store.export` as `python -m game.dataset.store export`.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from flask import (Blueprint, Flask, current_app, flash, redirect, render_template, request, send_file,
                   session, url_for)
from flask_babel import gettext as _

from game.dataset.browse import Browser, BrowseError, filter_arg, page_arg, replay_data, thumbnail
from game.dataset.contribute import Contributions
from game.dataset.store import FORMATS, OK, REJECTED, export
from game.ratelimit import KeyedLimiter

bp = Blueprint("admin", __name__, url_prefix="/admin")

ENVIRONMENTS = ("development", "production")


def config_defaults() -> dict:
    """Read when an app is made (not at import), so the environment of that moment counts."""
    return {
        "DOODLE_ENV": os.environ.get("DOODLE_ENV", "development"),
        "ADMIN_PASSWORD": os.environ.get("DOODLE_ADMIN_PASSWORD"),
        # Login attempts from one address: a burst of 5, then one a minute.
        "ADMIN_LOGIN_RATE": 1 / 60,
        "ADMIN_LOGIN_BURST": 5,
    }


class ConfigurationError(RuntimeError):
    """The app is configured in a way it must not run with."""


def init_app(app: Flask) -> None:
    """Check the admin settings and set up the login limiter; call it before the model
    loads, so a production server without a password fails at once."""
    for key, value in config_defaults().items():
        app.config.setdefault(key, value)
    env = app.config["DOODLE_ENV"]
    if env not in ENVIRONMENTS:
        raise ConfigurationError(f"DOODLE_ENV must be one of {ENVIRONMENTS}, got {env!r}")
    if env == "production" and not app.config["ADMIN_PASSWORD"]:
        raise ConfigurationError(
            "DOODLE_ENV is 'production' but no admin password is set: set DOODLE_ADMIN_PASSWORD "
            "(or config ADMIN_PASSWORD) to protect /admin; see docs/serving.md")
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        # The session cookie is the admin's login: never sent with another site's POST.
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.extensions["admin"] = KeyedLimiter(float(app.config["ADMIN_LOGIN_RATE"]),
                                           float(app.config["ADMIN_LOGIN_BURST"]))


def _digest(text: str) -> bytes:
    # Compared as fixed-length digests: compare_digest on the passwords would leak their length.
    return hashlib.sha256(text.encode("utf-8")).digest()


def _password() -> str | None:
    return current_app.config["ADMIN_PASSWORD"] or None


def _fingerprint(password: str) -> str:
    """What the session keeps of a login: changing the password logs everyone out."""
    key = str(current_app.secret_key).encode()
    return hmac.new(key, password.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _logged_in() -> bool:
    password = _password()
    return bool(password) and hmac.compare_digest(session.get("admin", ""), _fingerprint(password))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf() -> None:
    sent, expected = request.form.get("csrf", ""), session.get("csrf", "")
    if not (sent and expected and hmac.compare_digest(sent.encode(), expected.encode())):
        raise BrowseError(400, _("missing or wrong CSRF token: reload the page and try again"))


def _login_page(status: int = 200, error: str = ""):
    if not _password():
        return render_template("message.html", title=_("Admin area off"),
                               message=_("The admin area is off: set DOODLE_ADMIN_PASSWORD to use it."),
                               back=("/data", _("The data browser"))), 503
    # After logging in, back to the page asked for (a GET: a POST's form is gone).
    back = request.full_path.rstrip("?") if request.method == "GET" else ""
    return render_template("admin_login.html", error=error, next=back, csrf=csrf_token()), status


def admin_only(view):
    """The view for a logged-in admin; anyone else gets the login form (401). POSTs also
    need the CSRF token."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not _logged_in():
            if request.endpoint == "admin.dashboard":
                return _login_page()  # /admin is where one logs in: nothing was refused
            return _login_page(401, _("Log in to moderate."))
        if request.method == "POST":
            _check_csrf()
        return view(*args, **kwargs)

    return wrapped


def _store():
    return Contributions.of(current_app).store


def _back(default: str):
    """Redirect to the page the form came from, if it is one of ours."""
    target = request.form.get("next") or request.args.get("next") or ""
    if not target.startswith("/admin") or target.startswith("//"):
        target = default
    return redirect(target, code=303)


# --- login --------------------------------------------------------------------


@bp.post("/login")
def login():
    if not _password():
        return _login_page()
    if not current_app.extensions["admin"].take(request.remote_addr):
        return render_template("admin_login.html", error=_("Too many login attempts from your address: "
                                                                 "wait a minute and try again."), next="", csrf=csrf_token()), 429
    _check_csrf()
    if not hmac.compare_digest(_digest(request.form.get("password", "")), _digest(_password())):
        current_app.logger.warning("failed admin login from %s", request.remote_addr)
        return _login_page(401, _("Wrong password."))
    session.clear()  # a fresh session (and CSRF token) for the admin
    session["admin"] = _fingerprint(_password())
    return _back(url_for("admin.dashboard"))


@bp.post("/logout")
@admin_only
def logout():
    session.clear()
    return redirect(url_for("admin.dashboard"), code=303)


# --- pages --------------------------------------------------------------------


@bp.get("")
@admin_only
def dashboard():
    store, words = _store(), Browser.of(current_app).words
    shown, everything = store.counts(status=OK), store.counts(status=None)
    rows = [{"word": w, "ok": shown.get(w, 0), "rejected": everything.get(w, 0) - shown.get(w, 0)}
            for w in words]
    chosen = next((r["word"] for r in rows if r["ok"] or r["rejected"]), None)  # the select's first pick
    return render_template("admin.html", rows=rows, chosen=chosen, formats=FORMATS, csrf=csrf_token())


@bp.get("/drawings")
@admin_only
def drawings():
    """A word's newest drawings, every status, each with its moderation buttons."""
    word = request.args.get("word", "")
    browser = Browser.of(current_app)
    if word not in browser.known:
        raise BrowseError(404, _("no word %(word)r here: choose one on /admin", word=word[:64]))
    page, recognized, per_page = page_arg(), filter_arg(), browser.per_page
    store = _store()
    total = store.count(word, recognized=recognized, status=None)
    rows = store.newest(word, limit=per_page, offset=(page - 1) * per_page, recognized=recognized)
    for r in rows:
        r.update(source="contribution", format="raw", thumbnail=r["simplified"])
    listing = {"word": word, "page": page, "pages": max(1, -(-total // per_page)), "total": total,
               "recognized": recognized, "drawings": rows}
    return render_template("admin_word.html", listing=listing, thumbnail=thumbnail,
                           replay=replay_data(rows), csrf=csrf_token())


@bp.post("/drawings/<key_id>/status")
@admin_only
def set_status(key_id: str):
    status = request.form.get("status", "")
    if status not in (OK, REJECTED):
        raise BrowseError(400, _("status must be %(ok)r or %(rejected)r", ok=OK, rejected=REJECTED))
    done = (_("Drawing %(key_id)s rejected.", key_id=key_id) if status == REJECTED
            else _("Drawing %(key_id)s restored.", key_id=key_id))
    return _done(_store().set_status(key_id, status), key_id, done)


@bp.post("/delete")
@admin_only
def delete():
    key_id = request.form.get("key_id", "").strip()
    if not (key_id.isascii() and key_id.isdigit()):
        raise BrowseError(400, _("key_id must be the drawing's number, e.g. 5201136883597312"))
    return _done(_store().delete(key_id), key_id, _("Drawing %(key_id)s deleted.", key_id=key_id))


def _done(changed: bool, key_id: str, done: str):
    """Say what was done and go back to the page the form came from (404: no such drawing)."""
    if not changed:
        raise BrowseError(404, _("no drawing has key_id %(key_id)r", key_id=key_id[:24]))
    flash(done)
    return _back(url_for("admin.dashboard"))


@bp.get("/export.zip")
@admin_only
def download():
    """The export as a zip: `<format>/<word>.ndjson` for each word, so an unzipped folder
    is what `python -m training train --extra DIR` reads."""
    fmt = request.args.get("format", "raw")
    if fmt not in FORMATS:
        raise BrowseError(400, _("format must be one of %(formats)s", formats=", ".join(FORMATS)))
    archive = tempfile.TemporaryFile()  # on disk, not in memory: an export can be large
    with tempfile.TemporaryDirectory() as folder:
        counts = export(_store(), folder, fmt)
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for word in sorted(counts):
                z.write(Path(folder) / f"{word}.ndjson", f"{fmt}/{word}.ndjson")
    archive.seek(0)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return send_file(archive, mimetype="application/zip", as_attachment=True,
                     download_name=f"doodle-lab-{fmt}-{stamp}.zip")


@bp.errorhandler(BrowseError)
def admin_error(error: BrowseError):
    return render_template("message.html", title=_("Not done"), message=error.message,
                           back=("/admin", _("Back to moderation"))), error.status
