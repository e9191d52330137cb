"""The embedding phase: every passage without a vector embedded in checkpointed batches, the one writer
of embeddings (`isnad index`, and the evaluation's indexes)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from indexer.pipeline.report import IndexReport
from indexer.stores.base import Stores, require_ledger
from indexer.stores.faiss_index import sync_vectors

MANIFEST_SECONDS = 5.0  # how often the embedding phase tells readers about new vectors
VECTOR_SAVE_SECONDS = 300.0  # FAISS file checkpoints; vectors are safe in SQLite in between


def write_embeddings(stores: Stores, batch: Sequence[tuple[int, str]]) -> np.ndarray:
    """Embed (passage id, text) pairs and commit them, to the ledger first and then the vector index: the
    one writer of embeddings. Returns the passage ids."""
    ids = np.array([pid for pid, _ in batch], dtype=np.int64)
    vectors = stores.embedder.embed_passages([text for _, text in batch])
    require_ledger(stores).put_embeddings(ids.tolist(), vectors)
    stores.vectors.add(ids, vectors)
    return ids


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
        raise ValueError(
            f"embedder {embedder.name} gives {embedder.dim} dimensions, the vector index "
            f"holds {stores.vectors.dim}; re-embed with --reembed"
        )
    bar = tqdm(total=total, desc="embedding", unit=" passages", disable=not progress, dynamic_ncols=True)
    last_manifest = last_save = time.monotonic()
    after: int | None = None
    failed = False
    try:
        while True:
            batch = require_ledger(stores).passages_to_embed(batch_size, after)
            if not batch:
                break
            ids = write_embeddings(stores, batch)
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
