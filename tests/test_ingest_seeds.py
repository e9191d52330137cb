"""The scraped seed pages read as clean stories: titles, no boilerplate, several stories per page where present."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path

import pytest

from indexer.ingest import iter_articles
from indexer.ingest.cleaning import clean_body
from indexer.ingest.scraped import split_page
from indexer.models import Article, IngestSummary
from indexer.passages import split_passages

# What a reader sees on each page, checked by eye against the raw files (see ../shared/corpus/seeds).
EXPECTED = {
    "000": [("بوتين يزور الشرق الأقصى الروسي في طريقه لكوريا الشمالية", None)],
    "001": [("ومن المقرر أن يسافر فلاديمير بوتين كوريا الشمالية", "سي إن إن")],
    "002": [
        ("يقوم الرئيس الروسي فلاديمير بوتين بزيارة دولة ودية إلى جمهورية كوريا", "جريدة عمان"),
        ("بوتين يرسل برقيتي شكر إلى قيادتي كوريا الديمقراطية وفيتنام", "RT"),
    ],
    "003": [
        ("زعيم كوريا الشمالية يصل إلى روسيا للقاء بوتين... وسط تحذيرات أميركية", "الشرق الأوسط"),
        ("باكستان: 7 قتلى بهجوم على حملة تلقيح ضد شلل الأطفال", "الشرق الأوسط"),
    ],
    "004": [
        ("بوتين لـ«تعاون استراتيجي» وكيم واثق بـ«انتصار روسيا العظمى»", "الشرق الأوسط"),
        ("ألمانيا تعتزم استقبال مئات الأفغان العالقين في باكستان", "الشرق الأوسط"),
        ("تحقيقات في قضايا فساد وتفتيش لمنزل وزيرة الثقافة الفرنسية رشيدة داتي", "الشرق الأوسط"),
        ("لوكاشينكو: روسيا البيضاء تجهّز «صفقة كبيرة» مع أميركا", "الشرق الأوسط"),
    ],
}

# Pieces of page furniture; none may survive into an article.
BOILERPLATE = [
    "JavaScript",
    "اقرأ المزيد",
    "إقرأ المزيد",
    "إقرأ أيضاً",
    "مقالات ذات صلة",
    "مقالات مشابهة",
    "يحتوي هذا القسم",
    "Related Nodes",
    "المزيد من دوليات",
    "سبوتنيك / رويترز",
    "كلمات دلالية",
    "المصدر:",
    "(أ.ب)",
    "(أ.ف.ب)",
    "(إ.ب.أ)",
    "(د.ب.أ)",
    "(رويترز)",
    "(أرشيفية",
    "«الشرق الأوسط» (",
    "•",
    "play-circle",
    "رائد جبر (موسكو)",
    "خلال زيارة إلى قاعدة فوستوشني الفضائية الروسية في سبتمبر 2023",  # caption under the credit line on 001
]
BOILERPLATE_LINES = {"TT", "—", "ملخص", "سي إن إن"}

# Words that belong to one story only: finding them in another story means two stories were glued together.
FOREIGN = {
    ("003", 1): ["باكستان", "بلوشستان", "لاهور"],
    ("003", 2): ["كيم", "بوتين", "زيلينسكي"],
    ("004", 1): ["أفغان", "داتي", "لوكاشينكو", "إستونيا", "توسك"],
    ("004", 2): ["داتي", "لوكاشينكو", "بوتين", "كيم"],
    ("004", 3): ["أفغان", "لوكاشينكو", "بوتين"],
    ("004", 4): ["أفغان", "داتي", "كيم"],
    ("002", 1): ["برقيتي", "تو لام", "لماذا يقلق الغرب"],
    ("002", 2): ["لماذا يقلق الغرب", "كيربي", "عواصم"],
}


@pytest.fixture(scope="module")
def seed_articles(seeds_dir: Path) -> dict[str, list[Article]]:
    summary, problems = IngestSummary(), []
    articles = list(iter_articles([seeds_dir], summary, problems.append))
    assert problems == []
    by_page: dict[str, list[Article]] = {}
    for article in articles:
        by_page.setdefault(Path(article.origin.split("#")[0]).name[:3], []).append(article)
    return by_page


def test_every_page_gives_the_expected_stories_titles_and_sources(
    seed_articles: dict[str, list[Article]],
) -> None:
    assert sorted(seed_articles) == sorted(EXPECTED)
    for page, expected in EXPECTED.items():
        got = seed_articles[page]
        assert len(got) == len(expected), (page, [a.title for a in got])
        for article, (title, source) in zip(got, expected, strict=True):
            assert article.title.startswith(title), (page, article.title)
            assert article.source == source, (page, article.title, article.source)


def test_titles_are_sensible(seed_articles: dict[str, list[Article]]) -> None:
    for articles in seed_articles.values():
        for article in articles:
            assert 4 <= len(article.title.split()) <= 20, article.title
            assert "\n" not in article.title and not article.title.endswith((".", ":", "،"))
            # The headline is the title, not repeated as the body's first line.
            assert not article.text.startswith(article.title), article.title


def test_no_boilerplate_in_any_passage(seed_articles: dict[str, list[Article]]) -> None:
    for articles in seed_articles.values():
        for article in articles:
            for passage in split_passages(article):
                for marker in BOILERPLATE:
                    assert marker not in passage.text, (article.origin, marker)
                lines = [line.strip() for line in passage.text.split("\n")]
                assert not BOILERPLATE_LINES & set(lines), article.origin
                # A photo caption repeated on the next line would show as two equal neighbouring lines.
                non_blank = [line for line in lines if line]
                assert all(a != b for a, b in itertools.pairwise(non_blank)), article.origin


def test_no_passage_spans_two_stories(seed_articles: dict[str, list[Article]]) -> None:
    for (page, number), words in FOREIGN.items():
        article = seed_articles[page][number - 1]
        for passage in split_passages(article):
            for word in words:
                assert word not in passage.text, (page, number, word)


def test_stories_keep_their_whole_text(seed_articles: dict[str, list[Article]]) -> None:
    last_lines = {
        ("000", 1): "وكانت كندا قد أبقت على علاقاتها الدبلوماسية مع كوبا عقب الثورة الكوبية عام 1959.",
        ("003", 1): "وليس مجرد شحنة واحدة بل عدد كبير من الشحنات».",
        ("003", 2): "ويشار إلى أن لاهور كانت أكثر مدينة تلوثاً في العالم خلال معظم فترات هذا الأسبوع.",
        ("004", 1): "وأكد الوزير مجددا أن بلاده لن تسمح بفرض عقوبات جديدة على البلد الجار.",
        ("004", 4): "إبعاده إلى حدٍّ ما عن الرئيس الروسي فلاديمير بوتين، حليفه المقرب.",
    }
    for (page, number), ending in last_lines.items():
        assert seed_articles[page][number - 1].text.endswith(ending), (page, number)
    pakistan = seed_articles["003"][1].text
    # A sentence the page broke across a blank line is joined again.
    assert "حتى القضاء عليهم من البلاد. ويشهد" in pakistan
    # Sub-headings stay inside their story.
    assert "\n\nموقف سيول\n\n" in seed_articles["000"][0].text


def test_ids_are_unique_and_stable(seeds_dir: Path, seed_articles: dict[str, list[Article]]) -> None:
    ids = [a.id for articles in seed_articles.values() for a in articles]
    again = [a.id for a in iter_articles([seeds_dir], IngestSummary(), lambda p: None)]
    assert ids == again and len(set(ids)) == len(ids)


def _without_header_blocks(page: str) -> str:
    """The page as a plainer site would print it: no "TT", no captions, each headline printed once."""
    kept: list[str] = []
    for line in page.split("\n"):
        text = line.strip()
        if text == "TT" or re.search(r"\)\s*(play-circle)?$", text) or (text and line in kept[-6:]):
            continue
        kept.append(line)
    return "\n".join(kept)


@pytest.mark.parametrize("page", ["003", "004"])
def test_stories_split_by_topic_shift_without_header_markers(seeds_dir: Path, page: str) -> None:
    [path] = seeds_dir.glob(f"{page}_*.txt")
    stories = split_page(_without_header_blocks(path.read_text(encoding="utf-8")))
    assert [s.title for s in stories] == [title for title, _ in EXPECTED[page]]


def test_single_news_articles_are_rarely_split(shared_dir: Path) -> None:
    """Real one-story articles read as pages: the topic-shift rule must leave nearly all of them whole."""
    path = shared_dir / "corpus" / "news" / "ant_multisource.jsonl.gz"
    if not path.exists():
        pytest.skip(f"news corpus not found at {path}")
    pages = whole = 0
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in itertools.islice(lines, 0, 30000, 25):
            record = json.loads(line)
            body = clean_body(record["text"])
            if len(body.split()) < 30:
                continue
            pages += 1
            whole += len(split_page(record["title"] + "\n\n" + body)) == 1
    assert pages > 1000 and whole / pages >= 0.99, (whole, pages)
