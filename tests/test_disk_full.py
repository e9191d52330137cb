"""A full disk stops `isnad index` once, clearly, leaving no temporary files and a run recorded as failed.

The disk is real: a small tmpfs mounted for the test (root only; elsewhere the tests say why they skip).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_run import isnad
from test_pipeline import assert_consistent, settings_for, write_news_sample


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, Callable[[int], None]]]:
    """A tmpfs of 3 MiB at tmp_path/disk, and a function that resizes it to a number of bytes."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")

    def resize(size: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True, capture_output=True)

    try:
        yield mount, resize
    finally:
        # A file still open in this process (a reader not yet collected) makes umount answer "target is
        # busy"; detach the tmpfs lazily then, so no test leaves a mount behind.
        if subprocess.run(["umount", str(mount)], check=False, capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(mount)], check=False, capture_output=True)


def last_runs(data: Path) -> list[dict]:
    stats = isnad("stats", "--json", "--data-dir", str(data))
    assert stats.returncode == 0, stats.stderr
    return json.loads(stats.stdout)["last_runs"]


def last_run_status(data: Path) -> str:
    return last_runs(data)[0]["status"]


def assert_stopped_cleanly(result: subprocess.CompletedProcess[str], data: Path, last_id: int = 0) -> str:
    """One message naming the data directory and what a build needs; no traceback, no temporary files,
    and the run recorded as failed (unless the disk was too full to record that it started)."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [message] = [line for line in result.stderr.splitlines() if "no space left on device" in line]
    assert message.startswith("isnad index: no space left on device while writing ")
    assert f" in {data} (" in message and "write-ahead log" in message and "x the final size more" in message
    assert not list(data.glob("*.tmp"))
    runs = last_runs(data)
    assert "running" not in [run["status"] for run in runs]
    if runs and runs[0]["id"] > last_id:
        assert runs[0]["status"] == "failed"
    return message


def test_a_full_disk_while_indexing_stops_the_run_once_then_a_rerun_completes(
    small_disk, tmp_path, shared_dir
):
    mount, resize = small_disk
    news = tmp_path / "news.jsonl"
    write_news_sample(shared_dir, news, 2000)  # about 7 MiB of JSON lines: more than 3 MiB holds
    data = mount / "data"

    result = isnad("index", str(news), "--no-embed", "--quiet", "--data-dir", str(data))

    message = assert_stopped_cleanly(result, data)
    assert last_run_status(data) == "failed"
    assert "the document store (documents.sqlite3)" in message or "keyword index" in message
    assert " MiB of input allow about " in message
    assert result.stdout.startswith("stopped after: read ")
    assert len(result.stderr.splitlines()) == 1  # not one line per article

    resize(100 << 20)
    rerun = isnad("index", str(news), "--no-embed", "--quiet", "--data-dir", str(data))
    assert rerun.returncode == 0, rerun.stderr
    assert_consistent(settings_for(data), embedded=False)
    assert last_run_status(data) == "done"


def test_a_full_disk_while_embedding_leaves_no_temporary_vector_file(small_disk, tmp_path, shared_dir):
    mount, resize = small_disk
    news = tmp_path / "news.jsonl"
    write_news_sample(shared_dir, news, 8)
    data = mount / "data"
    built = isnad("index", str(news), "--no-embed", "--quiet", "--data-dir", str(data))
    assert built.returncode == 0, built.stderr
    used = shutil.disk_usage(mount).used
    # Make the disk a little larger each time until the vectors fit: on the way it fills while the
    # document store takes the embeddings, then (those committed) while the FAISS file is written.
    failed_in: list[str] = []
    for margin in range(40 << 10, 400 << 10, 8 << 10):
        resize(used + margin)
        last_id = last_runs(data)[0]["id"]
        result = isnad("index", "--quiet", "--data-dir", str(data), env={"ISNAD_EMBEDDER_BATCH_SIZE": "8"})
        if result.returncode == 0:
            break
        failed_in.append(assert_stopped_cleanly(result, data, last_id).split(" in ", 1)[0])
    else:
        pytest.fail("the vectors never fitted")
    assert any("the vector index (vectors.faiss)" in where for where in failed_in), failed_in
    assert_consistent(settings_for(data), embedded=True)
    assert last_run_status(data) == "done"


def _fill(mount: Path) -> Path:
    """Take every free byte of the disk with one file (smaller and smaller writes until none fits)."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 20, 64 << 10, 4 << 10, 512, 1):
            try:
                while True:
                    handle.write(bytes(size))
            except OSError:
                pass
    return filler


