"""Where a scenario's CPU goes: seconds of CPU per part of the system, read from ``/proc``.

The ceiling scenario sets the pipeline's pages per second against bare Celery hops on the same
workers. On a small host both are bound by the CPU, so what explains their ratio is the CPU
each page costs and who spends it: each stage's workers, Postgres, and the local stand-ins for
the outside world (the simulator decodes and renders every result image it serves, moto stores
every object), which share the host with the pipeline here but not in production.

A thread samples the cumulative CPU time (user + system) of every process of the scenario a
few times a second and keeps the last value of each, so processes that come and go (the
enqueue command, a restarted worker) still count. The same samples keep each part's largest
process (resident memory), which must not grow with the batch (``bench.scale``). Linux only:
elsewhere nothing is measured.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_MB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) / 2**20
_WORKER_NAME = re.compile(r" -n ([a-z]+)[-@]")

PARTS = (
    "enqueue",
    "ingest",
    "submit",
    "poll",
    "persist",
    "control",
    "beat",
    "postgres",
    "simulator",
    "s3",
)
"""The parts reported, in the order a page meets them; stage workers by their queue name."""
STAND_INS = frozenset({"simulator", "s3"})
"""Parts that stand in for the provider and the object store: not the pipeline's own CPU."""


@dataclass(frozen=True)
class _Process:
    pid: int
    parent: int
    started: int
    cmdline: str
    cpu_s: float
    rss_mb: float


def _processes() -> list[_Process]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / _TICKS
        rss_mb = int(fields[21]) * _PAGE_MB
        pid, parent, started = int(entry.name), int(fields[1]), int(fields[19])
        found.append(_Process(pid, parent, started, cmdline, cpu_s, rss_mb))
    return found


class CpuMeter:
    """Cumulative CPU seconds by part, for the process trees of ``roots`` and one database."""

    def __init__(self, database: str | None, interval_s: float = 0.2) -> None:
        self._roots: dict[int, str] = {}
        self._database = database
        self._interval_s = interval_s
        self._last: dict[tuple[int, int], tuple[str, float]] = {}
        self._largest_mb: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)

    @property
    def available(self) -> bool:
        """Whether this host has a ``/proc`` to read."""
        return (PROC / "self" / "stat").exists()

    def watch(self, part: str, pid: int) -> None:
        """Count ``pid`` and every process under it as ``part`` (workers: by their queue)."""
        with self._lock:
            self._roots[pid] = part

    def start(self) -> None:
        """Sample in the background until :meth:`stop`."""
        if self.available:
            self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def totals(self) -> dict[str, float]:
        """CPU seconds by part so far (sampled now)."""
        if self.available:
            self._sample()
        with self._lock:
            totals: dict[str, float] = {}
            for part, cpu_s in self._last.values():
                totals[part] = totals.get(part, 0.0) + cpu_s
            return totals

    def largest_mb(self) -> dict[str, float]:
        """Each part's largest resident process so far, in MB (the largest sample of any)."""
        with self._lock:
            return dict(self._largest_mb)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        processes = _processes()
        by_pid = {p.pid: p for p in processes}
        with self._lock:
            roots = dict(self._roots)
        for process in processes:
            key = (process.pid, process.started)
            with self._lock:
                known = self._last.get(key)
            # An exited child not yet reaped (a zombie: an ingest child replaced after its
            # tasks) has lost its command line but not its CPU time: it stays in its part.
            if known is not None and not process.cmdline:
                part: str | None = known[0]
            else:
                part = self._part(process, by_pid, roots)
            if part is not None:
                with self._lock:
                    self._last[key] = (part, process.cpu_s)
                    if process.rss_mb > self._largest_mb.get(part, 0.0):
                        self._largest_mb[part] = process.rss_mb

    def _part(
        self, process: _Process, by_pid: Mapping[int, _Process], roots: Mapping[int, str]
    ) -> str | None:
        if self._database and process.cmdline.startswith("postgres:"):
            return "postgres" if f" {self._database} " in process.cmdline else None
        ancestor: _Process | None = process
        while ancestor is not None and ancestor.pid not in roots:
            ancestor = by_pid.get(ancestor.parent)
        if ancestor is None:
            return None
        part = roots[ancestor.pid]
        if part != "workers":
            return part
        worker = _WORKER_NAME.search(process.cmdline)
        if worker is not None:
            return worker.group(1)
        return "beat" if " beat" in process.cmdline else "supervisor"


def per_unit_ms(
    start: Mapping[str, float], end: Mapping[str, float], units: int
) -> dict[str, float]:
    """Milliseconds of CPU per unit (page, chain) spent by each part between two totals."""
    if units <= 0:
        return {}
    return {
        part: 1000 * (end.get(part, 0.0) - start.get(part, 0.0)) / units
        for part in end
        if end.get(part, 0.0) > start.get(part, 0.0)
    }
