"""Prometheus counters: one /metrics endpoint adds up every worker process of a host.

The end-to-end tests scrape the endpoint that ``scangrade workers`` (the session's workers)
serves on ``SCANGRADE_METRICS_PORT`` before and after a small batch; the others count in
this process or in throw-away processes writing to a multiprocess directory of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, free_port
from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider.client import check_answer
from pipeline.adapters.provider.limiter import Grant, Lane
from pipeline.errors import RateLimited, Transient
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory
from pipeline.telemetry import metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SEEDS = (9301, 9302, 9303)


def _scrape(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and wanted <= got)


def _wait_for(port: int, ready: Callable[[Samples], bool], timeout: float = 30) -> Samples:
    """Counters are written as tasks end, a moment after the rows they change: scrape again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            samples = _scrape(port)
            if ready(samples):
                return samples
        except httpx.HTTPError:
            samples = {}
        if time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


@pytest.fixture(scope="module")
def graded(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory):
    """Scrapes before and after a three-page batch, and the batch's page ids."""
    port = env.metrics_port
    before = _wait_for(port, lambda s: bool(s))
    assert before, f"nothing serves /metrics on {port}"
    root = tmp_path_factory.mktemp("metrics") / "night"
    root.mkdir()
    for seed in SEEDS:
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(seed)))
    report = enqueue_directory(root, get_store(), batch_name="metrics", settle_s=0)
    wait_until_done(report.batch_id)

    def settled(now: Samples) -> bool:
        archived = _total(now, "scangrade_tasks_total", task="scangrade.archive_task")
        return archived - _total(
            before, "scangrade_tasks_total", task="scangrade.archive_task"
        ) >= len(SEEDS)

    after = _wait_for(port, settled)
    with session_scope() as session:
        pages = list(session.scalars(select(Page.id).where(Page.batch_id == report.batch_id)))
    return before, after, pages


def _delta(graded, name: str, **labels: str) -> float:
    before, after, _ = graded
    return _total(after, name, **labels) - _total(before, name, **labels)


def test_every_page_submitted_once_and_polled(graded) -> None:
    answers = "scangrade_provider_answers_total"
    created = _delta(graded, answers, api="correct_edu", operation="create_task", code="0")
    assert created == len(SEEDS)
    assert _delta(graded, answers, api="correct_edu", operation="get_result") >= len(SEEDS)


def test_tasks_counted_by_stage_and_outcome(graded) -> None:
    for task in ("ingest_document", "submit_page", "poll_task", "persist_task", "archive_task"):
        succeeded = _delta(
            graded, "scangrade_tasks_total", task=f"scangrade.{task}", outcome="succeeded"
        )
        assert succeeded >= (1 if task == "ingest_document" else len(SEEDS)), task


def test_limiter_slots_and_pages_done(graded) -> None:
    slots = _delta(graded, "scangrade_limiter_reservations_total", operation="create_task")
    assert slots >= len(SEEDS)
    assert _delta(graded, "scangrade_pages", state="done") == len(SEEDS)


def test_periodic_runs_are_timed_in_all_and_in_their_sql(graded) -> None:
    """Beat's dispatcher ran every second of the batch, each run timed, its SQL within it."""
    for task in ("dispatch_polls", "reconcile"):
        runs = _delta(graded, "scangrade_periodic_runs_total", task=task, outcome="ran")
        timed = _delta(graded, "scangrade_periodic_seconds_count", task=task)
        assert abs(timed - runs) <= 1, task  # a run may be under way at a scrape
    ticks = _delta(graded, "scangrade_periodic_seconds_count", task="dispatch_polls")
    assert ticks >= 1
    query_s = _delta(graded, "scangrade_periodic_query_seconds_sum", task="dispatch_polls")
    assert 0 < query_s <= _delta(graded, "scangrade_periodic_seconds_sum", task="dispatch_polls")


def test_worker_log_lines_name_their_page(graded, logs_dir: Path) -> None:
    """``page N submitted`` comes from the submit stage; ``[batch=B page=N]`` from the ids
    the task and the stage bound."""
    _, _, pages = graded
    with session_scope() as session:
        batch_id = session.scalar(select(Page.batch_id).where(Page.id == pages[0]))
    lines = (logs_dir / "workers.log").read_text(errors="replace").splitlines()
    for page_id in pages:
        assert any(
            f"page {page_id} submitted" in line and f"[batch={batch_id} page={page_id}]" in line
            for line in lines
        ), page_id


def test_answers_are_counted_by_error_code() -> None:
    def count(code: str, operation: str = "create_task") -> float:
        labels = {"api": "correct_edu", "operation": operation, "code": code}
        return REGISTRY.get_sample_value("scangrade_provider_answers_total", labels) or 0.0

    before = count("18"), count("http_502"), count("0", "get_result")
    with pytest.raises(RateLimited):
        check_answer(200, {"error_code": 18}, "correct_edu create_task", pending_ok=False)
    with pytest.raises(Transient):
        check_answer(502, {}, "correct_edu create_task", pending_ok=False, billed=True)
    check_answer(200, {"result": {}}, "correct_edu get_result", pending_ok=True)
    after = count("18"), count("http_502"), count("0", "get_result")
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def test_limiter_outcomes() -> None:
    lane = Lane("key", "paper_cut", "get_result", 10.0)

    def count(outcome: str) -> float:
        labels = {"api": "paper_cut", "operation": "get_result", "outcome": outcome}
        return REGISTRY.get_sample_value("scangrade_limiter_reservations_total", labels) or 0.0

    outcomes = ("immediate", "waited", "refused", "closed")
    before = [count(o) for o in outcomes]
    grants = [Grant(True, lane, 0.0), Grant(True, lane, 0.25), Grant(False, lane, 4.0)]
    for grant in [*grants, Grant(False, None, 0.0)]:
        metrics.limiter_answer(lane.api, lane.op, grant.outcome)
    assert [count(o) - b for o, b in zip(outcomes, before, strict=True)] == [1, 1, 1, 1]


_COUNT_ONCE = (
    "from pipeline.telemetry import metrics; metrics.task_run('scangrade.demo', 'succeeded')"
)


def test_the_supervisors_endpoint_adds_up_every_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_999999.db").write_bytes(b"left by an earlier run")
    port = free_port()
    server = metrics.serve_supervised(Settings(metrics_port=port))
    assert server is not None
    try:
        assert server.env == {
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
            "SCANGRADE_METRICS_PORT": "0",
        }
        assert not (tmp_path / "counter_999999.db").exists()
        for _ in range(3):
            subprocess.run(
                [sys.executable, "-c", _COUNT_ONCE], env={**os.environ, **server.env}, check=True
            )
        samples = _scrape(port)
        key = (
            "scangrade_tasks_total",
            frozenset({("task", "scangrade.demo"), ("outcome", "succeeded")}),
        )
        assert samples[key] == 3
    finally:
        server.close()
    assert tmp_path.exists()  # the operator's directory is emptied, never removed


def test_no_endpoint_when_disabled_or_without_a_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert metrics.serve_supervised(Settings(metrics_port=0)) is None
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert metrics.serve_worker(Settings(metrics_port=free_port())) is None
