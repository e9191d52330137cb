"""The settings table: documented defaults, overrides in order, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.settings import DEFAULT_CONFIG_FILE, SETTINGS, SettingsError, load_settings, read_toml


def test_every_setting_is_documented_in_isnad_toml_with_its_default() -> None:
    documented = read_toml(DEFAULT_CONFIG_FILE)
    assert set(documented) == {s.name for s in SETTINGS}
    for setting in SETTINGS:
        assert documented[setting.name] == setting.default, setting.name
        assert setting.help


def test_override_order_file_then_environment_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('[data]\ndir = "from-file"\n[search]\nrrf_k = 30\n', encoding="utf-8")
    values = load_settings(config, environ={})
    assert values["data.dir"] == "from-file" and values["search.rrf_k"] == 30
    values = load_settings(config, environ={"ISNAD_DATA_DIR": "from-env", "ISNAD_SEARCH_RRF_K": "7"})
    assert values["data.dir"] == "from-env" and values["search.rrf_k"] == 7
    values = load_settings(config, {"data.dir": "from-flag"}, environ={"ISNAD_DATA_DIR": "from-env"})
    assert values["data.dir"] == "from-flag"


def test_short_environment_aliases() -> None:
    values = load_settings(environ={"ISNAD_STORE": "elasticsearch", "ISNAD_ES_URL": "http://es:9200"})
    assert values["store.backend"] == "elasticsearch"
    assert values["elasticsearch.url"] == "http://es:9200"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[search]\nrrf_kk = 3\n", "unknown setting 'search.rrf_kk'"),
        ("[search]\nrrf_k = 'many'\n", "search.rrf_k must be int"),
        ("[store]\nbackend = 'mongo'\n", "must be one of embedded, elasticsearch"),
        ("[search\n", "invalid TOML"),
    ],
)
def test_bad_config_is_rejected_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match=message.replace("[", r"\[")):
        load_settings(config, environ={})


def test_bad_environment_value_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="environment: search.candidates must be int"):
        load_settings(environ={"ISNAD_SEARCH_CANDIDATES": "lots"})
