"""A task is its key, API and provider id: a provider that restarts or reuses ids never leaves
a page without a task of its own, and never takes an older page's task or results.

Real workers on a stack of this module's own (tests/stacks.py); the simulator is restarted
for real, and its ``/_sim/restart_ids`` switch makes it hand out the ids it gave before.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.batches import wait_until_done
from support.stacks import Stack, private_stack

from devkit.demo import enqueue_demo_scans, write_demo_scans
from devkit.samples import MIXED_MANIFEST, jpeg_bytes, make_page_image, png_bytes
from pipeline.adapters.db.models import Document, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState, TaskState
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider.apis import Choices
from pipeline.domain.routing import routing
from pipeline.stages.enqueue import enqueue_directory
from pipeline.stages.identity import TASK_ID_REUSED
from pipeline.stages.replay import result_tables


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with private_stack(tmp_path_factory.mktemp("identity-logs"), {}) as started:
        yield started


def _pages(batch_id: int, *, live: bool = True) -> list[tuple[int, str, int]]:
    """(page id, state, task rows of its own) of every page; ``live``: rows still naming
    their task at the provider only (not marked ``id_reused_at``)."""
    tasks = select(func.count()).where(ProviderTask.page_id == Page.id)
    if live:
        tasks = tasks.where(ProviderTask.id_reused_at.is_(None))
    with session_scope() as session:
        rows = session.execute(
            select(Page.id, Page.state, tasks.scalar_subquery()).where(Page.batch_id == batch_id)
        )
        return [(page_id, state, count) for page_id, state, count in rows]


def _assert_every_page_has_its_task(batch_id: int, *, live: bool = True) -> None:
    pages = _pages(batch_id, live=live)
    assert pages
    assert [p for p in pages if p[1] not in (PageState.DONE, PageState.SKIPPED)] == []
    assert [p for p in pages if p[1] == PageState.DONE and p[2] != 1] == []


def test_the_demo_batch_three_times_with_the_simulator_restarted(
    stack: Stack, tmp_path: Path
) -> None:
    scans = tmp_path / "2026-12-02"
    for run in range(3):
        if run:
            stack.restart_simulator()
        write_demo_scans(scans)
        report = enqueue_demo_scans(scans, f"demo-{run}")
        wait_until_done(report.batch_id, timeout=300)
        _assert_every_page_has_its_task(report.batch_id)
        with session_scope() as session:
            failed = session.scalars(
                select(Document.rel_path).where(
                    Document.batch_id == report.batch_id, Document.state == "failed"
                )
            ).all()
        assert failed == ["notes.txt"], (run, failed)


# One folder per API, routed by the demo's manifest; each API has an id shape of its own
# at the simulator (19 digits, composition's task-…, a sync answer's log id).
_FOLDERS = {
    "correct_edu": "homework",
    "paper_cut": "exams",
    "composition": "essays",
    "formula": "formulas",
    "custom_ocr": "forms",
}


def _enqueue_pages(root: Path, api: str, seeds: range, name: str) -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / "scangrade.toml").write_text(MIXED_MANIFEST, encoding="utf-8")
    folder = root / _FOLDERS[api]
    folder.mkdir(exist_ok=True)
    for seed in seeds:
        image = make_page_image(seed)
        if api == "formula":
            (folder / f"p{seed}.png").write_bytes(png_bytes(image))
        else:
            (folder / f"p{seed}.jpg").write_bytes(jpeg_bytes(image))
    routes = routing(root, api=None, choices=Choices(), manifest=None, default_endpoint=None)
    return enqueue_directory(root, get_store(), batch_name=name, routes=routes).batch_id


def _results(batch_id: int) -> Counter[tuple[str, int]]:
    """Result rows of the batch's tasks, by table and task row id."""
    counts: Counter[tuple[str, int]] = Counter()
    with session_scope() as session:
        task_rows = select(ProviderTask.id).join(Page).where(Page.batch_id == batch_id)
        for table in result_tables():
            column = table.c.provider_task_id
            for row_id, n in session.execute(
                select(column, func.count()).where(column.in_(task_rows)).group_by(column)
            ):
                counts[(table.name, row_id)] = n
    return counts


