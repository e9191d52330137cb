"""The stories test corpus: the seed pages as dated JSON lines, samples/, and agency copies of one sample.

Scraped pages lost their dates, which stories need (same event within a few days). The dates are the
events' own (Putin in North Korea 18-19 June 2024; Kim in Russia 12-13 September 2023), given per page
file as a newsroom's feed would carry them."""

from __future__ import annotations

import json
from pathlib import Path

from indexer.ingest import iter_articles
from indexer.models import IngestSummary

REPO = Path(__file__).resolve().parent.parent

PAGE_DATES = {
    "000_ee1f1caaa4198035.txt": "2024-06-18T09:00:00+03:00",  # Putin in the Russian Far East, on his way
    "001_400953b9cbf22e48.txt": "2024-06-17T18:00:00+03:00",  # CNN: the visit announced
    "002_08a461d4136db840.txt": "2024-06-18T12:00:00+03:00",  # Oman daily: the state visit begins
    "003_0aeeb3dcf4d8499a.txt": "2023-09-12T10:00:00+03:00",  # Kim arrives in Russia
    "004_74f84f9a7e1b41c0.txt": "2023-09-13T20:00:00+03:00",  # the summit at the cosmodrome
}
VISIT_2024 = ("000_ee1f1caaa4198035.txt", "001_400953b9cbf22e48.txt", "002_08a461d4136db840.txt")
VISIT_2023 = ("003_0aeeb3dcf4d8499a.txt", "004_74f84f9a7e1b41c0.txt")


def write_dated_seeds(seeds_dir: Path, out: Path) -> dict[str, str]:
    """Write the seed pages' articles with their page's date to `out`; returns {page file: main article id}
    (the first article of each page is its main one)."""
    main: dict[str, str] = {}
    with out.open("w", encoding="utf-8") as handle:
        for article in iter_articles([str(seeds_dir)], IngestSummary(), lambda problem: None):
            page = Path(article.origin.split("#")[0]).name
            main.setdefault(page, article.id)
            record = {
                "id": article.id,
                "title": article.title,
                "text": article.text,
                "source": article.source,
                "date": PAGE_DATES[page],
                "url": article.url,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return main


def sample(article_id: str) -> dict:
    for line in (REPO / "samples" / "news.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] == article_id:
            return record
    raise AssertionError(f"{article_id} not in samples/news.jsonl")


def edited_copy(record: dict, new_id: str, source: str) -> dict:
    """What an outlet does to an agency dispatch: its own headline prefix, a date line, and one word changed."""
    body = record["text"].replace("غزيرة", "كثيفة", 1)
    return {
        **record,
        "id": new_id,
        "source": source,
        "title": "عاجل: " + record["title"],
        "text": "النخيل - (وكالات): " + body,
        "url": f"https://example.org/{new_id}",
    }


def write_story_corpus(seeds_dir: Path, root: Path) -> tuple[list[str], dict[str, str]]:
    """The dated seeds, samples/ and one agency copy of rain-agency: (paths to index, main article per page)."""
    main = write_dated_seeds(seeds_dir, root / "seeds.jsonl")
    copy = root / "copy-1.jsonl"
    copy.write_text(
        json.dumps(edited_copy(sample("rain-agency"), "rain-copy-1", "قناة أولى"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return [str(root / "seeds.jsonl"), str(REPO / "samples"), str(copy)], main
