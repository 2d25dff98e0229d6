"""Polling: processing times learnt from poll answers, a schedule that spends about one
get_result per task, and no poll after a task is finished."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.models import Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory

# Counts the simulator's calls while polling runs: alone, so a busy CPU cannot add a poll.
pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def polled(
    env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory, simulator: Service
) -> tuple[int, int]:
    """A finished batch, and how many get_result answers the provider had given before it."""
    root = tmp_path_factory.mktemp("polls")
    for seed in range(12):
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(700 + seed)))
    with httpx.Client(base_url=simulator.url) as sim:
        before = _get_result_calls(sim).get("ok", 0)
    report = enqueue_directory(root, get_store(), batch_name="polls")
    wait_until_done(report.batch_id)
    return report.batch_id, before


def _get_result_calls(sim_http: httpx.Client) -> dict[str, int]:
    return dict(sim_http.get("/_sim/stats").json()["calls"].get("correct_edu.get_result", {}))


def test_polls_stop_at_completion(polled: tuple[int, int], sim_http: httpx.Client) -> None:
    polled_batch, _ = polled
    before = _get_result_calls(sim_http)
    time.sleep(3.0)  # three dispatcher ticks
    assert _get_result_calls(sim_http) == before
    with session_scope() as session:
        running = session.scalar(
            select(func.count())
            .select_from(ProviderTask)
            .join(Page)
            .where(Page.batch_id == polled_batch, ProviderTask.state == "running")
        )
        polls = session.scalars(
            select(ProviderTask.polls).join(Page).where(Page.batch_id == polled_batch)
        ).all()
    assert running == 0
    # Every task was polled until its answer came, and each answer was asked for once.
    assert len(polls) == 12 and all(count >= 1 for count in polls)


def test_each_get_result_is_one_recorded_answer(
    polled: tuple[int, int], sim_http: httpx.Client
) -> None:
    batch_id, before = polled
    with session_scope() as session:
        recorded = session.scalar(
            select(func.sum(ProviderTask.polls)).join(Page).where(Page.batch_id == batch_id)
        )
    # No duplicate delivery: the provider answered exactly the polls Postgres recorded.
    assert _get_result_calls(sim_http).get("ok", 0) - before == recorded
