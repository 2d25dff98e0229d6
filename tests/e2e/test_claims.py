"""A submit claim is fenced, given back at once, and never used up by waiting for quota.

Real workers on a stack of this module's own (tests/stacks.py) with a short task time limit
and a reconciler horizon (``stale_after_s``) far longer than the test, so a claim given back
that waited for the horizon would show as a timeout. The limiter's create quota is 1 per
second, so submit workers spend their time waiting for a slot while holding a claim.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.batches import wait_until_done
from support.stacks import Stack, private_stack

from devkit.samples import jpeg_bytes, make_page_image
from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState
from pipeline.adapters.objectstore import get_store
from pipeline.stages.enqueue import enqueue_directory

# A frozen worker host must stay frozen the whole lease: no other run competes for the CPU.
pytestmark = pytest.mark.serial

TIME_LIMIT_S = 6
MAX_ATTEMPTS = 3
SETTINGS = {
    "SCANGRADE_TASK_TIME_LIMIT_S": str(TIME_LIMIT_S),
    "SCANGRADE_STALE_AFTER_S": "300",
    "SCANGRADE_RECONCILE_EVERY_S": "1",
    "SCANGRADE_MAX_PAGE_ATTEMPTS": str(MAX_ATTEMPTS),
    "SCANGRADE_SUBMIT_CONCURRENCY": "2",
    "SCANGRADE_CORRECT_EDU_CREATE_QPS": "1",
    # Short, so waiting pages come back from the limiter (Throttled) again and again.
    "SCANGRADE_LIMITER_MAX_WAIT_S": "0.3",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with private_stack(tmp_path_factory.mktemp("claims-logs"), SETTINGS) as started:
        yield started


def _enqueue(root: Path, seeds: range) -> int:
    root.mkdir(parents=True)
    for seed in seeds:
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(seed, 620, 877)))
    return enqueue_directory(root, get_store(), batch_name=root.name).batch_id


def _held_since(batch_id: int, seconds: float) -> int:
    """Pages claimed for submit at least ``seconds`` ago and still ``submitting``."""
    with session_scope() as session:
        query = select(func.count()).where(
            Page.batch_id == batch_id,
            Page.state == PageState.SUBMITTING,
            Page.updated_at < func.now() - timedelta(seconds=seconds),
        )
        return int(session.scalar(query) or 0)


def _count(batch_id: int, *states: str) -> int:
    with session_scope() as session:
        query = select(func.count()).where(Page.batch_id == batch_id, Page.state.in_(states))
        return int(session.scalar(query) or 0)


def _worker_pids(stack: Stack, name: str) -> list[int]:
    """Every process of one named worker node of ``stack``: the Celery parent and its child.

    Only the stack's own process group: the session's shared workers carry the same names.
    """
    pids = []
    for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            group = os.getpgid(pid)
        except OSError:
            continue
        mine = group == stack.workers.process.pid
        if mine and b"celery" in cmdline and f"{name}@".encode() in cmdline:
            pids.append(pid)
    return pids


def _signal(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _await_a_claim(batch_id: int, timeout_s: float = 5.0) -> None:
    """Return as soon as a page of the batch is claimed for submit (or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not _held_since(batch_id, 0) and time.monotonic() < deadline:
        time.sleep(0.02)


def _freeze_holding_a_claim(stack: Stack, batch_id: int) -> list[int]:
    """SIGSTOP the submit node (parent and children: a frozen host) while it holds a claim."""
    for _ in range(50):
        pids = _worker_pids(stack, "submit")
        assert pids, "no submit node"
        _await_a_claim(batch_id)  # a claim is held ~0.3 s at a time: freeze in one
        _signal(pids, signal.SIGSTOP)
        time.sleep(2.0)
        # Claimed before the freeze: a running submit never holds a claim as long as its
        # longest wait for a slot (0.3 s) and one call.
        if _held_since(batch_id, 1.8):
            return pids
        _signal(pids, signal.SIGCONT)
        time.sleep(0.3)
    raise AssertionError("the submit node never held a claim when frozen")


def test_a_worker_frozen_past_its_time_limit_pays_for_nothing_twice(
    stack: Stack, tmp_path: Path
) -> None:
    stack.sim.post("/_sim/reset").raise_for_status()
    batch_id = _enqueue(tmp_path / "frozen", range(600, 612))
    deadline = time.monotonic() + 180  # workers start slowly on a loaded host
    while _count(batch_id, PageState.SUBMITTED, PageState.PERSISTING, PageState.DONE) < 2:
        assert time.monotonic() < deadline, "the batch never got going"
        time.sleep(0.2)
    pids = _freeze_holding_a_claim(stack, batch_id)
    frozen_at = time.monotonic()
    try:
        # The reconciler takes the claim back once the time limit and its grace have passed.
        time.sleep(TIME_LIMIT_S + 10 + 6)
    finally:
        _signal(pids, signal.SIGCONT)
    wait_until_done(batch_id, timeout=120)
    took = time.monotonic() - frozen_at

    assert _count(batch_id, PageState.DONE) == 12
    uploads = stack.sim.get("/_sim/uploads").json()["uploads"]
    creates = sorted(len(u["task_ids"]) for u in uploads.values())
    assert creates == [1] * 12, uploads
    calls = stack.sim.get("/_sim/stats").json()["calls"]
    assert "18" not in calls.get("correct_edu.create_task", {}), calls
    # Frozen for time limit + grace + 6 s, then the rest of the batch: nowhere near the
    # 300 s a claim given back would wait for the reconciler's horizon.
    assert took < 90, f"the batch took {took:.0f} s after the freeze"


def test_waiting_for_a_slot_never_uses_up_a_pages_attempts(stack: Stack, tmp_path: Path) -> None:
    stack.sim.post("/_sim/reset").raise_for_status()
    log = stack.logs / "workers.log"
    throttled_before = log.read_text(errors="replace").count("Throttled")
    pages = 12
    batch_id = _enqueue(tmp_path / "throttled", range(700, 700 + pages))
    deadline = time.monotonic() + 180  # workers start slowly on a loaded host
    while _count(batch_id, PageState.SUBMITTED, PageState.PERSISTING, PageState.DONE) < 4:
        assert time.monotonic() < deadline, "the batch never got going"
        time.sleep(0.2)
    # By now every page still waiting came back from the limiter several times; each of the
    # next two create_task calls meets one real fault.
    rule = {"operation": "correct_edu.create_task", "error_code": 282000, "count": 2}
    stack.sim.post("/_sim/faults", json={"rules": [rule]}).raise_for_status()
    wait_until_done(batch_id, timeout=120)

    faults = stack.sim.get("/_sim/stats").json()["calls"]["correct_edu.create_task"]
    assert faults.get("282000") == 2, faults
    throttled = log.read_text(errors="replace").count("Throttled") - throttled_before
    assert throttled > 3 * MAX_ATTEMPTS, throttled
    with session_scope() as session:
        failed = session.execute(
            select(Page.id, Page.error_code).where(
                Page.batch_id == batch_id, Page.state == PageState.FAILED
            )
        ).all()
    assert failed == []
    assert _count(batch_id, PageState.DONE) == pages
