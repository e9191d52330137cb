"""Interrupting the indexer (kill -9, Ctrl-C, a helper process killed) leaves searchable, consistent stores;
re-running completes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_run import isnad
from test_pipeline import assert_consistent, settings_for, write_news_sample

from evaluation.machine import process_tree
from indexer.stores import open_stores
from indexer.stores.base import KeywordQuery

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_index(data_dir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "index", *args, "--data-dir", str(data_dir), "--quiet"],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(data_dir: Path, sql: str, at_least: int, process: subprocess.Popen, timeout: float = 240) -> int:
    """Poll the document store read-only until `sql` counts `at_least` rows."""
    database = data_dir / "documents.sqlite3"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"indexer ended before it could be interrupted: {process.stderr.read()}")
        if database.exists():
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
                    count = db.execute(sql).fetchone()[0]
            except sqlite3.OperationalError:  # schema not created yet
                count = 0
            if count >= at_least:
                return count
        time.sleep(0.02)
    pytest.fail(f"no {at_least} rows for {sql!r} within {timeout}s")


def kill_group(process: subprocess.Popen, sig: int) -> None:
    os.killpg(process.pid, sig)
    process.wait(timeout=60)


def finish(process: subprocess.Popen) -> None:
    """Make sure no child of a killed indexer is left running."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_kill_9_during_keyword_indexing_then_rerun(tmp_path, shared_dir):
    news = tmp_path / "news.jsonl"
    records = write_news_sample(shared_dir, news, 2000)
    data = tmp_path / "data"
    process = start_index(data, str(news), "--no-embed")
    try:
        wait_for(data, "SELECT count(*) FROM articles", 300, process)
        helpers = process_tree(process.pid)[1:]  # its reader and workers
        assert len(helpers) >= 2, "over 4 MB of input: a reader and analysis workers"
        os.kill(process.pid, signal.SIGKILL)  # only the indexer itself, as a crash would
        process.wait(timeout=60)
        # Its reader and workers notice and exit by themselves: nothing is left running.
        deadline = time.monotonic() + 30
        while (
            left := [pid for pid in helpers if Path(f"/proc/{pid}").exists()]
        ) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"still running after the indexer was killed: {left}"
    finally:
        finish(process)
    settings = settings_for(data)
    stores = open_stores(settings)
    counts = stores.counts()
    assert 0 < counts.articles < len(records), "the kill should have landed mid-run"
    # What the keyword index holds is searchable and all of it is in the document store.
    every = stores.keyword.search(KeywordQuery(), counts.passages + 10).hits
    assert len(every) == counts.keyword <= counts.passages
    assert set(stores.docs.get_passages(h.passage_id for h in every)) == {h.passage_id for h in every}
    stores.close()
    # The killed run could not record its end; its process is gone, so it shows as interrupted.
    assert [run["status"] for run in isnad_stats(data)["last_runs"]] == ["interrupted"]
    assert "last run         interrupted" in isnad_cli("stats", "--data-dir", str(data)).stdout

    rerun = start_index(data, str(news), "--no-embed")
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert "caught up" in out or counts.extra["pending_keyword_articles"] == 0
    assert_consistent(settings, embedded=False)
    stores = open_stores(settings)
    assert stores.counts().articles >= len(records) - 20  # a few are skipped as duplicates or empty
    stores.close()
    assert [run["status"] for run in isnad_stats(data)["last_runs"]] == ["done", "interrupted"]


