"""The simulator's ids are the provider's: random, unique across restarts, in their shapes;
``/_sim/restart_ids`` makes it hand them out again, for the task identity tests."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from support.services import SIMULATOR_ARGS

from devkit.standins import start_simulator
from simulator.tasks import TaskStore


def _ids(store: TaskStore) -> tuple[list[str], list[str], list[int]]:
    now = time.time()
    numeric = [store.new_task_id(now) for _ in range(5)]
    strings = [store.new_string_task_id() for _ in range(5)]
    logs = [store.new_log_id() for _ in range(5)]
    return numeric, strings, logs


def test_ids_keep_their_shapes_and_never_repeat_after_a_restart() -> None:
    first, second = _ids(TaskStore(seed=0)), _ids(TaskStore(seed=0))  # same --seed, restarted
    for numeric, strings, logs in (first, second):
        assert all(re.fullmatch(r"[1-9]\d{18}", task_id) for task_id in numeric)
        assert all(re.fullmatch(r"task-[A-Za-z0-9]{32}", task_id) for task_id in strings)
        assert all(10**18 <= log_id < 2**63 for log_id in logs)
    for kind in range(3):
        assert not set(first[kind]) & set(second[kind])


def test_processing_times_stay_seeded_by_rank() -> None:
    assert TaskStore(seed=3).schedule_key() == TaskStore(seed=3).schedule_key() == "3:1"


def test_restart_ids_hands_out_the_same_ids_again(tmp_path: Path) -> None:
    store = TaskStore(seed=0)
    before = _ids(store)
    store.ids.restart()
    assert _ids(store) == before
    assert _ids(store) != before  # then fresh ones again
    store.reset()
    store.ids.restart()
    assert not set(_ids(store)[0]) & set(before[0])  # a reset forgets what was issued
    # A simulator of its own: the session's, left replaying, would hand later tests' pages
    # the ids of earlier ones.
    simulator = start_simulator(SIMULATOR_ARGS, tmp_path / "simulator.log")
    try:
        with httpx.Client(base_url=simulator.url) as sim:
            assert sim.post("/_sim/restart_ids").json() == {"ok": True}
    finally:
        simulator.stop()


def test_every_replayed_id_is_handed_out_while_its_task_is_still_stored() -> None:
    """The last id of a replay too: the fault is a provider handing out an id still in use."""
    store = TaskStore(seed=0)
    now = time.time()
    numeric = [store.new_task_id(now) for _ in range(3)]
    strings = [store.new_string_task_id() for _ in range(3)]
    for task_id in numeric + strings:
        store.tasks[task_id] = None  # type: ignore[assignment]  # stored, still running
    store.ids.restart()
    assert [store.new_task_id(now) for _ in range(3)] == numeric
    assert [store.new_string_task_id() for _ in range(3)] == strings
    assert store.new_task_id(now) not in numeric  # then fresh ones again
