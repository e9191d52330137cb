"""Copy groups and stories on real articles: fingerprints against datasketch, agency copy across outlets
grouped at index time and incrementally, the seed pages' 2024 visit as one story without the 2023 pages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexer.grouping.fingerprint import jaccard, shingle_hashes, signature, template, unpack
from indexer.grouping.lookup import LocalGroups
from indexer.pipeline import delete_articles, index_paths
from indexer.settings import load_settings
from tests.seed_dates import REPO, VISIT_2023, VISIT_2024, edited_copy, sample, write_story_corpus


def test_signature_is_datasketch_minhash_of_the_shingles():
    words = sample("rain-agency")["text"].split()
    expected = template().copy()
    expected.update_batch(shingle_hashes(words).tolist())
    assert np.array_equal(unpack(signature(words)), expected.hashvalues)


def test_a_workers_batch_of_fingerprints_equals_each_articles_own(seeds_dir: Path):
    from indexer.grouping.fingerprint import fingerprint, fingerprints
    from indexer.grouping.run import fingerprint_batch
    from indexer.ingest import iter_articles
    from indexer.models import IngestSummary
    from indexer.pipeline import analyze_articles, content_hash, expand

    paths = [str(seeds_dir), str(REPO / "samples")]
    articles = list(iter_articles(paths, IngestSummary(), lambda problem: None))
    analyzed = analyze_articles([(a, content_hash(a, 40, 120)) for a in articles], 40, 120)
    docs = [expand(a, r)[1] for a, r in zip(articles, analyzed, strict=True)]
    docs.append([])  # an article without passages: an empty signature, still comparable
    batch = fingerprint_batch(docs)
    assert len(articles) > 10 and all(r[3] == fp for r, fp in zip(analyzed, batch, strict=False))
    assert len(set(batch)) == len(batch)  # every seed page and sample is its own text
    for article_docs, fp in zip(docs, batch, strict=True):
        alone = (
            fingerprint(article_docs[0].title_exact, [d.text_exact for d in article_docs])
            if article_docs
            else fingerprint("", ())
        )
        assert alone == fp
    assert fingerprints([("", ())])[0] == batch[-1]


def test_key_terms_are_the_leads_most_counted_stems_as_the_keyword_index_has_them(seeds_dir: Path):
    """Computed at story time from the stored title and lead; the same stems the keyword phase indexed."""
    from collections import Counter

    from indexer.grouping.fingerprint import KEY_TERMS, LEAD_PASSAGES, TITLE_WEIGHT, article_terms
    from indexer.ingest import iter_articles
    from indexer.models import IngestSummary
    from indexer.pipeline import analyze_articles, content_hash, expand

    articles = list(iter_articles([str(seeds_dir)], IngestSummary(), lambda problem: None))
    analyzed = analyze_articles([(a, content_hash(a, 40, 120)) for a in articles], 40, 120)
    assert len(articles) >= 5
    for article, result in zip(articles, analyzed, strict=True):
        passages, docs = expand(article, result)
        terms = article_terms(article.title, [p.text for p in passages[:LEAD_PASSAGES]])
        # The most counted (title words x TITLE_WEIGHT), ties by the term, as a full sort has it.
        counts = Counter(t for d in docs[:LEAD_PASSAGES] for t in d.text.split())
        for t in docs[0].title.split():
            counts[t] += TITLE_WEIGHT
        ranked = [t for t, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: KEY_TERMS * 2]]
        expected = [t for t in ranked if len(t) > 1 and not t.isdigit()][:KEY_TERMS]
        assert terms.split() == expected and len(expected) == KEY_TERMS


def test_band_layout_is_datasketchs_for_the_band_threshold():
    from datasketch import MinHashLSH

    from indexer.grouping.fingerprint import BAND_THRESHOLD, BANDS, NUM_PERM, ROWS

    lsh = MinHashLSH(threshold=BAND_THRESHOLD, num_perm=NUM_PERM)
    assert (lsh.b, lsh.r) == (BANDS, ROWS)
    assert lsh.hashranges == [(i * ROWS, (i + 1) * ROWS) for i in range(BANDS)]


def test_an_edited_copy_is_near_and_a_report_on_the_same_event_is_not():
    agency = sample("rain-agency")
    copy = edited_copy(agency, "c", "x")
    other = sample("rain-khaleej")  # the same storm, written by another outlet: a story, not a copy
    assert jaccard(signature(agency["text"].split()), signature(copy["text"].split())) >= 0.8
    assert jaccard(signature(agency["text"].split()), signature(other["text"].split())) < 0.3


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory, seeds_dir: Path) -> tuple[Path, dict[str, str], dict]:
    """Dated seed pages, samples/ and one agency copy, indexed with vectors; then a second run adding
    another outlet's copy."""
    root = tmp_path_factory.mktemp("grouped")
    paths, main = write_story_corpus(seeds_dir, root)
    settings = load_settings(overrides={"data.dir": str(root / "data")}, environ={})
    index_paths(paths, settings, progress=False)
    second = root / "copy-2.jsonl"
    second.write_text(
        json.dumps(edited_copy(sample("rain-agency"), "rain-copy-2", "قناة ثانية"), ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    report = index_paths([str(second)], settings, progress=False)
    return root / "data", main, {"second_run": report, "settings": settings}


def rows(data_dir: Path) -> dict[str, tuple]:
    with sqlite3.connect(data_dir / "groups.sqlite") as db:
        return {r[0]: r[1:] for r in db.execute("SELECT article_id, copy_group, story, rowid FROM groups")}


def test_agency_copies_share_one_copy_group_across_runs(grouped):
    data_dir, _, info = grouped
    groups = rows(data_dir)
    assert groups["rain-copy-1"][0] == groups["rain-agency"][0] == groups["rain-copy-2"][0]
    assert groups["rain-khaleej"][0] != groups["rain-agency"][0]
    # The second run wrote only its own article: the others' rows are the first run's.
    assert info["second_run"].indexed == 1
    assert groups["rain-agency"][2] < groups["rain-copy-2"][2]
    # A copy is in its original's story.
    assert groups["rain-copy-2"][1] == groups["rain-agency"][1]


def test_the_2024_visit_pages_share_a_story_and_the_2023_pages_are_not_in_it(grouped):
    data_dir, main, _ = grouped
    groups = rows(data_dir)
    stories = {page: groups[main[page]][1] for page in (*VISIT_2024, *VISIT_2023)}
    visit = stories[VISIT_2024[0]]
    assert visit is not None
    assert all(stories[page] == visit for page in VISIT_2024)
    assert all(stories[page] != visit for page in VISIT_2023)
    # Three outlets carried it: the story names them in date order.
    members = LocalGroups(data_dir).members("story", [visit])[visit]
    assert {m.source for m in members} >= {"سي إن إن", "جريدة عمان"}
    assert [m.published for m in members] == sorted(m.published for m in members)


def test_deleting_an_article_removes_it_from_its_groups(grouped, tmp_path):
    data_dir, _, info = grouped
    deleted, missing = delete_articles(info["settings"], ["rain-copy-2"])
    assert deleted == ["rain-copy-2"] and not missing
    assert "rain-copy-2" not in rows(data_dir)
    assert "rain-copy-1" in rows(data_dir)


def test_copies_are_found_alike_within_a_batch_across_a_runs_batches_and_from_the_ledger(tmp_path: Path):
    """The same articles (samples/ and agency copies) give the same copy groups whether they come in one
    batch, in several batches of one run (matched in memory) or in several runs (matched in the ledger)."""
    from indexer.grouping.copies import NewArticle, RunIndex, assign_copies
    from indexer.grouping.run import fingerprint_batch
    from indexer.grouping.store import GroupStore
    from indexer.ingest import iter_articles
    from indexer.models import IngestSummary
    from indexer.pipeline import analyze_articles, content_hash, expand

    agency = sample("rain-agency")
    records = [edited_copy(agency, f"rain-copy-{n}", f"قناة {n}") for n in range(3)]
    for n, record in enumerate(records):  # each outlet signs it: three texts, not one read three times
        record["text"] += f"\n\n({record['source']}، الحلقة {n + 1})"
    copies = tmp_path / "copies.jsonl"
    copies.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    found = list(iter_articles([str(REPO / "samples"), str(copies)], IngestSummary(), lambda p: None))
    analyzed = analyze_articles([(a, content_hash(a, 40, 120)) for a in found], 40, 120)
    docs = [expand(a, r)[1] for a, r in zip(found, analyzed, strict=True)]
    articles = [
        NewArticle(a.id, a.source, a.published, 0, signature, ())
        for a, signature in zip(found, fingerprint_batch(docs), strict=True)
    ]
    # Each copy after an unrelated article, so that batches of three split copies from their original.
    articles.sort(key=lambda a: (a.article_id.startswith("rain-copy"), a.article_id))
    assert len(articles) > 10

    def grouped(name: str, batches: list[list[NewArticle]], one_run: bool) -> dict[str, str]:
        (tmp_path / name).mkdir()
        store = GroupStore(tmp_path / name)
        run = RunIndex(archive=False)
        assigned: dict[str, str] = {}
        for batch in batches:
            assigned.update(assign_copies(store, batch, 0.8, run=run if one_run else RunIndex(archive=True)))
        ledger = {r.article_id: r.copy_group for r in store.rows([a.article_id for a in articles]).values()}
        store.close()
        assert ledger == assigned
        return assigned

    whole = grouped("one-batch", [articles], one_run=True)
    assert {whole[f"rain-copy-{n}"] for n in range(3)} == {whole["rain-agency"]}
    assert len(set(whole.values())) == len(articles) - 3  # the copies joined; nothing else did
    threes = [articles[i : i + 3] for i in range(0, len(articles), 3)]
    assert grouped("batches", threes, one_run=True) == whole
    assert grouped("runs", threes, one_run=False) == whole
