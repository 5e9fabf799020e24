"""Shared fixtures: the Quick, Draw! data folder beside the checkout (CI has it there), the
contributions database on both backends (SQLite, and a throwaway PostgreSQL server), the
fake clock and classifier (tests/fakes.py), Debian's chromium (tests/browser.py)."""
import os
import sys
from pathlib import Path

import pytest

from browser import CHROMIUM, CHROMIUM_MISSING, launched_chromium
from fakes import CATEGORIES, Clock, FakeClassifier
from game.app import close_app, create_app
from game.cluster import postgres as pg_server
from game.extensions import socketio
from live_server import free_port, running_server

# Why tests skip for want of a system package (Debian's chromium, postgresql): each reason is
# said in one line of the summary, however many tests it skips (pytest_runtest_makereport).
MISSING_PACKAGES: set[str] = set()


def skip_missing_package(reason: str):
    MISSING_PACKAGES.add(reason)
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2].removeprefix("Skipped: ")
        if reason in MISSING_PACKAGES:
            # One place for all of them: pytest folds them into one line.
            report.longrepr = (__file__, skip_missing_package.__code__.co_firstlineno, report.longrepr[2])


# Apps built in the test process must not pin it to one CPU (game.model.process.share_cpus); the
# servers tests start (live_server.py) set it back to "auto", as in production.
os.environ["DOODLE_CPU_AFFINITY"] = "off"

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "quickdraw"
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def quickdraw_dir() -> Path:
    if not (SHARED / "simplified").is_dir():
        pytest.skip(f"Quick, Draw! data not found at {SHARED}: these checks need Google's files there")
    return SHARED


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the session (game/cluster/postgres.py), stopped at the
    end; skipped only when the PostgreSQL binaries are absent (`make test` installs them)."""
    reason = pg_server.unavailable()
    if reason:
        skip_missing_package(reason)
    server = pg_server.start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    """A fresh, empty contributions database: an SQLite file, or a new database on the
    throwaway PostgreSQL server. Tests taking it run once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contributions.sqlite3'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> FakeClassifier:
    """The classifier of WORDS (tests/fakes.py), its answer set by each drawing's ink."""
    return FakeClassifier()


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'contributions.sqlite3'}"


@pytest.fixture
def make_app(db_url):
    """Apps on the contributions' SQLite file, whose fake classifier says "cat" (p 0.9) to
    any drawing; each closed at the end."""
    apps = []

    def make(**config):
        app = create_app({"TESTING": True, "SECRET_KEY": "test", "CLASSIFIER": FakeClassifier(CATEGORIES, answer=("cat", 0.9)),
                          "DECK": ["cat", "dog", "apple"], "DATABASE_URL": db_url, "BATCH_WAIT": 0.0,
                          **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium for a test module (tests/browser.py); skipped, with the command that
    installs it, where it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        skip_missing_package(CHROMIUM_MISSING)
    with launched_chromium() as b:
        yield b


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The game as a user runs it, `python -m game serve --port <free>`, for a test module;
    yields its base URL (or DOODLE_E2E_URL's, a server you already run)."""
    if os.environ.get("DOODLE_E2E_URL"):
        yield os.environ["DOODLE_E2E_URL"].rstrip("/")
        return
    port = free_port()
    log_path = tmp_path_factory.mktemp("e2e") / "serve.log"
    with running_server([sys.executable, "-m", "game", "serve", "--port", str(port)], log_path, port) as (base, _):
        yield base


@pytest.fixture
def namespace():
    """The Socket.IO namespace `connect` joins unless told: the solo game's; a test module
    of another overrides it."""
    return None


@pytest.fixture
def connect(app, namespace):
    """Socket.IO test clients of the module's `app`: connect(namespace=..., headers=...);
    each disconnected at the end."""
    clients = []

    def connect(namespace=namespace, headers=None):
        client = socketio.test_client(app, namespace=namespace, headers=headers, flask_test_client=app.test_client())
        clients.append((client, namespace))
        return client

    yield connect
    for client, ns in clients:
        if client.is_connected(ns):
            client.disconnect(ns)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """One tiny random model per vision-lab task (tests/vision_models.py), built once."""
    from vision_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def empty_cache(tmp_path_factory) -> str:
    """A Hugging Face cache with nothing in it: every hub model is 'not downloaded'."""
    return str(tmp_path_factory.mktemp("hf-cache"))
