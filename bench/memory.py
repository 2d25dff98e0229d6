"""How much memory ``scangrade workers`` holds: its processes and their resident memory.

A thread samples the supervisor's process tree (every worker node's parent and pool children,
beat) once a second from ``/proc`` and keeps the sample with the largest total. Two totals:
the sum of each process's RSS, which counts a page shared by a forked pool's children once
per child, and the sum of PSS (``smaps_rollup``), which splits each shared page between the
processes that map it: what the tree costs the host. Linux only: elsewhere nothing is measured.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class MemoryUse:
    """One sample of a process tree: how many processes, and their RSS and PSS sums in MB."""

    processes: int
    rss_mb: float
    pss_mb: float | None


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _kb(path: Path, field: str) -> int | None:
    try:
        with path.open() as lines:
            for line in lines:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_memory(root: int) -> MemoryUse:
    """The process tree under ``root`` (included), now."""
    rss = pss = 0
    pss_known = True
    pids = _tree(root)
    for pid in pids:
        rss += _kb(PROC / str(pid) / "status", "VmRSS:") or 0
        one = _kb(PROC / str(pid) / "smaps_rollup", "Pss:")
        pss_known = pss_known and one is not None
        pss += one or 0
    return MemoryUse(len(pids), rss / 1024, pss / 1024 if pss_known else None)


class MemoryMeter:
    """The largest sample (by RSS) of one process tree while it runs."""

    def __init__(self, root: int, interval_s: float = 1.0) -> None:
        self._root = root
        self._interval_s = interval_s
        self.peak: MemoryUse | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-meter", daemon=True)

    def start(self) -> None:
        """Sample in the background until :meth:`stop`."""
        if (PROC / "self" / "status").exists():
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling, after one last sample."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            use = tree_memory(self._root)
            if use.processes > 1 and (self.peak is None or use.rss_mb > self.peak.rss_mb):
                self.peak = use
            if self._stop.wait(self._interval_s):
                return
