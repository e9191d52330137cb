"""Running the real `isnad serve` process on a free loopback port for benchmarks, and stopping it."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Self


class ServerError(RuntimeError):
    """The server process exited or did not answer in time; carries the end of its output."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServedIndex:
    """`isnad serve` over a data directory as a child process; a context manager that always stops it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.extra_args = list(extra_args)
        # A benchmark measures the engine, not the API's rate limits (README "Writing articles").
        self.env = {**os.environ, "ISNAD_LIMITS_PER_ADDRESS": "", "ISNAD_LIMITS_PER_KEY": "", **(env or {})}
        self.log_path = log_path or data_dir.parent / "server.log"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> Self:
        command = [
            sys.executable,
            "-m",
            "cli",
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.extra_args,
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"isnad serve exited with status {self.process.returncode}:\n{self._log_tail()}"
                )
            if self._responds():
                return self
            time.sleep(0.2)
        self.stop()
        raise ServerError(
            f"isnad serve did not answer within {self.startup_timeout:.0f} s:\n{self._log_tail()}"
        )

    def _responds(self) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", "/api/v1/health")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
