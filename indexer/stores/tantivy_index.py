"""The embedded keyword index: tantivy over text analyzed by our Lucene-identical Arabic analyzer.

Analysis happens in Python (`indexer.analysis`), so the index stores analyzer output joined by
spaces in fields tokenized on whitespace: `text` (stemmed terms of the article title and the passage,
one field as Lucene users index title + body, for BM25) and `text_exact` (the passage's unstemmed terms,
with positions, for quoted phrases), and `title` / `title_exact` for the title alone. Each document is one
passage, keyed by its stable `passage_id`; `article_id` is indexed to delete an article's passages,
`source` to filter, and `published` (UTC epoch seconds) is a fast field for date ranges and sorting.

Scores are on Lucene's BM25 scale. Both engines compute idf * tf*(k1+1) / (tf + k1*(1-b+b*dl/avgdl))
with k1=1.2, b=0.75, but Lucene (since 8.0) drops the constant (k1+1) factor, which does not change
ranking. Tantivy keeps it, so every tantivy score is divided by (k1+1) = 2.2 here; a term's score
then equals what Lucene (and Elasticsearch) report for the same analyzed text.
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from indexer.models import Article, Hit
from indexer.stores.base import KeywordQuery, KeywordResult, StoredPassage
from indexer.stores.dates import query_bounds, to_epoch

BM25_K1 = 1.2  # tantivy's constant (tantivy::query::bm25), the same as Lucene's default
LUCENE_SCALE = 1.0 / (BM25_K1 + 1.0)
SCHEMA_VERSION = (
    2  # 2: title terms in `text`. Bump when fields change; the indexer then rebuilds the keyword index
)
WRITER_HEAP_BYTES = 256_000_000  # tantivy flushes a segment when its heap fills; larger = fewer merges
WRITER_THREADS = 1  # analysis, not tantivy, is the bottleneck: leave the other core to the analysis pool


@dataclass(frozen=True, slots=True)
class KeywordDoc:
    """One passage as the keyword index stores it: analyzer output joined by spaces."""

    passage_id: int
    article_id: str
    source: str
    published: int
    text: str
    text_exact: str
    title: str
    title_exact: str


_MISSING = object()
_full_terms: dict[str, str | None] = {}
_exact_terms: dict[str, str] = {}
_CACHE_LIMIT = 1_000_000  # words; news vocabulary repeats, so most words cost one lookup


def analyze_both(text: str) -> tuple[str, str]:
    """(stemmed terms, exact terms) of `text`, each joined by spaces, from one tokenization.

    Equal to " ".join(analyze_terms(text)) and " ".join(analyze_exact_terms(text)) (a test checks
    it); tokenizing once instead of twice is most of the indexer's analysis time.
    """
    from indexer.analysis import exact_term, full_term
    from indexer.analysis.normalize import fold_alef_wasla
    from indexer.analysis.tokenizer import token_strings

    if len(_full_terms) > _CACHE_LIMIT:
        _full_terms.clear()
        _exact_terms.clear()
    stemmed: list[str] = []
    exact: list[str] = []
    for word in token_strings(fold_alef_wasla(text)):
        term = _exact_terms.get(word)
        if term is None:
            term = _exact_terms[word] = exact_term(word)
        exact.append(term)
        full = _full_terms.get(word, _MISSING)
        if full is _MISSING:
            full = _full_terms[word] = full_term(word)
        if full is not None:
            stemmed.append(full)  # type: ignore[arg-type]
    return " ".join(stemmed), " ".join(exact)


def prepare_docs(article: Article, passages: Sequence[StoredPassage]) -> list[KeywordDoc]:
    """Analyze an article's passages (and its title, once) into keyword documents. Pure; runs in
    the analysis worker processes."""
    title, title_exact = analyze_both(article.title)
    published = to_epoch(article.published)
    source = article.source or ""
    docs = []
    for p in passages:
        text, text_exact = analyze_both(p.text)
        docs.append(KeywordDoc(p.id, article.id, source, published, text, text_exact, title, title_exact))
    return docs


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("passage_id", stored=True, indexed=True, fast=True)
    builder.add_text_field("article_id", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("published", indexed=True, fast=True)
    builder.add_text_field("text", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("text_exact", tokenizer_name="whitespace", index_option="position")
    builder.add_text_field("title", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("title_exact", tokenizer_name="whitespace", index_option="position")
    return builder.build()


class TantivyKeywordIndex:
    """A tantivy index in one directory. Readers reload on `refresh`; the writer opens on first write."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.schema = build_schema()
        self._index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        self._writer: tantivy.IndexWriter | None = None
        self._uncommitted = False  # adds or deletes since the last commit
        self._lock = threading.Lock()

    @staticmethod
    def wipe(path: str | Path) -> None:
        """Remove an index directory entirely (a rebuild after a schema or analyzer change)."""
        shutil.rmtree(path, ignore_errors=True)

    # -- writing ------------------------------------------------------------------------------------

    def _writer_handle(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=WRITER_HEAP_BYTES, num_threads=WRITER_THREADS)
        return self._writer

    def add(self, passages: Sequence[StoredPassage], articles: dict[str, Article]) -> None:
        """Analyze and add passages (uncommitted). The indexer uses `add_prepared` with analysis
        done in worker processes; this is the simple path for small additions."""
        by_article: dict[str, list[StoredPassage]] = {}
        for passage in passages:
            by_article.setdefault(passage.article_id, []).append(passage)
        for article_id, group in by_article.items():
            self.add_prepared(prepare_docs(articles[article_id], group))

    def add_prepared(self, docs: Iterable[KeywordDoc]) -> None:
        writer = self._writer_handle()
        self._uncommitted = True
        for doc in docs:
            writer.add_document(
                tantivy.Document(
                    passage_id=doc.passage_id,
                    article_id=doc.article_id,
                    source=doc.source,
                    # The title's terms join the passage's in the one scored field: a headline word adds to
                    # the term's frequency and the field's length there, instead of a score of its own on a
                    # short field that outweighed the passage (README "Quality": chosen on ../shared data).
                    published=doc.published,
                    text=f"{doc.title} {doc.text}" if doc.title else doc.text,
                    text_exact=doc.text_exact,
                    title=doc.title,
                    title_exact=doc.title_exact,
                )
            )

    def delete_articles(self, article_ids: Iterable[str]) -> None:
        """Delete every passage of the articles (uncommitted). Deletes apply to documents added
        before them, so delete-then-add of one article in one commit replaces it."""
        writer = self._writer_handle()
        self._uncommitted = True
        for article_id in article_ids:
            writer.delete_documents_by_term("article_id", article_id)

    def delete_all(self) -> None:
        self._writer_handle().delete_all_documents()
        self._uncommitted = True

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit()
            self._uncommitted = False
            self._index.reload()

    def rollback(self) -> None:
        if self._writer is not None:
            self._writer.rollback()
            self._uncommitted = False

    # -- reading ------------------------------------------------------------------------------------

    def reload(self) -> None:
        self._index.reload()

    def count(self) -> int:
        return int(self._index.searcher().num_docs)

    def search(self, query: KeywordQuery, limit: int) -> KeywordResult:
        """Top passages by BM25 (Lucene scale) or, with sort="date", newest first (scores still BM25).

        A query with neither terms nor phrases matches every passage its filters allow, with score 0.
        Raises ValueError for an unreadable date filter.
        """
        matcher = self._matcher(query)
        filters = self._filters(query)
        searcher = self._index.searcher()
        full = self._combine(matcher, filters)
        if limit <= 0:
            # tantivy 0.27's top-docs collector panics on a limit of 0: collect one and keep the count.
            return KeywordResult([], int(searcher.search(full, 1, count=True).count or 0))  # type: ignore[attr-defined]
        if query.sort == "date":
            result = searcher.search(
                full, limit, count=True, order_by_field="published", order=tantivy.Order.Desc
            )
            ids = self._passage_ids(searcher, [address for _, address in result.hits])
            scores = self._scores_of(searcher, matcher, ids)
            hits = [Hit(pid, scores.get(pid, 0.0)) for pid in ids]
        else:
            result = searcher.search(full, limit, count=True)
            ids = self._passage_ids(searcher, [address for _, address in result.hits])
            scored = matcher is not None
            hits = [
                Hit(pid, float(score) * LUCENE_SCALE if scored else 0.0)
                for pid, (score, _) in zip(ids, result.hits, strict=True)
            ]
        return KeywordResult(hits, int(result.count or 0))  # type: ignore[attr-defined]

    def _matcher(self, query: KeywordQuery) -> tantivy.Query | None:
        """The scoring part: phrases must match (exact text or exact title), terms should.

        A passage scores the sum over distinct terms of count * (BM25 in its title + passage field +
        title_weight * BM25 in its article's title alone); each field has its own length normalisation.
        """
        schema = self.schema
        clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for phrase in query.phrases:
            words: list[str | tuple[int, str]] = [w for w in phrase if w]
            if not words:
                continue
            if len(words) == 1:
                options = [
                    tantivy.Query.term_query(schema, f, words[0]) for f in ("text_exact", "title_exact")
                ]
            else:
                options = [
                    tantivy.Query.phrase_query(schema, f, words) for f in ("text_exact", "title_exact")
                ]
            clauses.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.boolean_query([(tantivy.Occur.Should, option) for option in options]),
                )
            )
        for term, count in Counter(query.terms).items():
            # A repeated word weighs as many times as it occurs (Lucene sums duplicate clauses the same way);
            # the title's score is scaled by title_weight, 0 keeping title-only matches at score 0.
            # The title is in `text` already, so with weight 0 its own field need not be searched at all.
            fields = (("text", float(count)), ("title", count * query.title_weight))
            for field_name, weight in fields if query.title_weight else fields[:1]:
                clause = tantivy.Query.term_query(schema, field_name, term)
                if weight != 1.0:
                    clause = tantivy.Query.boost_query(clause, weight)
                clauses.append((tantivy.Occur.Should, clause))
        if not clauses:
            return None
        return tantivy.Query.boolean_query(clauses)

    def _filters(self, query: KeywordQuery) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Non-scoring clauses: excluded terms, sources, date range."""
        schema = self.schema
        filters: list[tuple[tantivy.Occur, tantivy.Query]] = []
        for term in dict.fromkeys(query.excluded):
            for field_name in ("text", "title"):
                filters.append((tantivy.Occur.MustNot, tantivy.Query.term_query(schema, field_name, term)))
        if query.sources:
            filters.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(
                        tantivy.Query.term_set_query(schema, "source", list(query.sources)), 0.0
                    ),
                )
            )
        bounds = query_bounds(query.date_from, query.date_to)
        if bounds:
            filters.append(
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(
                        tantivy.Query.range_query(
                            schema, "published", tantivy.FieldType.Integer, bounds[0], bounds[1]
                        ),
                        0.0,
                    ),
                )
            )
        return filters

    @staticmethod
    def _combine(
        matcher: tantivy.Query | None, filters: list[tuple[tantivy.Occur, tantivy.Query]]
    ) -> tantivy.Query:
        base = (
            matcher
            if matcher is not None
            else tantivy.Query.const_score_query(tantivy.Query.all_query(), 0.0)
        )
        if not filters:
            return base
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, base), *filters])

    def _scores_of(
        self, searcher: tantivy.Searcher, matcher: tantivy.Query | None, ids: list[int]
    ) -> dict[int, float]:
        """BM25 scores of the given passages for the matcher (used when results are sorted by date)."""
        if matcher is None or not ids:
            return {}
        restricted = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, matcher),
                (
                    tantivy.Occur.Must,
                    tantivy.Query.const_score_query(
                        tantivy.Query.term_set_query(self.schema, "passage_id", ids), 0.0
                    ),
                ),
            ]
        )
        result = searcher.search(restricted, len(ids), count=False)
        found = self._passage_ids(searcher, [address for _, address in result.hits])
        return {pid: float(score) * LUCENE_SCALE for pid, (score, _) in zip(found, result.hits, strict=True)}

    @staticmethod
    def _passage_ids(searcher: tantivy.Searcher, addresses: list[Any]) -> list[int]:
        if not addresses:
            return []
        # Every document has a passage_id, so no value is None.
        return [int(v) for v in searcher.fast_field_values("passage_id", addresses)]  # type: ignore[arg-type]

    def close(self) -> None:
        """Drop the writer once its background merges have ended: uncommitted work is discarded (it is
        re-derived from SQLite next run), committed work stays.

        Why wait: a commit starts merges on tantivy's own threads, and a merge still running when its
        writer is dropped can end after the next writer of the directory has committed. Then meta.json
        lists a merged segment built from the segments as they were before that commit's deletes, and a
        replaced article's old passages come back (keyword documents outnumber passages), or it lists a
        file a later clean-up removed. The write API opens a writer per batch, so a next writer comes at
        once; tests/test_stores_tantivy.py repeats that cycle."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is None:
                return
            if self._uncommitted:
                # rollback drops the unwritten segment in memory; wait_merging_threads alone would first
                # write it to disk (slow, and it needs room a full disk does not have).
                writer.rollback()
                self._uncommitted = False
            try:
                writer.wait_merging_threads()  # consumes the writer
            except ValueError:
                pass  # a merge that failed (a full disk) leaves the segments it read as they were