def _raw_answers(batch_id: int) -> dict[int, bytes]:
    with session_scope() as session:
        rows = session.execute(
            select(ProviderTask.id, ProviderTask.raw_key)
            .join(Page)
            .where(Page.batch_id == batch_id)
        ).all()
    return {row_id: get_store().get(key) for row_id, key in rows if key}


@pytest.mark.parametrize("api", list(_FOLDERS))
def test_a_reused_task_id_keeps_both_pages_whole(stack: Stack, tmp_path: Path, api: str) -> None:
    stack.sim.post("/_sim/reset").raise_for_status()  # ids from here on are the ones reused
    before = _enqueue_pages(tmp_path / "before", api, range(900, 903), f"{api}-before")
    wait_until_done(before)
    _assert_every_page_has_its_task(before)
    results, raw = _results(before), _raw_answers(before)
    assert results, "the first batch wrote no result rows"

    stack.sim.post("/_sim/restart_ids").raise_for_status()
    after = _enqueue_pages(tmp_path / "after", api, range(910, 913), f"{api}-after")
    wait_until_done(after)

    _assert_every_page_has_its_task(after)
    _assert_every_page_has_its_task(before, live=False)  # its own rows, marked reused
    with session_scope() as session:
        reused = session.scalar(
            select(func.count())
            .select_from(ProviderTask)
            .join(Page)
            .where(Page.batch_id == before, ProviderTask.id_reused_at.is_not(None))
        )
        old_ids = set(
            session.scalars(select(ProviderTask.task_id).join(Page).where(Page.batch_id == before))
        )
        new_ids = set(
            session.scalars(select(ProviderTask.task_id).join(Page).where(Page.batch_id == after))
        )
    assert reused and old_ids & new_ids, "the simulator reused no id: the test proves nothing"
    assert _results(before) == results
    assert _raw_answers(before) == raw


def test_a_running_task_whose_id_is_reused_fails_its_page_loudly(
    stack: Stack, tmp_path: Path
) -> None:
    stack.sim.post("/_sim/reset").raise_for_status()
    stack.sim.post("/_sim/config", json={"time_scale": 10}).raise_for_status()  # 2 min a task
    try:
        lost = _enqueue_pages(tmp_path / "lost", "correct_edu", range(920, 922), "lost")
        deadline = time.monotonic() + 60
        while sum(state == PageState.SUBMITTED for _, state, _ in _pages(lost)) < 2:
            assert time.monotonic() < deadline, "the first pages were never submitted"
            time.sleep(0.2)
        stack.sim.post("/_sim/restart_ids").raise_for_status()
    finally:
        stack.sim.post("/_sim/config", json={"time_scale": 0.02}).raise_for_status()
    after = _enqueue_pages(tmp_path / "after", "correct_edu", range(930, 932), "lost-after")
    wait_until_done(after)
    wait_until_done(lost, timeout=30)

    _assert_every_page_has_its_task(after)
    with session_scope() as session:
        pages = session.execute(
            select(Page.state, Page.error_code, Page.error).where(Page.batch_id == lost)
        ).all()
        tasks = session.execute(
            select(ProviderTask.state, ProviderTask.error_code, ProviderTask.id_reused_at)
            .join(Page)
            .where(Page.batch_id == lost)
        ).all()
    assert [(state, code) for state, code, _ in pages] == [("failed", TASK_ID_REUSED)] * 2
    assert all("still running" in (error or "") for _, _, error in pages)
    assert all(
        state == TaskState.FAILED and code == TASK_ID_REUSED and reused is not None
        for state, code, reused in tasks
    )
    status = subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", "status", "lost"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert TASK_ID_REUSED in status.stdout + status.stderr
