"""The scale-out files need no server to check: docker-compose.yml, the Dockerfile and the index definition.

The analyzer-equivalence test lives here: the committed Elasticsearch analysis must be exactly the one
generated from `indexer.analysis.ANALYSIS_CHAIN`, the description of the embedded analyzer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from indexer.analysis import ANALYSIS_CHAIN, ARABIC_STOP_WORDS, EXACT_ANALYSIS_CHAIN
from indexer.settings import load_settings
from indexer.stores.es import mapping
from indexer.stores.es.errors import ElasticsearchStoreError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(mapping.INDEX_FILE.read_text(encoding="utf-8"))


# -- docker compose -------------------------------------------------------------------------------------


def test_compose_names_both_services_with_healthchecks(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"elasticsearch", "app"}
    for name, service in services.items():
        check = service["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert check["retries"] >= 1


def test_elasticsearch_service_is_pinned_to_the_clients_major(compose: dict) -> None:
    import elasticsearch

    service = compose["services"]["elasticsearch"]
    image, _, tag = service["image"].rpartition(":")
    assert image == "docker.elastic.co/elasticsearch/elasticsearch"
    assert tag.count(".") == 2 and all(part.isdigit() for part in tag.split(".")), "pin an exact version"
    assert tag.split(".")[0] == elasticsearch.__versionstr__.split(".")[0]
    env = dict(item.split("=", 1) for item in service["environment"])
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "false"
    heap = env["ES_JAVA_OPTS"].split()
    assert heap[0].removeprefix("-Xms") == heap[1].removeprefix("-Xmx"), "min and max heap should be equal"
    assert service["deploy"]["resources"]["limits"]["memory"]
    assert any(volume.endswith(":/usr/share/elasticsearch/data") for volume in service["volumes"])
    named = service["volumes"][0].split(":")[0]
    assert named in compose["volumes"]


def test_app_service_waits_for_elasticsearch_and_uses_it(compose: dict) -> None:
    app = compose["services"]["app"]
    assert app["build"] == "."
    assert app["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    env = dict(item.split("=", 1) for item in app["environment"])
    assert env["ISNAD_STORE"] == "elasticsearch"
    assert env["ISNAD_ES_URL"] == "http://elasticsearch:9200"
    assert "./articles:/data:ro" in app["volumes"]
    # The environment the app gets is valid configuration.
    settings = load_settings(environ=env)
    assert settings["store.backend"] == "elasticsearch"
    assert settings["elasticsearch.url"] == "http://elasticsearch:9200"


def test_dockerfile_installs_the_es_extra_and_serves_on_all_interfaces() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install") and "[es]" in line for line in lines)
    cmd = json.loads(next(line for line in lines if line.startswith("CMD")).removeprefix("CMD").strip())
    assert cmd[:2] == ["isnad", "serve"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    # Everything the image copies exists and is not excluded by .dockerignore.
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for line in lines:
        if line.startswith("COPY"):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
                assert source not in ignored, source


# -- the index definition --------------------------------------------------------------------------------


def test_index_definition_loads_with_the_fields_isnad_uses(definition: dict) -> None:
    properties = definition["mappings"]["properties"]
    assert definition["mappings"]["dynamic"] == "strict"
    assert properties["text"]["analyzer"] == mapping.ANALYZER
    assert properties["text"]["fields"]["exact"]["analyzer"] == mapping.EXACT_ANALYZER
    assert properties["title"]["analyzer"] == mapping.ANALYZER
    assert properties["title"]["fields"]["exact"]["analyzer"] == mapping.EXACT_ANALYZER
    for name in ("source", "category", "article_id", "doc_type"):
        assert properties[name]["type"] == "keyword", name
    assert properties["published"]["type"] == "date"
    assert properties["passage_id"]["type"] == "long"
    assert properties["ordinal"]["type"] == "integer"
    assert properties["start"]["type"] == properties["end"]["type"] == "integer"
    assert properties["article"] == {"type": "object", "enabled": False}
    similarity = definition["settings"]["index"]["similarity"]["default"]
    assert similarity == {"type": "BM25", "k1": 1.2, "b": 0.75}


def test_every_document_field_is_mapped() -> None:
    """The mapping is strict, so a field the document builders add but the mapping lacks would be refused."""
    from indexer.models import Article
    from indexer.stores.base import StoredPassage
    from indexer.stores.es import queries

    properties = json.loads(mapping.INDEX_FILE.read_text(encoding="utf-8"))["mappings"]["properties"]
    article = Article("a1", "عنوان", "نص", "bbc", "2018-02-18", "http://x", "كاتب", "سياسة")
    passage = StoredPassage(7, "a1", 0, "نص", 0, 2)
    assert set(queries.passage_source(passage, article)) <= set(properties)
    assert set(queries.article_source(article, "hash")) <= set(properties)


def test_committed_analysis_is_the_one_generated_from_the_embedded_chain(definition: dict) -> None:
    assert definition["settings"]["analysis"] == mapping.analysis_section(), (
        "config/elasticsearch/index.json is out of date: run python -m indexer.stores.es.mapping"
    )
    assert mapping.INDEX_FILE.read_text(encoding="utf-8") == mapping.regenerate()


def test_each_analyzer_resolves_to_the_embedded_chain_step_by_step(definition: dict) -> None:
    analysis = definition["settings"]["analysis"]
    assert mapping.analyzer_steps(analysis, mapping.ANALYZER) == ANALYSIS_CHAIN
    assert mapping.analyzer_steps(analysis, mapping.EXACT_ANALYZER) == EXACT_ANALYSIS_CHAIN


def test_the_chain_is_lucenes_arabic_analyzer_plus_alef_wasla(definition: dict) -> None:
    """Spelled out, so a change to the shared chain is a visible decision here too."""
    analysis = definition["settings"]["analysis"]
    full = mapping.analyzer_steps(analysis, mapping.ANALYZER)
    assert [step["type"] for step in full["filter"]] == [
        "lowercase",
        "decimal_digit",
        "stop",
        "arabic_normalization",
        "arabic_stem",
    ]
    assert full["tokenizer"]["type"] == "standard"
    assert full["char_filter"] == [{"type": "mapping", "mappings": ["\u0671=>\u0627"]}]
    stop = next(step for step in full["filter"] if step["type"] == "stop")
    assert stop["stopwords"] == list(ARABIC_STOP_WORDS)
    assert "في" in stop["stopwords"] and "الذي" in stop["stopwords"]
    exact = mapping.analyzer_steps(analysis, mapping.EXACT_ANALYZER)
    assert [step["type"] for step in exact["filter"]] == [
        "lowercase",
        "decimal_digit",
        "arabic_normalization",
    ]


def test_generation_refuses_two_different_steps_of_one_type() -> None:
    chain = {**ANALYSIS_CHAIN, "filter": [*ANALYSIS_CHAIN["filter"], {"type": "stop", "stopwords": ["x"]}]}
    with pytest.raises(ValueError, match="two different 'stop' steps"):
        mapping.analysis_section(chain, EXACT_ANALYSIS_CHAIN)


def test_index_definition_applies_the_configured_layout() -> None:
    body = mapping.index_definition(shards=3, replicas=1)
    assert body["settings"]["index"]["number_of_shards"] == 3
    assert body["settings"]["index"]["number_of_replicas"] == 1
    again = mapping.index_definition()
    assert again["settings"]["index"]["number_of_shards"] == 1, "the committed file must not be changed"


def test_a_missing_or_broken_definition_is_named(tmp_path: Path) -> None:
    with pytest.raises(ElasticsearchStoreError, match="not found"):
        mapping.read_definition(tmp_path / "absent.json")
    broken = tmp_path / "index.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ElasticsearchStoreError, match="invalid JSON"):
        mapping.read_definition(broken)
    broken.write_text('{"settings": {}}', encoding="utf-8")
    with pytest.raises(ElasticsearchStoreError, match="no 'mappings'"):
        mapping.read_definition(broken)


def test_mapping_check_command_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert mapping.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out
