"""On a host short of CPU, the stages that spend the provider's quota run first."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.nudges import BACKGROUND_QUEUES
from pipeline.settings import Settings
from pipeline.standins import Service

PROC = Path("/proc")


@dataclass(frozen=True)
class _Process:
    pid: int
    parent: int
    nice: int
    argv: tuple[str, ...]


def _processes() -> dict[int, _Process]:
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
        pid = int(entry.name)
        found[pid] = _Process(
            pid, int(fields[1]), int(fields[16]), tuple(a.decode() for a in argv if a)
        )
    return found


def _descendants(root: int, processes: dict[int, _Process]) -> list[_Process]:
    children: dict[int, list[_Process]] = {}
    for process in processes.values():
        children.setdefault(process.parent, []).append(process)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def _queues(process: _Process) -> frozenset[str]:
    argv = process.argv
    return frozenset(argv[argv.index("-Q") + 1].split(",")) if "-Q" in argv else frozenset()


def _pools(workers: Service) -> dict[int, tuple[_Process, list[_Process]]]:
    """Every Celery worker under the supervisor with its pool's children, once all have one."""
    deadline = time.monotonic() + 60
    while True:
        processes = _processes()
        tree = _descendants(workers.process.pid, processes)
        mains = [p for p in tree if p.parent == workers.process.pid and _queues(p)]
        pools = {m.pid: (m, [p for p in tree if p.parent == m.pid]) for m in mains}
        if pools and all(children for _, children in pools.values()):
            return pools
        assert time.monotonic() < deadline, "worker pools did not start within 60 s"
        time.sleep(0.5)


def test_persist_and_archive_workers_yield_the_cpu_to_the_others(
    workers: Service, env: Settings
) -> None:
    supervisor = _processes()[workers.process.pid]
    pools = _pools(workers)
    assert {q for main, _ in pools.values() for q in _queues(main)} > BACKGROUND_QUEUES
    background = supervisor.nice + env.background_nice
    assert env.background_nice > 0
    for main, children in pools.values():
        expected = background if _queues(main) <= BACKGROUND_QUEUES else supervisor.nice
        # The pool's child inherits it: it is the process that does the work.
        assert {p.nice for p in (main, *children)} == {expected}, main.argv
