"""One `isnad index` run: the keyword phase, then the embedding phase, recorded in the ledger's run log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from indexer.grouping.run import Grouping
from indexer.ingest import files
from indexer.models import Article, IngestSummary, Problem
from indexer.pipeline.embedding_phase import embed_pending
from indexer.pipeline.keyword_phase import CATCH_UP_POOL_ABOVE, ArticleOutcome, keyword_backlog, keyword_phase
from indexer.pipeline.report import IndexReport
from indexer.pipeline.workers import (
    BACKGROUND_READ_BYTES,
    BackgroundReader,
    Workers,
    input_bytes,
    worker_count,
)
from indexer.stores import open_stores
from indexer.stores.base import Stores, require_ledger
from indexer.stores.diskfull import DiskFullError, SpaceReserve, disk_full_message, is_disk_full


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

    pool = Workers(worker_count(workers))
    reader = None
    walked = list(files.expand(paths))  # the one walk of the inputs: sizes, estimates and reading use it
    large = bool(walked) and input_bytes(walked) > BACKGROUND_READ_BYTES
    if large or keyword_backlog(settings) > CATCH_UP_POOL_ABOVE:
        pool.start()  # before the stores open: see process_context
    if large:
        reader = BackgroundReader(walked)
    data_dir = Path(settings["data.dir"])
    stores: Stores | None = None
    grouping: Grouping | None = None
    run_id: int | None = None
    status = "failed"
    failing: BaseException | None = None
    reserve = SpaceReserve(data_dir)
    try:
        stores = open_stores(settings, writable=True, reembed=reembed)
        report.messages += stores.messages
        reserve.hold()
        run_id = require_ledger(stores).log_start([str(p) for p in paths] + list(sources))
        grouping = Grouping(settings)
        keyword_phase(
            paths,
            walked,
            settings,
            stores,
            pool,
            reader,
            report,
            summary,
            problem,
            progress,
            grouping,
            articles,
            on_article,
        )
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
            raise DiskFullError(
                disk_full_message(data_dir, _written_by(error), input_bytes(walked), vectors=embed)
            ) from error
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
            _finish_run(stores, run_id, status, report, failing, reserve)
        reserve.release()
    return report


def _finish_run(
    stores: Stores,
    run_id: int | None,
    status: str,
    report: IndexReport,
    failing: BaseException | None,
    reserve: SpaceReserve,
) -> None:
    """Record how the run ended and close the stores. After a failure (a full disk) these may fail
    again; the first error is the one to report, so later ones are dropped, and a log row left
    "running" shows as interrupted once the process is gone."""
    try:
        report.pending_vectors = stores.docs.count_passages() - stores.docs.count_embeddings()
        if run_id is not None:
            try:
                require_ledger(stores).log_finish(run_id, status, _summary_json(report))
            except Exception as error:
                if not is_disk_full(error, reserve.path.parent):
                    raise
                reserve.release()  # the space held back for exactly this
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
    grouping.complete(stores, with_stories=with_stories)
    report.stories_assigned = grouping.assigned_stories
    report.stories_seconds = time.monotonic() - started
