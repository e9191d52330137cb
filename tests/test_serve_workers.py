"""`isnad serve --workers N`: several processes on one port that each answer and see each other's writes,
a worker that dies started again, a clean stop, and the refusals said once."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from served_json import request

from evaluation.machine import process_tree
from evaluation.server import ServedIndex
from indexer.keys import KeyStore
from indexer.live_embedder import TURN_FILE

ARTICLE = {
    "id": "w-1",
    "title": "افتتاح المكتبة العامة",
    "text": "افتتحت البلدية المكتبة العامة الجديدة في وسط المدينة بعد ثلاث سنوات من البناء.",
}


def _found(server: ServedIndex, query: str, mode: str = "keyword") -> list[str]:
    status, body = request(server, "GET", "/api/v1/search?" + urlencode({"q": query, "mode": mode}))
    assert status == 200, body
    return [result["article_id"] for result in body["results"]]


def _workers(server: ServedIndex) -> list[int]:
    return [pid for pid in process_tree(server.pid) if pid != server.pid]


def _wait_embedded(server: ServedIndex, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        _, stats = request(server, "GET", "/api/v1/stats")
        embedding = stats["writes"]["embedding"]
        if embedding["pending"] == 0 and embedding["state"] == "idle":
            return
        assert embedding["state"] != "failed", embedding
        assert time.monotonic() < deadline, f"passages still without vectors: {embedding}"
        time.sleep(0.2)


@contextmanager
def _paused(pid: int) -> Iterator[None]:
    """A worker stopped by SIGSTOP: connections made meanwhile can only be accepted by the others."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture()
def write_key_data(tmp_path: Path) -> tuple[Path, str]:
    data = tmp_path / "data"
    data.mkdir()
    store = KeyStore(data)
    _, key = store.create("write", "cms")
    store.close()
    return data, key


def test_two_workers_each_answer_and_see_the_others_writes(
    tmp_path: Path, write_key_data: tuple[Path, str]
) -> None:
    data, key = write_key_data
    log = tmp_path / "serve.log"
    with ServedIndex(data, log_path=log, extra_args=["--workers", "2"]) as server:
        workers = _workers(server)
        assert len(workers) == 2, workers
        status, body = request(server, "POST", "/api/v1/articles", ARTICLE, key)
        assert status == 200 and body["items"][0]["status"] == 201, body
        _wait_embedded(server)
        # Whichever worker took the write, each of the two finds the article by keyword and by meaning: the
        # one that took it at once, the other at its next look at the index (every 0.5 s).
        for paused, answering in (workers, workers[::-1]):
            with _paused(paused):
                for query, mode in (("المكتبة", "keyword"), ("مكتبة جديدة في المدينة", "semantic")):
                    deadline = time.monotonic() + 30
                    while "w-1" not in _found(server, query, mode=mode):
                        assert time.monotonic() < deadline, f"worker {answering} does not find it ({mode})"
                        time.sleep(0.2)
        stats = [request(server, "GET", "/api/v1/stats")[1]["writes"]["embedding"] for _ in range(6)]
        assert all(entry["state"] in ("idle", "waiting") for entry in stats), stats
    assert server.process is not None and server.process.returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived the server"
    said = log.read_text(encoding="utf-8")
    assert "(API: /api/v1/, 2 worker processes × 8 threads)" in said
    assert said.count("isnad: serving") == 1, said
    assert "Traceback" not in said


def test_a_worker_that_dies_is_started_again(tmp_path: Path, write_key_data: tuple[Path, str]) -> None:
    data, _ = write_key_data
    log = tmp_path / "serve.log"
    with ServedIndex(data, log_path=log, extra_args=["--workers", "2"]) as server:
        first = _workers(server)
        os.kill(first[0], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            now = _workers(server)
            if len(now) == 2 and first[0] not in now:
                break
            assert time.monotonic() < deadline, f"workers {now}, started with {first}"
            time.sleep(0.2)
        replacement = next(pid for pid in now if pid not in first)
        # The replacement answers (the other worker paused), and so does the pair.
        deadline = time.monotonic() + 120
        with _paused(first[1]):
            while True:
                try:
                    status, _ = request(server, "GET", "/api/v1/health")
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"the replacement {replacement} does not answer"
        assert status == 200
    said = log.read_text(encoding="utf-8")
    assert f"(pid {first[0]}) exited with status -9; starting it again" in said


def _serve_to_exit(data: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`isnad serve` run until it exits (each case here is refused before it serves)."""
    command = [sys.executable, "-m", "cli", "--data-dir", str(data), "serve", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_workers_must_be_at_least_one(write_key_data: tuple[Path, str]) -> None:
    result = _serve_to_exit(write_key_data[0], "--port", "1", "--workers", "0")
    assert result.returncode == 2
    assert result.stderr == "isnad serve: server.workers must be a whole number of at least 1, got 0\n"


def test_a_taken_port_is_said_plainly(write_key_data: tuple[Path, str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = _serve_to_exit(write_key_data[0], "--port", str(port), "--workers", "2")
    assert result.returncode == 2
    assert result.stderr.startswith(f"isnad serve: cannot listen on 127.0.0.1:{port}: "), result.stderr
    assert "Traceback" not in result.stderr


def test_the_backlog_waits_while_another_process_embeds(
    tmp_path: Path, write_key_data: tuple[Path, str]
) -> None:
    """The embedding turn: while another worker holds it, this one leaves the backlog to it and looks again."""
    data, key = write_key_data
    with ServedIndex(data, log_path=tmp_path / "serve.log") as server:
        _wait_embedded(server)
        with open(data / TURN_FILE, "a+") as turn:
            fcntl.flock(turn, fcntl.LOCK_EX)
            status, body = request(server, "POST", "/api/v1/articles", ARTICLE, key)
            assert status == 200, body
            deadline = time.monotonic() + 60
            while True:
                embedding = request(server, "GET", "/api/v1/stats")[1]["writes"]["embedding"]
                if embedding["state"] == "waiting":
                    break
                assert time.monotonic() < deadline, embedding
                time.sleep(0.1)
            assert embedding["pending"] >= 1, embedding
            assert _found(server, "المكتبة") == ["w-1"]  # by keyword at once, as always
            fcntl.flock(turn, fcntl.LOCK_UN)
        _wait_embedded(server)
        assert "w-1" in _found(server, "مكتبة جديدة في المدينة", mode="semantic")


def test_ctrl_c_stops_every_worker_quietly(tmp_path: Path, write_key_data: tuple[Path, str]) -> None:
    """Ctrl-C in a terminal signals the whole process group: the workers and the supervisor at once."""
    data, _ = write_key_data
    server = ServedIndex(data, log_path=tmp_path / "serve.log", extra_args=["--workers", "2"])
    command = [sys.executable, "-m", "cli", "--data-dir", str(data), "serve", "--port", str(server.port)]
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", "2"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not server._responds():
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.2)
        workers = [pid for pid in process_tree(process.pid) if pid != process.pid]
        assert len(workers) == 2
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    said = (tmp_path / "serve.log").read_text(encoding="utf-8")
    assert "Traceback" not in said and "Error" not in said, said
