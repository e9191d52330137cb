"""The search-engine node the `es`-marked tests run against: ISNAD_ES_URL's server, or one started here.

When ISNAD_ES_URL names a running server (the Elasticsearch of docker-compose.yml, say) the tests use it,
with the backend its GET / names. Otherwise the session starts the OpenSearch node that `make engine-node`
assembled from Maven Central under tools/opensearch/ (one JVM, HTTP on a free 127.0.0.1 port, a small
heap, data in a temporary folder) and stops it at the end. Nothing here is mocked: a test that asks for
`engine` gets a real node, or is skipped saying why there is none.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = REPO_ROOT / "tools" / "opensearch"
START_TIMEOUT_S = 180.0  # a cold JVM on a busy 2-core machine; it usually answers within 10 s
# Enough for the test corpora; kept small because the tests, the app servers and the embedder share 2 cores.
NODE_HEAP = os.environ.get("ISNAD_NODE_HEAP", "384m")


@dataclass(frozen=True)
class Engine:
    """A reachable node: the store.backend that speaks to it, its URL and its GET / version."""

    backend: str
    url: str
    version: str

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """Settings for this node (nothing from the environment), with `overrides` on top."""
        from indexer.settings import load_settings

        return load_settings(
            overrides={"store.backend": self.backend, "elasticsearch.url": self.url, **overrides}, environ={}
        )

    def client(self) -> Any:
        from indexer.stores.es.client import client_from_settings

        return client_from_settings(self.settings())


def _get_json(url: str, timeout: float = 5.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return dict(json.loads(reply.read()))


def describe(url: str) -> Engine:
    """The backend and version of the server at `url`, from its GET /."""
    info = _get_json(url.rstrip("/") + "/")
    version = info["version"]
    backend = "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
    return Engine(backend, url.rstrip("/"), str(version["number"]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


class LocalNode:
    """The OpenSearch node of tools/opensearch/ as a child process, stopped by closing its standard input."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "node.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @staticmethod
    def missing() -> str | None:
        """Why the node cannot start here, or None when it can."""
        if _java() is None:
            return "no java on PATH (or JAVA_HOME): the engine node needs a JDK 17 (make system-deps)"
        if not (NODE_DIR / "classes" / "IsnadNode.class").exists() or not (NODE_DIR / "lib").is_dir():
            return "the OpenSearch node is not built: run `make engine-node` (Maven Central, once)"
        return None

    def start(self) -> None:
        java = _java()
        assert java is not None
        classpath = os.pathsep.join([str(NODE_DIR / "classes"), str(NODE_DIR / "lib" / "*")])
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                java,
                f"-Xms{NODE_HEAP}",
                f"-Xmx{NODE_HEAP}",
                "-XX:+UseSerialGC",
                "-Xss1m",
                "-Djava.awt.headless=true",
                "-cp",
                classpath,
                "IsnadNode",
                str(self.home / "node"),
                str(self.port),
            ],
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_up()

    def wait_until_up(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the OpenSearch node exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                health = _get_json(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s", 3.0)
                if health.get("status") in ("green", "yellow"):
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"the OpenSearch node did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no clean shutdown, whatever was in flight is lost."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def stop(self, timeout: float = 30.0) -> None:
        """Close stdin (the node closes itself cleanly), then terminate, then kill: it never outlives us."""
        process, self.process = self.process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A real node for the session: ISNAD_ES_URL's server, else the OpenSearch node started here."""
    url = os.environ.get("ISNAD_ES_URL")
    if url:
        try:
            existing = describe(url)
        except (OSError, urllib.error.URLError, ValueError, KeyError) as error:
            pytest.fail(f"ISNAD_ES_URL={url} does not answer as a search engine: {error}")
        yield existing
        return
    reason = LocalNode.missing()
    if reason:
        pytest.skip(reason)
    node = LocalNode(tmp_path_factory.mktemp("engine-node"))
    try:
        node.start()
        yield describe(node.url)
    finally:
        node.stop()


def drop_indices(engine: Engine, alias: str) -> None:
    """Delete the test's indices behind `alias`, by name: Elasticsearch refuses wildcard deletes by default
    (action.destructive_requires_name)."""
    from indexer.stores.es.engine import EngineApiError

    client = engine.client()
    try:
        try:
            names = client.get_indices(f"{alias}-*", expand_wildcards="all")
        except EngineApiError:
            return
        for name in names:
            client.delete_index(name, missing_ok=True)
    finally:
        client.close()
