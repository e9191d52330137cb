"""Run `isnad` for a test; a command that hangs is stopped with every thread's stack in the failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ISNAD = Path(sys.executable).with_name("isnad")


def isnad(
    *args: str | bytes, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The installed `isnad` command's exit status and output. Past `timeout` seconds it gets SIGABRT, on
    which Python's faulthandler (switched on here) prints where each thread was: a hang says where it hung."""
    process = subprocess.Popen(
        [ISNAD, *args],
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
        shown = " ".join(map(str, args))
        pytest.fail(f"isnad {shown} still ran after {timeout:.0f} s; where:\n{stderr[-8000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
