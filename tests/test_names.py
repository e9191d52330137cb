"""Every list of names (search modes, store backends, embedder backends and the onnx embedder's precisions and
devices) is written once, in indexer/stores/registry.py: settings validation, the command line's choices, the
search page, the OpenAPI document and the error messages all list exactly the registry's names."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from cli.main import build_parser
from indexer.settings import SETTINGS_BY_NAME, SettingsError, load_settings
from indexer.stores import open_stores
from indexer.stores.embedders import EmbedderError, make_embedder
from indexer.stores.registry import (
    EMBEDDER_BACKENDS,
    EMBEDDER_DEVICES,
    EMBEDDER_PRECISIONS,
    FUSION_METHODS,
    SEARCH_MODES,
    STORE_BACKENDS,
    UnknownBackendError,
)
from retrieval.search import SORTS
from webapp import pages
from webapp.app import create_app
from webapp.errors import BadRequest
from webapp.inputs import HISTORY_ROLES, SearchQuery, parse
from webapp.services import services_of

LISTS = {
    "store.backend": tuple(STORE_BACKENDS),
    "embedder.backend": tuple(EMBEDDER_BACKENDS),
    "embedder.precision": EMBEDDER_PRECISIONS,
    "embedder.device": EMBEDDER_DEVICES,
    "search.mode": SEARCH_MODES,
    "search.fusion": FUSION_METHODS,
}


@pytest.mark.parametrize("setting", sorted(LISTS))
def test_settings_accept_exactly_the_registered_names(setting: str) -> None:
    assert SETTINGS_BY_NAME[setting].choices == LISTS[setting]
    assert SETTINGS_BY_NAME[setting].default in LISTS[setting]
    with pytest.raises(SettingsError) as refused:
        load_settings(overrides={setting: "no-such-name"}, environ={})
    assert f"must be one of {', '.join(LISTS[setting])}" in str(refused.value)


def subcommand(name: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[name]


@pytest.mark.parametrize("command", ["search", "ask"])
def test_the_command_line_offers_the_registered_modes(command: str) -> None:
    mode = next(a for a in subcommand(command)._actions if a.dest == "mode")
    assert tuple(mode.choices) == SEARCH_MODES


def test_the_search_page_labels_every_mode_in_order() -> None:
    assert tuple(value for value, _ in pages.MODES) == SEARCH_MODES
    labels = [label for _, label in pages.MODES]
    assert all(labels) and len(set(labels)) == len(labels)
    assert tuple(value for value, _ in pages.SORTS) == SORTS


def test_the_openapi_document_lists_the_names_the_code_accepts(indexed_seeds_dir: Path) -> None:
    app = create_app({"data.dir": str(indexed_seeds_dir), "TESTING": True})
    try:
        document = json.loads(app.test_client().get("/api/v1/openapi.json").get_data(as_text=True))
    finally:
        services_of(app).close()
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/search"]["get"]["parameters"]}
    schemas = document["components"]["schemas"]
    health_ref = document["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]
    health = schemas[health_ref["schema"]["$ref"].rsplit("/", 1)[1]]
    assert parameters["mode"]["enum"] == list(SEARCH_MODES)
    assert schemas["SearchResponse"]["properties"]["mode"]["enum"] == list(SEARCH_MODES)
    assert schemas["AskBody"]["properties"]["mode"]["enum"] == list(SEARCH_MODES)
    assert health["properties"]["backend"]["enum"] == list(STORE_BACKENDS)
    assert parameters["sort"]["enum"] == list(SORTS)
    assert schemas["Turn"]["properties"]["role"]["enum"] == list(HISTORY_ROLES)


def test_errors_list_every_registered_name(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as mode:
        parse(SearchQuery, {"q": "بوتين", "mode": "fuzzy"})
    assert mode.value.message.endswith(", ".join(SEARCH_MODES))
    settings = load_settings(overrides={"data.dir": str(tmp_path)}, environ={})
    with pytest.raises(EmbedderError) as embedder:
        make_embedder({**settings, "embedder.backend": "bert"})
    assert (
        str(embedder.value)
        == f"unknown embedder.backend 'bert'; valid: {', '.join(sorted(EMBEDDER_BACKENDS))}"
    )
    with pytest.raises(UnknownBackendError) as store:
        open_stores({**settings, "store.backend": "mongo"})
    assert str(store.value) == f"unknown store.backend 'mongo'; valid: {', '.join(sorted(STORE_BACKENDS))}"
    assert not any(tmp_path.iterdir())  # refusing a name creates nothing
