"""Shared fixtures: the Quick, Draw! data folder beside the checkout (CI has it there), and
the contributions database on both backends (SQLite, and a throwaway PostgreSQL server)."""
import os
from pathlib import Path

import pytest

import pg_server

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
    """One throwaway PostgreSQL server for the session (tests/pg_server.py), stopped at the
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
