"""Run an `isnad` command for a test; one that hangs is stopped with every thread's stack in the failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ISNAD = Path(sys.executable).with_name("isnad")


def run_cli(
    command: Sequence[str | bytes | Path],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`command`'s exit status and output. Past `timeout` seconds it gets SIGABRT, on which Python's
    faulthandler (switched on here) prints where each thread was: a hang then says where it hung."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        pytest.fail(
            f"{' '.join(map(str, command))} still ran after {timeout:.0f} s; where:\n{stderr[-8000:]}"
        )
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def isnad(
    *args: str | bytes, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The installed `isnad` command with these arguments."""
    return run_cli([ISNAD, *args], timeout=timeout, env=env)
