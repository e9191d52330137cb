"""The demo corpus in samples/ reads cleanly and still holds the facts samples/README.md asks about."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from indexer.ingest import iter_articles
from indexer.models import IngestSummary
from indexer.passages import split_passages

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def test_samples_read_without_problems() -> None:
    summary, problems = IngestSummary(), []
    articles = list(iter_articles([SAMPLES], summary, problems.append))
    assert problems == []  # README.md describes the folder: passed over quietly
    assert 20 <= len(articles) <= 30 and summary.read == len(articles)
    assert len({a.id for a in articles}) == len(articles)
    for article in articles:
        assert 80 <= len(article.text.split()) <= 250 or article.origin.endswith(".txt#2"), article.id
        assert article.title and article.source, article.id
        assert split_passages(article)
    from_json = [a for a in articles if ".jsonl:" in a.origin]
    assert all(a.published and a.published.startswith("2024-") and a.url for a in from_json)
    assert len(Counter(a.source for a in articles)) >= 5
    assert set(Counter(a.category for a in from_json)) == {
        "weather",
        "economy",
        "sport",
        "health",
        "technology",
        "culture",
    }
    by_kind = Counter(Path(a.origin.split("#")[0].rsplit(":", 1)[0]).suffix for a in articles)
    assert by_kind == {".jsonl": 25, ".txt": 2, ".html": 1}


def test_readme_answers_are_in_the_articles() -> None:
    articles = {a.id: a for a in iter_articles([SAMPLES], IngestSummary(), lambda p: None)}
    facts = {
        "rain-agency": ["85 مليمترا", "40 عائلة"],
        "cup-final-agency": ["يوسف العطار في الدقيقة 88", "2-1"],
        "measles-campaign": ["الأول من سبتمبر", "مليونا ومئتي ألف طفل"],
        "measles-results": ["94 في المئة"],
        "book-fair-opens": ["450 دار نشر من 30 دولة"],
        "book-fair-closes": ["ريم الصباغ", "«حديقة على السطح»"],
        "rate-decision": ["5.25 في المئة", "3.1 في المئة"],
        "marathon": ["عمر الخالدي", "ساعتان و14 دقيقة و30 ثانية"],
    }
    for article_id, needles in facts.items():
        for needle in needles:
            assert needle in articles[article_id].text, (article_id, needle)
    texts = "\n".join(a.text for a in articles.values())
    assert "اثنتين وعشرين دقيقة" in texts and "صباح الأربعاء" in texts
    page = sorted((a for a in articles.values() if ".txt#" in a.origin), key=lambda a: a.origin)
    assert [a.published for a in page] == ["2024-01-17T11:20:00", "2024-01-19"]
