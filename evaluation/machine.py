"""Facts about the machine and processes that benchmark figures depend on: cores, memory, RSS, disk use."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from pathlib import Path


def _meminfo_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict[str, object]:
    """Cores this process may use, total memory, CPU model and Python: what the figures were measured on."""
    total = _meminfo_kib("MemTotal")
    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(total / 1024 / 1024, 1) if total else None,
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def children_peak_rss_mib() -> float:
    """Peak resident memory of the largest finished child process (e.g. an indexing worker)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def cpu_ticks() -> tuple[int, int] | None:
    """(all, idle) clock ticks of every core since boot, from /proc/stat; their differences between two
    reads give how busy the machine was meanwhile."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(value) for value in first[1:]]
    return sum(ticks), ticks[3] + ticks[4]  # idle and iowait


def busy_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[0] <= before[0]:
        return None
    return round(100 * (1 - (after[1] - before[1]) / (after[0] - before[0])), 1)


def process_tree(pid: int) -> list[int]:
    """The process and every process below it (a server's workers), from each process's parent in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, waiting = [], [pid]
    while waiting:
        current = waiting.pop()
        tree.append(current)
        waiting.extend(children.get(current, []))
    return tree


def process_rss_mib(pid: int) -> dict[str, float | None]:
    """Current and peak resident memory of another process and the processes below it (a server's workers),
    summed from /proc/<pid>/status (a page the workers share is counted in each of them)."""
    totals = {"rss_mib": 0, "peak_rss_mib": 0}
    found = False
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            for key, field in (("rss_mib", "VmRSS:"), ("peak_rss_mib", "VmHWM:")):
                if line.startswith(field):
                    totals[key] += int(line.split()[1])
                    found = True
    if not found:
        return {"rss_mib": None, "peak_rss_mib": None}
    return {key: round(kib / 1024, 1) for key, kib in totals.items()}


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time another process and the processes below it have used so far (all their
    threads), from /proc/<pid>/stat."""
    ticks, found = 0, False
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        # Fields after the command name (in parentheses, which may itself hold spaces): utime and stime are
        # the 14th and 15th fields of the whole line, in clock ticks.
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
        found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


def directory_mib(path: Path) -> float:
    """Bytes on disk under a directory (file sizes), in MiB."""
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0
    return round(total / 1024 / 1024, 2)


def code_version(folder: Path) -> dict[str, object]:
    """The git commit the figures were measured at, and whether uncommitted changes were present."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "uncommitted_changes": bool(status) if status is not None else None}