def test_the_write_api_on_a_full_disk_answers_507_and_deletions_still_work(small_disk, tmp_path):
    import gc
    import time

    from indexer.keys import KeyStore
    from indexer.pipeline import index_paths
    from indexer.settings import load_settings
    from webapp.app import create_app
    from webapp.services import services_of

    mount, resize = small_disk
    resize(40 << 20)
    data = mount / "data"
    seed = tmp_path / "seed.jsonl"
    seed.write_text(
        json.dumps({"id": "seed-1", "title": "معرض الكتاب", "text": "افتتح الوزير معرض الكتاب في المدينة."})
        + "\n",
        encoding="utf-8",
    )
    index_paths([str(seed)], load_settings(overrides={"data.dir": str(data)}, environ={}), progress=False)
    store = KeyStore(data)
    _, key = store.create("write", "cms")
    store.close()
    app = create_app({"data.dir": str(data), "TESTING": True, "writes.lock_wait_seconds": 30.0})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"

    def article(n: int) -> dict[str, str]:
        return {"id": f"a-{n}", "title": f"خبر {n}", "text": f"أعلنت البلدية مشروعا جديدا للطرق رقم{n}."}

    def found(n: int) -> list[str]:
        body = client.get("/api/v1/search", query_string={"q": f"رقم{n}", "mode": "keyword"}).get_json()
        return [result["article_id"] for result in body["results"]]

    try:
        first = client.post("/api/v1/articles", json=[article(n) for n in range(3)])
        assert [item["status"] for item in first.get_json()["items"]] == [201] * 3
        deadline = time.monotonic() + 180  # the background worker embeds them: let it finish first
        while client.get("/api/v1/stats").get_json()["writes"]["embedding"]["pending"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        writer = app.extensions["isnad_writes"].writer
        assert writer.reserve.held()
        filler = _fill(mount)

        refused = client.post("/api/v1/articles", json=[article(n) for n in range(3, 6)])
        assert refused.status_code == 507, refused.get_json()
        error = refused.get_json()["error"]
        assert error["code"] == "disk_full"
        assert error["message"].startswith("no space left on device while writing ")
        assert str(data) in error["message"]
        assert found(1) == ["a-1"]  # what was stored before is searchable still

        # The reserve is what lets a deletion (which frees room) through on a disk with no byte left.
        gone = client.delete("/api/v1/articles/a-0")
        assert gone.status_code == 200, gone.get_json()
        assert not writer.reserve.held()
        assert found(0) == [] and client.get("/api/v1/articles/a-0").status_code == 404

        filler.unlink()
        again = client.post("/api/v1/articles", json=[article(n) for n in range(3, 6)])
        assert again.status_code == 200
        assert {item["status"] for item in again.get_json()["items"]} <= {200, 201}
        assert [found(n) for n in range(3, 6)] == [["a-3"], ["a-4"], ["a-5"]]
        assert writer.reserve.held()  # taken back once there was room
        counts = client.get("/api/v1/stats").get_json()["counts"]
        assert counts["articles"] == 6 and counts["keyword"] == counts["passages"]
    finally:
        services_of(app).close()
        app = client = writer = None  # type: ignore[assignment]
        gc.collect()  # the readers' mapped files go with their objects, so the tmpfs can be unmounted
