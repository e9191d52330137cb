"""The one settings table: names, defaults, types and help, validated when loaded."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import IsnadError
from indexer.stores.registry import (
    EMBEDDER_BACKENDS,
    EMBEDDER_DEVICES,
    EMBEDDER_PRECISIONS,
    FUSION_METHODS,
    SEARCH_MODES,
    STORE_BACKENDS,
    VECTOR_SCANS,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config" / "isnad.toml"


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    @property
    def type(self) -> type:
        return type(self.default)

    @property
    def env_var(self) -> str:
        return "ISNAD_" + self.name.replace(".", "_").upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("data.dir", "data", "Directory holding the index (SQLite, tantivy, FAISS)."),
    Setting("store.backend", "embedded", "Where articles and the keyword index live.", tuple(STORE_BACKENDS)),
    Setting(
        "elasticsearch.url", "http://localhost:9200", "Engine URL, Elasticsearch or OpenSearch (scale-out)."
    ),
    Setting("elasticsearch.index", "isnad", "Alias under which Isnad's Elasticsearch indices are served."),
    Setting("elasticsearch.api_key", "", "Elasticsearch API key, when security is on."),
    Setting("elasticsearch.username", "", "Elasticsearch user, when security is on."),
    Setting("elasticsearch.password", "", "Elasticsearch password, when security is on."),
    Setting("elasticsearch.shards", 1, "Primary shards of a new Elasticsearch index."),
    Setting("elasticsearch.replicas", 0, "Replicas of each shard (0 on a single node)."),
    Setting("embedder.backend", "onnx", "Embedding backend.", tuple(EMBEDDER_BACKENDS)),
    Setting("embedder.model", "", "Model name or path for sentence-transformers."),
    Setting("embedder.batch_size", 64, "Passages embedded per checkpointed batch."),
    Setting("embedder.threads", 0, "Embedding threads; 0 means all cores."),
    Setting(
        "embedder.precision",
        "fp32",
        'Graph of the onnx backend: fp32, int8, int8-ffn-fp32 or q4 (README "Embedding").',
        EMBEDDER_PRECISIONS,
    ),
    Setting(
        "embedder.query_precision",
        "int8",
        'Graph the onnx backend runs queries on; empty means embedder.precision (README "Embedding").',
        ("", *EMBEDDER_PRECISIONS),
    ),
    Setting(
        "embedder.query_threads",
        1,
        'onnx only: threads for a lone query (one text); 0 means embedder.threads (README "Query latency").',
    ),
    Setting(
        "embedder.device",
        "cpu",
        "Where the onnx backend runs: cpu, or cuda (needs onnxruntime-gpu).",
        EMBEDDER_DEVICES,
    ),
    Setting(
        "embedder.cache_dir",
        "",
        "Folder for the onnx backend's built graph; empty means $XDG_CACHE_HOME/isnad/onnx (~/.cache/isnad/onnx).",
    ),
    Setting("vectors.approximate_above", 200000, "Passage count above which FAISS uses HNSW."),
    Setting("vectors.hnsw_m", 32, "HNSW neighbours per node."),
    Setting(
        "vectors.scan",
        "int8",
        "First pass of a flat FAISS search: a quantized in-memory copy of the vectors (int8, sq8, "
        "sq8_uniform, fp16, bf16) whose candidates are re-scored exactly, or none (the fp32 scan alone).",
        VECTOR_SCANS,
    ),
    Setting(
        "vectors.rescore_factor",
        2.0,
        "Candidates the quantized first pass hands to exact re-scoring, as a multiple of those asked for.",
    ),
    Setting(
        "vectors.scan_above",
        20000,
        "Passage count above which a flat index keeps the quantized copy (below it the fp32 scan is cheap).",
    ),
    Setting("passages.min_words", 40, "Passages are cut to at least roughly this many words."),
    Setting("passages.max_words", 120, "Passages are cut to at most roughly this many words."),
    Setting("search.mode", "hybrid", "Default retrieval mode.", SEARCH_MODES),
    Setting(
        "search.fusion",
        "zscore",
        "How hybrid search fuses its lists: zscore or minmax (a convex combination of scores normalized "
        "within each list, weighted by keyword_weight and semantic_weight) or rrf (reciprocal rank).",
        FUSION_METHODS,
    ),
    Setting("search.rrf_k", 60, "Reciprocal-rank fusion constant k (search.fusion = rrf)."),
    Setting("search.keyword_weight", 1.0, "Weight of the keyword list in fusion."),
    Setting("search.semantic_weight", 1.0, "Weight of the semantic list in fusion."),
    Setting("search.candidates", 200, "Candidate passages fetched from each index."),
    Setting(
        "search.title_weight",
        0.2,
        "Extra weight of the title's own BM25 (terms are scored on title + passage as one field).",
    ),
    Setting(
        "search.article_length_weight",
        0.2,
        "Keyword scores are divided by the article's number of passages to this power (0: passages alone).",
    ),
    Setting(
        "search.semantic_min_score",
        0.78,
        "Dense hits below this cosine similarity are dropped (0 keeps all; calibrated for multilingual-e5).",
    ),
    Setting("search.page_size", 10, "Default results per page."),
    Setting("search.max_page_size", 50, "Largest page a client may ask for."),
    Setting("search.max_query_chars", 500, "Longest accepted query, in characters."),
    Setting(
        "groups.enabled",
        True,
        'Copy groups and stories (README "Stories"); false: none are computed and results never collapse.',
    ),
    Setting(
        "copies.threshold",
        0.8,
        'Estimated Jaccard of word 3-shingles at or above which two articles are one copy (README "Stories").',
    ),
    Setting("stories.window_days", 3.0, "Days apart within which two articles can be one story."),
    Setting("stories.min_similarity", 0.89, "Cosine of the articles' lead vectors needed to join a story."),
    Setting("stories.min_shared_terms", 2, "Rare key terms two articles must share to join a story."),
    Setting(
        "stories.rare_fraction", 0.01, "A key term is rare when at most this share of articles has it ..."
    ),
    Setting("stories.rare_min_df", 4, "... or at most this many articles (small indexes)."),
    Setting("answer.max_sentences", 3, "Sentences in a composed answer."),
    Setting("answer.passages", 8, "Passages read when composing an answer."),
    Setting(
        "answer.abstain_below",
        0.0,
        "Probability below which the answer abstains; 0 means the answer model's calibrated threshold.",
    ),
    Setting(
        "answer.embed_sentences",
        3,
        "At most this many candidate sentences re-scored with their own embedding, as the answer model's "
        "rule picks them (0: passage vectors only).",
    ),
    Setting("server.host", "127.0.0.1", "Address the server listens on."),
    Setting("server.port", 8000, "Port the server listens on."),
    Setting("server.threads", 8, "Worker threads of the WSGI server (in each worker process)."),
    Setting(
        "server.workers",
        1,
        "Serving processes sharing the port, each with server.threads threads and its own memory: more "
        'concurrent searches on a machine with more than one core (README "Performance").',
    ),
    Setting(
        "server.gc_threshold",
        20000,
        "Net allocations between two young garbage collections while serving, startup's objects frozen "
        "out of every collection (0: Python's defaults).",
    ),
    Setting(
        "feeds.urls",
        [],
        "RSS / Atom feeds `isnad watch` follows when given no FEED_URL (in the environment: "
        "separated by spaces).",
    ),
    Setting("feeds.interval", 900, "Seconds between two polls of one feed."),
    Setting("feeds.timeout", 20.0, "Seconds a feed or page request may stall (connect, or between bytes)."),
    Setting("feeds.max_bytes", 10_000_000, "Largest feed or page accepted, in bytes."),
    Setting(
        "feeds.backoff_initial", 300, "Seconds before a failed feed is tried again; doubled per failure."
    ),
    Setting("feeds.backoff_max", 86400, "Longest wait between two tries of a failing feed, in seconds."),
    Setting(
        "feeds.item_attempts", 5, "Polls on which an item whose page fails is tried before it is given up."
    ),
    Setting(
        "feeds.user_agent", "", "User-Agent of feed requests; empty means Isnad/<version> (+isnad watch)."
    ),
    Setting(
        "writes.max_body_bytes",
        32 * 1024 * 1024,
        "Largest body of POST/PUT /api/v1/articles, in bytes (queries keep their own 1 MB limit); over it: 413.",
    ),
    Setting("writes.max_items", 1000, "Most articles in one POST /api/v1/articles batch."),
    Setting(
        "writes.lock_wait_seconds",
        10.0,
        "How long a write waits for the data directory's write lock (`isnad index` running) before a 503.",
    ),
    Setting(
        "auth.reads",
        "open",
        "Whether reading the API needs a key: open, or key (a read or write key).",
        ("open", "key"),
    ),
    Setting(
        "limits.per_key",
        "6000 per minute",
        'Requests allowed per API key (Flask-Limiter syntax, e.g. "10 per second; 600 per minute"); empty: none.',
    ),
    Setting(
        "limits.per_address",
        "1200 per minute",
        "Requests allowed per client address for requests without a key; empty: none.",
    ),
    Setting(
        "limits.storage",
        "memory://",
        "Where the rate-limit counters live (Flask-Limiter storage URI; memory:// is per server process).",
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}

# Short environment names people expect, in addition to ISNAD_<SECTION>_<KEY>.
ENV_ALIASES = {"ISNAD_STORE": "store.backend", "ISNAD_ES_URL": "elasticsearch.url"}


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_BOOLEANS = {word: True for word in _TRUE} | {word: False for word in _FALSE}


class SettingsError(IsnadError, ValueError):
    """A configuration value is unknown or has the wrong type."""


def _coerce(setting: Setting, value: Any, origin: str) -> Any:
    expected = setting.type
    if expected is list:
        # A TOML array of strings, or (from the environment) one string of space-separated items.
        items = value.split() if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise SettingsError(f"{origin}: {setting.name} must be a list of strings, got {value!r}")
        return list(items)
    try:
        if isinstance(value, str) and expected is bool:
            value = _BOOLEANS[value.strip().lower()]  # bool("false") is True: read the word instead
        elif isinstance(value, str) and expected is not str:
            value = expected(value)
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
    except (ValueError, KeyError):
        raise SettingsError(f"{origin}: {setting.name} must be {expected.__name__}, got {value!r}") from None
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise SettingsError(f"{origin}: {setting.name} must be {expected.__name__}, got {value!r}")
    if setting.choices and value not in setting.choices:
        valid = ", ".join(choice or '""' for choice in setting.choices)  # "" shown, not an empty item
        raise SettingsError(f"{origin}: {setting.name} must be one of {valid}; got {value!r}")
    return value


def _flatten(table: Mapping[str, Any], origin: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, body in table.items():
        if not isinstance(body, Mapping):
            raise SettingsError(f"{origin}: [{section}] must be a table, got {body!r}")
        for key, value in body.items():
            flat[f"{section}.{key}"] = value
    return flat


def _apply(values: dict[str, Any], updates: Mapping[str, Any], origin: str) -> None:
    for name, value in updates.items():
        setting = SETTINGS_BY_NAME.get(name)
        if setting is None:
            valid = ", ".join(sorted(SETTINGS_BY_NAME))
            raise SettingsError(f"{origin}: unknown setting {name!r}; valid settings: {valid}")
        values[name] = _coerce(setting, value, origin)


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file into flat 'section.key' names, with a clear error on bad syntax."""
    try:
        with open(path, "rb") as handle:
            return _flatten(tomllib.load(handle), str(path))
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: invalid TOML: {error}") from None


def load_settings(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Defaults, then config/isnad.toml, then config_file, then ISNAD_* variables, then overrides."""
    environ = os.environ if environ is None else environ
    values = {s.name: s.default for s in SETTINGS}
    if DEFAULT_CONFIG_FILE.exists():
        _apply(values, read_toml(DEFAULT_CONFIG_FILE), str(DEFAULT_CONFIG_FILE))
    if config_file is None and environ.get("ISNAD_CONFIG"):
        config_file = environ["ISNAD_CONFIG"]
    if config_file is not None:
        _apply(values, read_toml(Path(config_file)), str(config_file))
    from_env: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.env_var in environ:
            from_env[setting.name] = environ[setting.env_var]
    for variable, name in ENV_ALIASES.items():
        if variable in environ:
            from_env[name] = environ[variable]
    _apply(values, from_env, "environment")
    if overrides:
        _apply(values, {k: v for k, v in overrides.items() if v is not None}, "overrides")
    return values
