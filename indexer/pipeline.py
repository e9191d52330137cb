"""The indexing pipeline: files -> articles -> passages -> document store + keyword index -> vectors.

Two phases. The keyword phase reads articles, skips those whose content hash is unchanged, splits
and analyzes the rest in a pool of worker processes (analysis is pure Python and the slow step),
and writes each batch to SQLite in one transaction, then to tantivy, which commits every few
seconds: keyword search works as soon as that commit lands. The vector phase then embeds every
passage without a vector, one checkpointed batch (`embedder.batch_size`) at a time.

Crash safety rests on SQLite being written first and marking what the derived indexes still
lack: an article stays `keyword_state = 0` until a tantivy commit holds it, and a passage is
embedded once its vector row is committed. Re-running after Ctrl-C or kill -9 re-derives exactly
what is marked missing (`_catch_up_keyword`, `sync_vectors`), so nothing is lost or duplicated.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import signal
import sqlite3
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from indexer.grouping.run import Grouping, fingerprint_docs
from indexer.ingest import iter_articles
from indexer.models import Article, IngestSummary, Problem
from indexer.passages import split_passages
from indexer.stores import open_stores
from indexer.stores.base import StoredPassage, Stores, require_ledger
from indexer.stores.dates import to_epoch
from indexer.stores.diskfull import DiskFullError, disk_full_message, is_disk_full
from indexer.stores.faiss_index import sync_vectors
from indexer.stores.tantivy_index import KeywordDoc, prepare_docs

HASH_VERSION = 1  # bump when what goes into content_hash changes
ANALYSIS_BATCH = 64  # articles per worker task: big enough to amortise pickling, small for a smooth bar
IN_FLIGHT_PER_WORKER = 8  # tasks queued per worker: keeps them busy through a tantivy commit
KEYWORD_COMMIT_SECONDS = 10.0  # tantivy commit interval: how soon new text becomes searchable
MANIFEST_SECONDS = 5.0  # how often the embedding phase tells readers about new vectors
VECTOR_SAVE_SECONDS = 300.0  # FAISS file checkpoints; vectors are safe in SQLite in between
BACKGROUND_READ_BYTES = 4_000_000  # inputs larger than this are read (and cleaned) in their own process
READ_BATCH = 64  # articles per message from the reading process
CATCH_UP_POOL_ABOVE = 2_000  # articles to re-index from the store before it is worth starting workers

# Told, for each article handed to `index_paths(articles=...)` or read from its paths, what became of it
# once SQLite holds it: "new", "replaced" (other content before) or "unchanged". Problems go to on_problem.
ArticleOutcome = Callable[[Article, str], None]

# What a worker sends back per article, as plain tuples (cheap to pickle): each passage's
# (id, start, end) in the body, the analyzed title (stemmed, exact), each passage's analyzed text, and
# the article's grouping fingerprint (indexer.grouping).
Analyzed = tuple[list[tuple[int, int, int]], tuple[str, str], list[tuple[str, str]], Any]


@dataclass(slots=True)
class IndexReport:
    """What one run did, for the summary line and `--json` output."""

    read: int = 0
    indexed: int = 0  # new or changed articles written
    replaced: int = 0  # of those, articles that were already indexed with other content
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    noted: dict[str, int] = field(default_factory=dict)  # input used with a note (encoding guessed, bytes replaced)
    problems: int = 0
    passages: int = 0  # passages written this run
    keyword_caught_up: int = 0  # articles re-indexed from the document store (interrupted runs)
    embedded: int = 0
    pending_vectors: int = 0
    keyword_seconds: float = 0.0
    embed_seconds: float = 0.0
    grouping_seconds: float = 0.0  # copy groups, inside the keyword phase (README "Stories")
    stories_seconds: float = 0.0  # stories, after the vectors
    stories_assigned: int = 0
    interrupted: bool = False
    messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_hash(article: Article, min_words: int, max_words: int) -> str:
    """Fingerprint of everything that decides an article's stored form (not where it was read)."""
    digest = hashlib.blake2b(digest_size=16)
    for value in (article.title, article.text, article.source, article.published, article.url,
                  article.author, article.category):
        digest.update((value or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    digest.update(f"{min_words}:{max_words}:{HASH_VERSION}".encode())
    return digest.hexdigest()


def analyze_articles(items: Sequence[tuple[Article, str]], min_words: int,
                     max_words: int) -> list[Analyzed | str]:
    """Split and analyze articles (runs in worker processes). Pure. An article that cannot be
    processed (e.g. text with unencodable characters) yields the reason instead, so one bad
    article never stops a run."""
    analyzed: list[Analyzed | str] = []
    for article, _ in items:
        try:
            passages = [StoredPassage.of(p) for p in split_passages(article, min_words, max_words)]
            docs = prepare_docs(article, passages)
        except (UnicodeError, ValueError) as error:
            analyzed.append(f"{type(error).__name__}: {error}")
            continue
        title = (docs[0].title, docs[0].title_exact) if docs else ("", "")
        analyzed.append(([(p.id, p.start, p.end) for p in passages], title,
                         [(d.text, d.text_exact) for d in docs], fingerprint_docs(docs)))
    return analyzed


def expand(article: Article, analyzed: Analyzed) -> tuple[list[StoredPassage], list[KeywordDoc]]:
    """The stored passages and keyword documents of an article from a worker's compact answer."""
    spans, (title, title_exact), texts, _ = analyzed
    passages = [StoredPassage(pid, article.id, ordinal, article.text[start:end], start, end)
                for ordinal, (pid, start, end) in enumerate(spans)]
    source, published = article.source or "", to_epoch(article.published)
    docs = [KeywordDoc(p.id, article.id, source, published, text, text_exact, title, title_exact)
            for p, (text, text_exact) in zip(passages, texts, strict=True)]
    return passages, docs


def prepare_keyword(items: Sequence[tuple[Article, list[StoredPassage]]]) -> list[list[KeywordDoc]]:
    """Keyword documents for articles already in the document store (runs in worker processes)."""
    return [prepare_docs(article, passages) for article, passages in items]


def _ignore_sigint() -> None:
    # Ctrl-C is handled by the main process, which commits what is done and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _process_context() -> Any:
    """Worker processes are forked, before the stores open: forking is fast and works whatever the
    caller's __main__ is (spawn re-imports it, which fails for `python - < script`), and at that
    point no thread that could hold a lock exists yet (tantivy's writer threads start later)."""
    return multiprocessing.get_context("fork")


class _Workers:
    """Order-preserving, bounded parallel map over worker processes, or inline when not started.

    The indexer starts the pool only for large inputs or a large catch-up, so small inputs (tests,
    a few files) pay no start-up cost.
    """

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self._pool: Any = None

    def start(self) -> None:
        if self.workers > 1 and self._pool is None:
            self._pool = _process_context().Pool(self.workers, initializer=_ignore_sigint)

    def map(self, function: Callable[..., Any], tasks: Iterable[tuple]) -> Iterator[tuple[tuple, Any]]:
        """(task arguments, result) pairs in task order."""
        pending: deque = deque()
        first = True
        for args in tasks:
            if self._pool is None or first:
                first = False
                yield args, function(*args)
                continue
            pending.append((args, self._pool.apply_async(function, args)))
            if len(pending) >= self.workers * IN_FLIGHT_PER_WORKER:
                done_args, result = pending.popleft()
                yield done_args, result.get()
        while pending:
            done_args, result = pending.popleft()
            yield done_args, result.get()

    def close(self, *, terminate: bool = False) -> None:
        if self._pool is not None:
            if terminate:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None


def _read_worker(paths: list[str], out: Any, parent: int) -> None:
    """Body of the reading process: articles in batches, problems as they come, then the counts.

    Exits by itself when the indexer dies (kill -9 leaves no orphan blocked on a full queue).
    """
    _ignore_sigint()

    def send(message: tuple) -> None:
        while True:
            try:
                out.put(message, timeout=1.0)
                return
            except queue.Full:
                if os.getppid() != parent:
                    os._exit(1)

    summary = IngestSummary()
    try:
        batch: list[Article] = []
        for article in iter_articles(paths, summary, lambda problem: send(("problem", problem))):
            batch.append(article)
            if len(batch) >= READ_BATCH:
                send(("articles", batch))
                batch = []
        if batch:
            send(("articles", batch))
        send(("done", summary))
    except Exception as error:  # noqa: BLE001 - any failure goes to the parent, which raises it
        send(("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))


class BackgroundReader:
    """iter_articles in a separate process, started at once, so reading and cleaning overlap with
    analysis and writing. Iterating yields the articles in the same order as iter_articles."""

    def __init__(self, paths: Sequence[str]):
        context = _process_context()
        self.messages = context.Queue(maxsize=32)  # bounded: reading never runs far ahead of writing
        self.process = context.Process(target=_read_worker, daemon=True,
                                       args=([str(p) for p in paths], self.messages, os.getpid()))
        self.process.start()

    def articles(self, summary: IngestSummary, problem: Callable[[Problem], None]) -> Iterator[Article]:
        return _drain(self.process, self.messages, summary, problem)

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()


def _drain(reader: Any, messages: Any, summary: IngestSummary,
           problem: Callable[[Problem], None]) -> Iterator[Article]:
    try:
        while True:
            try:
                kind, payload = messages.get(timeout=1.0)
            except queue.Empty:
                if not reader.is_alive():
                    raise RuntimeError(f"the reading process stopped unexpectedly (exit code {reader.exitcode})")
                continue
            if kind == "articles":
                yield from payload
            elif kind == "problem":
                problem(payload)
            elif kind == "done":
                summary.read += payload.read
                for reason, count in payload.skipped.items():
                    summary.skipped[reason] = summary.skipped.get(reason, 0) + count
                for reason, count in payload.noted.items():
                    summary.noted[reason] = summary.noted.get(reason, 0) + count
                return
            else:
                raise RuntimeError(f"reading failed: {payload}")
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


def estimate_articles(paths: Sequence[str]) -> int:
    """About how many articles the inputs hold, for progress bars: the lines of JSON-lines files
    (one article each), one per other file (a scraped page may hold a few)."""
    from indexer.ingest import files

    total = 0
    for path, kind, missing in files.expand(paths):
        if missing or kind is None:
            continue
        if kind != "jsonl":
            total += 1
            continue
        try:
            with files.open_binary(path) as handle:
                while chunk := handle.read(1 << 20):
                    total += chunk.count(b"\n")
        except files.READ_ERRORS:
            total += 1
    return total


def _keyword_backlog(settings: dict[str, Any]) -> int:
    """Articles an earlier run left out of the keyword index, read without opening the stores."""
    from indexer.stores.data_dir import DOCUMENTS_FILE

    database = Path(settings["data.dir"]) / DOCUMENTS_FILE
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM articles WHERE keyword_state = 0").fetchone()[0])
    except sqlite3.Error:  # an older or damaged file: opening the stores reports it properly
        return 0


def _input_bytes(paths: Sequence[str]) -> int:
    """Bytes of the files the readers will open (the same walk as theirs: broken links are theirs to report)."""
    from indexer.ingest import files

    total = 0
    for path, kind, missing in files.expand(paths):
        if missing or kind is None:
            continue
        try:
            total += path.stat().st_size
        except OSError:  # gone since the walk: the reader reports it
            pass
    return total


def read_articles(paths: Sequence[str], summary: IngestSummary, problem: Callable[[Problem], None],
                  reader: BackgroundReader | None = None) -> Iterator[Article]:
    """Articles from `paths`: from the background reader when one was started for them."""
    if reader is not None:
        return reader.articles(summary, problem)
    return iter_articles(paths, summary, problem)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _workers(requested: int) -> int:
    return requested if requested > 0 else (os.cpu_count() or 1)


class _KeywordWriter:
    """Writes prepared articles to SQLite (one transaction per batch) and tantivy (periodic commits),
    marking articles done in SQLite only after the tantivy commit that holds them."""

    def __init__(self, stores: Stores, bar: tqdm):
        self.stores = stores
        self.bar = bar
        self._marks: list[tuple[str, str]] = []
        self._last_commit = time.monotonic()

    def add(self, article_id: str, digest: str, docs: list[KeywordDoc], *, replace: bool) -> None:
        if replace:
            self.stores.keyword.delete_articles([article_id])
        self.stores.keyword.add_prepared(docs)
        self._marks.append((article_id, digest))
        self.bar.update(1)
        if time.monotonic() - self._last_commit >= KEYWORD_COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        stores = self.stores
        deletes = require_ledger(stores).pending_keyword_deletes()
        stores.keyword.delete_articles(deletes)
        stores.keyword.commit()
        require_ledger(stores).mark_keyword_done(self._marks)
        require_ledger(stores).clear_keyword_deletes(deletes)
        self._marks = []
        self._last_commit = time.monotonic()
        stores.write_manifest()


def _catch_up_keyword(stores: Stores, writer: _KeywordWriter, workers: _Workers, report: IndexReport) -> None:
    """Index articles the document store holds but the keyword index lacks (an interrupted run,
    an analyzer change), and apply pending deletions."""
    pending = require_ledger(stores).keyword_pending_ids()
    digests: dict[str, str] = {}

    def tasks() -> Iterator[tuple]:
        for chunk in _batched(pending, ANALYSIS_BATCH):
            items = require_ledger(stores).load_for_keyword(chunk)
            digests.update((article.id, digest) for article, digest, _ in items)
            yield ([(article, passages) for article, _, passages in items],)

    for (items,), docs_per_article in workers.map(prepare_keyword, tasks()):
        for (article, _), docs in zip(items, docs_per_article, strict=True):
            writer.add(article.id, digests.pop(article.id), docs, replace=True)
            report.keyword_caught_up += 1
    writer.commit()


def _new_articles(articles: Iterable[Article], stores: Stores, report: IndexReport, settings: dict[str, Any],
                  replaced_ids: set[str], bar: tqdm, on_article: ArticleOutcome | None = None) -> Iterator[tuple]:
    """Worker tasks for articles that are new or changed; unchanged ones are counted and dropped."""
    min_words, max_words = settings["passages.min_words"], settings["passages.max_words"]
    for batch in _batched(articles, ANALYSIS_BATCH):
        known = stores.docs.article_hashes(a.id for a in batch)
        todo = []
        for article in batch:
            digest = content_hash(article, min_words, max_words)
            old = known.get(article.id)
            if old == digest:
                report.unchanged += 1
                if on_article is not None:
                    on_article(article, "unchanged")
                bar.update(1)  # done too: the bar's total counts every article read
                continue
            if old is not None:
                replaced_ids.add(article.id)
            todo.append((article, digest))
        if todo:
            yield (todo, min_words, max_words)


def index_paths(
    paths: Sequence[str],
    settings: dict[str, Any],
    *,
    embed: bool = True,
    reembed: bool = False,
    progress: bool = True,
    on_problem: Callable[[Problem], None] | None = None,
    workers: int = 0,
    report: IndexReport | None = None,
    articles: Iterable[Article] = (),
    sources: Sequence[str] = (),
    on_article: ArticleOutcome | None = None,
) -> IndexReport:
    """Index files and directories into `settings["data.dir"]`; with no paths, only finish pending
    work (keyword catch-up, embeddings). Re-running after an interruption continues where it stopped.

    Raises KeyboardInterrupt after committing what was done when interrupted; pass `report` to
    keep the counts of an interrupted run. `articles` made elsewhere (feed items) follow those read
    from `paths`, through the same phases; `sources` names them in the run log, and `on_article`
    hears what became of each article once it is committed.
    """
    report = report if report is not None else IndexReport()
    summary = IngestSummary()

    def problem(item: Problem) -> None:
        report.problems += item.skipped  # notes about input used anyway are printed, not counted
        if on_problem is not None:
            on_problem(item)

    pool = _Workers(_workers(workers))
    reader = None
    large = bool(paths) and _input_bytes(paths) > BACKGROUND_READ_BYTES
    if large or _keyword_backlog(settings) > CATCH_UP_POOL_ABOVE:
        pool.start()  # before the stores open: see _process_context
    if large:
        reader = BackgroundReader(paths)
    data_dir = Path(settings["data.dir"])
    stores: Stores | None = None
    grouping: Grouping | None = None
    run_id: int | None = None
    status = "failed"
    failing: BaseException | None = None
    try:
        stores = open_stores(settings, writable=True, reembed=reembed)
        report.messages += stores.messages
        run_id = require_ledger(stores).log_start([str(p) for p in paths] + list(sources))
        grouping = Grouping(settings)
        _keyword_phase(paths, settings, stores, pool, reader, report, summary, problem, progress, grouping,
                       articles, on_article)
        pool.close()
        if embed:
            embed_pending(stores, settings["embedder.batch_size"], report, progress=progress)
        _finish_grouping(grouping, stores, report, with_stories=embed)
        status = "done"
    except KeyboardInterrupt:
        report.interrupted = True
        status = "interrupted"
        raise
    except Exception as error:
        failing = error
        if is_disk_full(error, data_dir):
            # One message for the whole run, not one per article; what was committed stays.
            raise DiskFullError(disk_full_message(data_dir, _written_by(error), _input_bytes(paths),
                                                  vectors=embed)) from error
        raise
    finally:
        pool.close(terminate=True)
        if reader is not None:
            reader.close()
        if grouping is not None:
            grouping.close()
        report.read = summary.read
        report.skipped = dict(summary.skipped)
        report.noted = dict(summary.noted)
        if stores is not None:
            _finish_run(stores, run_id, status, report, failing)
    return report


def _finish_run(stores: Stores, run_id: int | None, status: str, report: IndexReport,
                failing: BaseException | None) -> None:
    """Record how the run ended and close the stores. After a failure (a full disk) these may fail
    again; the first error is the one to report, so later ones are dropped, and a log row left
    "running" shows as interrupted once the process is gone."""
    try:
        report.pending_vectors = stores.docs.count_passages() - stores.docs.count_embeddings()
        if run_id is not None:
            require_ledger(stores).log_finish(run_id, status, _summary_json(report))
    except Exception:
        if failing is None:
            raise
    finally:
        try:
            stores.close()
        except Exception:
            if failing is None:
                raise


def _written_by(error: BaseException) -> str:
    """Which store a write error came from, in the words of the data directory's layout."""
    from indexer.stores.data_dir import DOCUMENTS_FILE, KEYWORD_DIR, VECTORS_FILE

    filename = getattr(error, "filename", None)
    if filename:
        return str(filename)
    if isinstance(error, sqlite3.Error):
        return f"the document store ({DOCUMENTS_FILE})"
    if "faiss" in str(error).lower() or "write error" in str(error).lower():
        return f"the vector index ({VECTORS_FILE})"
    return f"the keyword index ({KEYWORD_DIR}/)"


def _summary_json(report: IndexReport) -> str:
    import json

    return json.dumps(report.as_dict(), ensure_ascii=False)


def _finish_grouping(grouping: Grouping, stores: Stores, report: IndexReport, *, with_stories: bool) -> None:
    """Group what an older index holds ungrouped, then stories (they need the vectors)."""
    started = time.monotonic()
    if grouping.store.count() < stores.docs.count_articles():
        grouping.backfill(require_ledger(stores))
    grouping.finish(stores, with_stories=with_stories)
    report.stories_assigned = grouping.assigned_stories
    report.stories_seconds = time.monotonic() - started


def _keyword_phase(paths: Sequence[str], settings: dict[str, Any], stores: Stores, pool: _Workers,
                   reader: BackgroundReader | None, report: IndexReport, summary: IngestSummary, problem: Callable[[Problem], None],
                   progress: bool, grouping: Grouping, extra: Iterable[Article] = (),
                   on_article: ArticleOutcome | None = None) -> None:
    started = time.monotonic()
    # An estimate of the articles to come gives the bars an ETA (JSON lines: one per line).
    expected = estimate_articles(paths) if progress and paths else None
    reading = tqdm(desc="reading", unit=" articles", total=expected, disable=not progress, position=0,
                   dynamic_ncols=True)
    indexing = tqdm(desc="keyword index", unit=" articles", total=expected, disable=not progress, position=1,
                    dynamic_ncols=True)
    writer = _KeywordWriter(stores, indexing)
    failed = False
    read_so_far = [0]  # articles the readers handed over (the bars count nothing when disabled)
    try:
        _catch_up_keyword(stores, writer, pool, report)

        def counted(articles: Iterator[Article]) -> Iterator[Article]:
            for article in articles:
                reading.update(1)
                read_so_far[0] += 1
                yield article

        replaced_ids: set[str] = set()
        read = read_articles(paths, summary, problem, reader) if paths else iter(())
        articles = counted(chain(read, extra))
        tasks = _new_articles(articles, stores, report, settings, replaced_ids, indexing, on_article)
        for (items, _, _), analyzed in pool.map(analyze_articles, tasks):
            prepared = []
            prints: dict[str, Any] = {}
            for (article, digest), result in zip(items, analyzed, strict=True):
                if isinstance(result, str):
                    problem(Problem(article.origin, "cannot be indexed", result))
                    summary.skip("cannot be indexed")
                else:
                    prepared.append((article, digest, *expand(article, result)))
                    prints[article.id] = result[3]
            for article, _, passages, _ in prepared:
                if not passages:
                    problem(Problem(article.origin, "no passages", "the text has no words"))
                    summary.skip("no passages")
            stored = _store(stores, [item for item in prepared if item[2]], problem, summary)
            grouping_started = time.monotonic()
            grouped = [(a, passages, prints[a.id]) for a, _, passages, _ in prepared if passages and a.id in stored]
            grouping.add(grouped, [a.id for a, _, _ in grouped if a.id in replaced_ids])
            report.grouping_seconds += time.monotonic() - grouping_started
            for article, digest, passages, docs in prepared:
                if passages and article.id in stored:
                    writer.add(article.id, digest, docs, replace=article.id in replaced_ids)
                    report.indexed += 1
                    report.passages += len(passages)
                    report.replaced += article.id in replaced_ids
                    if on_article is not None:
                        on_article(article, "replaced" if article.id in replaced_ids else "new")
    except Exception:
        # A write failed (a full disk): committing again would most likely fail too and hide the first
        # error; what SQLite holds is re-indexed from it by the next run.
        failed = True
        raise
    finally:
        if not failed:
            # Also on Ctrl-C: what SQLite holds goes to the keyword index now rather than next run.
            writer.commit()
            grouping_started = time.monotonic()
            grouping.flush()  # the copy groups of what was stored (indexer.grouping.run.Grouping.add)
            report.grouping_seconds += time.monotonic() - grouping_started
        summary.indexed = report.indexed
        # A run stopped early (a full disk, Ctrl-C) before the background reader sent its counts has
        # still read what the bar counted.
        summary.read = max(summary.read, read_so_far[0])
        reading.close()
        indexing.close()
        report.keyword_seconds = time.monotonic() - started


def _store(stores: Stores, prepared: list[tuple[Article, str, list[StoredPassage], list[KeywordDoc]]],
           problem: Callable[[Problem], None], summary: IngestSummary) -> set[str]:
    """Write a batch in one transaction; if the database refuses it (text it cannot encode), write
    article by article so that only the offending ones are skipped, each reported. Returns the ids
    stored."""
    try:
        stores.docs.put_articles([(article, digest, passages) for article, digest, passages, _ in prepared])
        return {article.id for article, _, _, _ in prepared}
    except (sqlite3.Error, UnicodeError, ValueError) as error:
        if is_disk_full(error):
            raise  # no article of the batch is at fault, and none of the next ones would fit either
    stored = set()
    for article, digest, passages, _ in prepared:
        try:
            stores.docs.put_articles([(article, digest, passages)])
            stored.add(article.id)
        except (sqlite3.Error, UnicodeError, ValueError) as error:
            if is_disk_full(error):
                raise
            problem(Problem(article.origin, "cannot be stored", str(error)))
            summary.skip("cannot be stored")
    return stored


def embed_pending(stores: Stores, batch_size: int, report: IndexReport, *, progress: bool = True) -> None:
    """Embed every passage without a vector, committing each batch to SQLite and the FAISS index
    in memory; the FAISS file is saved every few minutes and at the end (or on Ctrl-C)."""
    started = time.monotonic()
    sync_vectors(stores.vectors, require_ledger(stores))
    total = stores.docs.count_passages() - stores.docs.count_embeddings()
    if total <= 0:
        if stores.vectors.needs_rebuild():
            stores.vectors.save()
        stores.write_manifest()
        return
    embedder = stores.embedder
    if embedder.dim != stores.vectors.dim:
        raise ValueError(f"embedder {embedder.name} gives {embedder.dim} dimensions, the vector index "
                         f"holds {stores.vectors.dim}; re-embed with --reembed")
    bar = tqdm(total=total, desc="embedding", unit=" passages", disable=not progress, dynamic_ncols=True)
    last_manifest = last_save = time.monotonic()
    after: int | None = None
    failed = False
    try:
        while True:
            batch = require_ledger(stores).passages_to_embed(batch_size, after)
            if not batch:
                break
            ids = np.array([pid for pid, _ in batch], dtype=np.int64)
            vectors = embedder.embed_passages([text for _, text in batch])
            require_ledger(stores).put_embeddings(ids.tolist(), vectors)
            stores.vectors.add(ids, vectors)
            after = int(ids[-1])
            report.embedded += len(batch)
            bar.update(len(batch))
            now = time.monotonic()
            if now - last_save >= VECTOR_SAVE_SECONDS:
                stores.vectors.save()
                last_save = now
            if now - last_manifest >= MANIFEST_SECONDS:
                stores.write_manifest()  # readers pick the new vectors up from SQLite
                last_manifest = now
    except Exception:
        failed = True  # a write failed (a full disk): the vectors committed to SQLite are kept there
        raise
    finally:
        bar.close()
        report.embed_seconds = time.monotonic() - started
        if not failed:
            stores.vectors.save()
            stores.write_manifest()


def delete_articles(settings: dict[str, Any], article_ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Remove articles from all three stores; returns (deleted ids, ids that were not indexed)."""
    stores = open_stores(settings, writable=True)
    try:
        present = set(stores.docs.article_hashes(article_ids))
        deleted = [a for a in dict.fromkeys(article_ids) if a in present]
        missing = [a for a in dict.fromkeys(article_ids) if a not in present]
        if deleted:
            grouping = Grouping(settings)
            try:
                grouping.forget(deleted)
                grouping.finish(stores, with_stories=False)
            finally:
                grouping.close()
            passage_ids = stores.docs.delete_articles(deleted)
            stores.keyword.delete_articles(require_ledger(stores).pending_keyword_deletes())
            stores.keyword.commit()
            require_ledger(stores).clear_keyword_deletes(deleted)
            stores.vectors.delete(passage_ids)
            stores.vectors.save()
            stores.write_manifest()
        return deleted, missing
    finally:
        stores.close()


@dataclass(slots=True)
class DryRunArticle:
    id: str
    title: str
    source: str | None
    published: str | None
    passages: int
    first_passage: str
    origin: str


def dry_run(paths: Sequence[str], settings: dict[str, Any], summary: IngestSummary,
            on_problem: Callable[[Problem], None]) -> Iterator[DryRunArticle]:
    """Read and split without writing anything: what `index` would store, article by article."""
    min_words, max_words = settings["passages.min_words"], settings["passages.max_words"]
    for article in iter_articles(paths, summary, on_problem):
        passages = split_passages(article, min_words, max_words)
        yield DryRunArticle(article.id, article.title, article.source, article.published, len(passages),
                            passages[0].text if passages else "", article.origin)
