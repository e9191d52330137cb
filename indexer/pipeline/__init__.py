"""The indexing pipeline: files -> articles -> passages -> document store + keyword index -> vectors.

Two phases. The keyword phase reads articles, skips those whose content hash is unchanged, splits
and analyzes the rest in a pool of worker processes (analysis is pure Python and the slow step),
and writes each batch to SQLite in one transaction, then to tantivy, which commits every few
seconds: keyword search works as soon as that commit lands. The vector phase then embeds every
passage without a vector, one checkpointed batch (`embedder.batch_size`) at a time.

Crash safety rests on SQLite being written first and marking what the derived indexes still
lack: an article stays `keyword_state = 0` until a tantivy commit holds it, and a passage is
embedded once its vector row is committed. Re-running after Ctrl-C or kill -9 re-derives exactly
what is marked missing (`keyword_phase`, `sync_vectors`), so nothing is lost or duplicated.

The package reads by phase: `workers` (the reading process and the analysis pool), `analysis` (the pure
work those processes do), `keyword_phase`, `embedding_phase`, `maintenance` (delete, dry run) and `run`,
which takes one `isnad index` run through them. What other packages use is imported here.
"""

from __future__ import annotations

from indexer.pipeline.analysis import analyze_articles, content_hash, expand, prepare_keyword
from indexer.pipeline.embedding_phase import embed_pending, write_embeddings
from indexer.pipeline.keyword_phase import store_batch
from indexer.pipeline.maintenance import DryRunArticle, delete_articles, dry_run
from indexer.pipeline.report import IndexReport
from indexer.pipeline.run import index_paths

__all__ = [
    "DryRunArticle",
    "IndexReport",
    "analyze_articles",
    "content_hash",
    "delete_articles",
    "dry_run",
    "embed_pending",
    "expand",
    "index_paths",
    "prepare_keyword",
    "store_batch",
    "write_embeddings",
]