def isnad_cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = isnad(*args, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def isnad_stats(data: Path) -> dict:
    return json.loads(isnad_cli("stats", "--json", "--data-dir", str(data)).stdout)


EMBED_IN_BATCHES_OF_8 = {"ISNAD_EMBEDDER_BATCH_SIZE": "8"}


def interrupted_embedding(
    tmp_path: Path, shared_dir: Path, stop: Callable[[subprocess.Popen], None]
) -> tuple[Path, Path, subprocess.Popen, int]:
    """Index 20 news articles, embedding in batches of 8, and `stop` the indexer once a batch is
    committed; returns the input, the data folder, the stopped process and the vectors committed."""
    news = tmp_path / "news.jsonl"
    write_news_sample(shared_dir, news, 20)
    data = tmp_path / "data"
    process = start_index(data, str(news), env=EMBED_IN_BATCHES_OF_8)
    try:
        committed = wait_for(data, "SELECT count(*) FROM embeddings", 8, process)
        stop(process)
    finally:
        finish(process)
    return news, data, process, committed


def assert_rerun_completes(data: Path, news: Path) -> None:
    rerun = start_index(data, str(news), env=EMBED_IN_BATCHES_OF_8)
    _, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert_consistent(settings_for(data), embedded=True)


def test_kill_9_during_embedding_keeps_committed_vectors(tmp_path, shared_dir):
    def kill_9(process: subprocess.Popen) -> None:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

    news, data, _, committed = interrupted_embedding(tmp_path, shared_dir, kill_9)
    stores = open_stores(settings_for(data))
    counts = stores.counts()
    assert counts.keyword == counts.passages
    assert committed <= counts.vectors < counts.passages  # every committed batch is searchable
    assert counts.vectors + counts.pending_vectors == counts.passages
    query = stores.embedder.embed_queries(["الأخبار"])[0]
    assert len(stores.vectors.search(query, 5)) == 5
    stores.close()
    assert_rerun_completes(data, news)


def test_ctrl_c_saves_progress_and_says_how_to_continue(tmp_path, shared_dir):
    def ctrl_c(process: subprocess.Popen) -> None:
        kill_group(process, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole group

    news, data, process, _ = interrupted_embedding(tmp_path, shared_dir, ctrl_c)
    assert process.returncode == 130
    assert "run the same command again" in process.stderr.read()
    assert "interrupted after: read 20, indexed 20" in process.stdout.read()
    stores = open_stores(settings_for(data))
    counts = stores.counts()
    # The vector file itself was saved on the way out, not only the SQLite rows.
    assert stores.vectors.size_bytes() > 0
    assert counts.keyword == counts.passages and 0 < counts.vectors <= counts.passages
    stores.close()
    assert_rerun_completes(data, news)


@pytest.mark.parametrize("victim", ["an analysis worker", "the reader"])
def test_a_helper_process_killed_mid_run_stops_the_run_with_a_message_and_a_rerun_completes(
    tmp_path: Path, shared_dir: Path, victim: str
) -> None:
    import multiprocessing

    from indexer.pipeline import index_paths
    from indexer.pipeline.workers import READER_NAME, WorkerLostError

    news = tmp_path / "news.jsonl"
    write_news_sample(shared_dir, news, 2000)  # over BACKGROUND_READ_BYTES: a reader and two workers
    settings = settings_for(tmp_path / "data")
    killed: list[int] = []

    def kill_one(article, outcome) -> None:
        if killed:
            return
        children = multiprocessing.active_children()
        readers = [child for child in children if child.name == READER_NAME]
        workers = [child for child in children if child not in readers]
        target = (workers if victim == "an analysis worker" else readers)[0]
        os.kill(target.pid, signal.SIGKILL)
        killed.append(target.pid)

    with pytest.raises(WorkerLostError) as stopped:
        index_paths([str(news)], settings, embed=False, progress=False, workers=2, on_article=kill_one)
    assert killed
    assert "stopped unexpectedly" in str(stopped.value) and "run the same command again" in str(stopped.value)
    assert ("analysis worker" in str(stopped.value)) == (victim == "an analysis worker")

    assert [run["status"] for run in isnad_stats(tmp_path / "data")["last_runs"]] == ["failed"]
    index_paths([str(news)], settings, embed=False, progress=False, workers=2)
    assert_consistent(settings, embedded=False)
