"""Shared pytest fixtures: where ../shared is, and the indexed test corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_path() -> Path:
    """The ../shared folder beside the repo (or ISNAD_SHARED); tests read data there, never copy it."""
    return Path(os.environ.get("ISNAD_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = shared_path()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path} (set ISNAD_SHARED)")
    return path


@pytest.fixture(scope="session")
def seeds_dir(shared_dir: Path) -> Path:
    path = shared_dir / "corpus" / "seeds"
    if not path.is_dir():
        pytest.skip(f"seed pages not found at {path}")
    return path
