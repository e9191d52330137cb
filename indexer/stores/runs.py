"""Who an indexing run is: its process id, host and process start time, and whether that process still lives."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_started(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux /proc), or None where that is not known.

    With the pid it names one process for good: a pid reused after a kill -9 has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) sits in parentheses and may hold spaces; field 22 is the start time.
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> tuple[int, str, str | None]:
    """(pid, host, start time) of the calling process, to record with a run it starts."""
    pid = os.getpid()
    return pid, socket.gethostname(), process_started(pid)


def is_alive(pid: int | None, host: str | None, started: str | None) -> bool | None:
    """Whether the process that recorded a run still runs; None when this machine cannot tell (the run
    was recorded by another host, or before runs recorded their process)."""
    if pid is None or host != socket.gethostname():
        return None
    if started is not None:
        return process_started(pid) == started
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
