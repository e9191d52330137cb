"""The serving process's garbage-collector tuning (webapp/collector.py) on the interpreter's real collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from indexer.settings import SettingsError, load_settings
from webapp.collector import tune_for_serving


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_freezes_startup_objects_and_raises_the_young_threshold(restored_collector: None) -> None:
    loaded = [{"row": i} for i in range(1000)]  # stands for what startup loads: alive, tracked
    middle, oldest = gc.get_threshold()[1:]
    tune_for_serving(20000)
    assert gc.get_threshold() == (20000, middle, oldest)
    assert gc.get_freeze_count() >= len(loaded)
    # Cycles made after the tuning are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_zero_leaves_python_defaults(restored_collector: None) -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    tune_for_serving(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_negative_threshold_is_refused_by_name(restored_collector: None) -> None:
    with pytest.raises(SettingsError, match="server.gc_threshold"):
        tune_for_serving(-1)


def test_the_setting_has_a_default_and_an_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings()["server.gc_threshold"] == 20000
    monkeypatch.setenv("ISNAD_SERVER_GC_THRESHOLD", "0")
    assert load_settings()["server.gc_threshold"] == 0
