"""Shared fixtures: the Quick, Draw! data folder beside the checkout (CI has it there)."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "quickdraw"


@pytest.fixture(scope="session")
def quickdraw_dir() -> Path:
    if not (SHARED / "simplified").is_dir():
        pytest.skip(f"Quick, Draw! data not found at {SHARED}: these checks need Google's files there")
    return SHARED
