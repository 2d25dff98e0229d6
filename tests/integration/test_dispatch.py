"""The poll dispatcher: a quota's worth in flight per key, earliest due first, parked keys left
alone, and spare slots spent on the tail of an API once its submissions are over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from support.batches import FinishedTask, record_finished_task

from pipeline.adapters.db.models import Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.auth import Credentials
from pipeline.adapters.provider.keys import PoolKey, park, pool_from
from pipeline.settings import Settings
from pipeline.stages.dispatch import dispatch_due_polls


def _key(env: Settings, get_qps: float) -> PoolKey:
    quotas = dict(pool_from(env)[0].quotas)
    quotas[("correct_edu", "get_result")] = quotas[("paper_cut", "get_result")] = get_qps
    return PoolKey(Credentials(f"dispatch-{uuid.uuid4().hex[:8]}", "secret"), quotas)


def _set_running(made: FinishedTask, **values: Any) -> None:
    with session_scope() as session:
        session.execute(update(Page).where(Page.id == made.page_id).values(state="submitted"))
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == made.task_row_id)
            .values(state="running", raw_key=None, **values)
        )


def _add_finished(key: PoolKey, api: str, batch: str, batch_id: int, count: int) -> None:
    """``count`` finished tasks of the batch, each after one get_result."""
    for n in range(count):
        record_finished_task(
            b"{}",
            api=api,
            rel_path=f"f{n}.jpg",
            task_id=f"{batch}-finished-{n}",
            batch_id=batch_id,
            page={"state": "done"},
            task={"key_id": key.key_id, "polls": 1},
        )


def _running(
    key: PoolKey,
    api: str,
    due_in_s: list[float],
    age_s: float = 60.0,
    *,
    finished: int = 0,
    polls: int = 0,
    pending_ago_s: float | None = None,
) -> list[int]:
    """Running tasks of one key, each due ``due_in_s`` from now; their row ids.

    ``finished`` more tasks of their batch are finished, each after one get_result; the
    running ones have had ``polls`` answers, the last one ``pending_ago_s`` ago.
    """
    now = datetime.now(UTC)
    batch = f"dispatch-{uuid.uuid4().hex[:8]}"
    first = record_finished_task(
        b"{}", api=api, rel_path="p0.jpg", task_id=f"{batch}-0", batch_name=batch
    )
    ids = []
    for n, due in enumerate(due_in_s):
        made = (
            first
            if n == 0
            else record_finished_task(
                b"{}",
                api=api,
                rel_path=f"p{n}.jpg",
                task_id=f"{batch}-{n}",
                batch_id=first.batch_id,
            )
        )
        pending = None if pending_ago_s is None else now - timedelta(seconds=pending_ago_s)
        _set_running(
            made,
            key_id=key.key_id,
            submitted_at=now - timedelta(seconds=age_s),
            next_poll_at=now + timedelta(seconds=due),
            polls=polls,
            last_pending_at=pending,
        )
        ids.append(made.task_row_id)
    _add_finished(key, api, batch, first.batch_id, finished)
    return ids


def _finish(ids: list[int]) -> None:
    """End the test's rows, so that no worker or later test picks them up."""
    with session_scope() as session:
        pages = session.scalars(
            update(ProviderTask)
            .where(ProviderTask.id.in_(ids))
            .values(state="failed")
            .returning(ProviderTask.page_id)
        ).all()
        session.execute(update(Page).where(Page.id.in_(pages)).values(state="failed"))


def test_a_lane_gets_two_seconds_of_quota_earliest_due_first(env: Settings) -> None:
    key = _key(env, get_qps=2.0)
    ids = _running(key, "correct_edu", [-1.0 * n for n in range(10)])
    try:
        leased = dispatch_due_polls(env, [key], get_redis())
        assert leased == [ids[9], ids[8], ids[7], ids[6]]  # 2 s at 2/s, most overdue first
        assert dispatch_due_polls(env, [key], get_redis()) == []  # still in flight
    finally:
        _finish(ids)


def test_a_parked_key_gets_no_poll(env: Settings) -> None:
    key = _key(env, get_qps=2.0)
    ids = _running(key, "correct_edu", [-5.0, -4.0])
    park(get_redis(), key.key_id, "test: provider answered 17", 60)
    try:
        assert dispatch_due_polls(env, [key], get_redis()) == []
    finally:
        _finish(ids)


@pytest.mark.parametrize("submissions_left", [False, True])
def test_spare_slots_poll_the_tail_early(env: Settings, submissions_left: bool) -> None:
    key = _key(env, get_qps=2.0)
    ids = _running(key, "paper_cut", [30.0, 20.0], finished=8)
    if submissions_left:
        with session_scope() as session:
            page = session.get_one(ProviderTask, ids[0]).page_id
            session.execute(update(Page).where(Page.id == page).values(state="ready"))
    try:
        leased = dispatch_due_polls(env, [key], get_redis())
        assert leased == ([] if submissions_left else [ids[1], ids[0]])
    finally:
        _finish(ids)


def _seed_times(env: Settings) -> Settings:
    """The seeds' poll times: unknown processing times put the expected finish at 26 s."""
    return env.model_copy(update={"poll_first_min_s": 5.0, "poll_first_max_s": 10.0})


def test_early_polls_keep_within_the_budget(env: Settings) -> None:
    """Eight tasks, all tail: at most 1.2 calls per task in all, finals set aside first."""
    settings = _seed_times(env)
    key = _key(env, get_qps=2.0)
    ids = _running(key, "paper_cut", [30.0] * 8)
    try:
        # 8 × 1.2 - 8 finals to come = 1.6: one early poll of the four spare slots.
        assert len(dispatch_due_polls(settings, [key], get_redis())) == 1
        # That one still in flight: 1.6 - 1 leaves no whole call.
        assert dispatch_due_polls(settings, [key], get_redis()) == []
    finally:
        _finish(ids)
    spent = _key(env, get_qps=2.0)
    ids = _running(spent, "paper_cut", [30.0] * 8, polls=1, pending_ago_s=20.0)
    try:
        # Each already asked once and found running: the budget is spent.
        assert dispatch_due_polls(settings, [spent], get_redis()) == []
    finally:
        _finish(ids)


def test_while_times_are_unknown_only_stragglers_are_polled_early(env: Settings) -> None:
    settings = _seed_times(env)
    key = _key(env, get_qps=2.0)
    young = _running(key, "paper_cut", [20.0, 20.0], age_s=15.0, finished=60)
    straggler = _running(key, "paper_cut", [20.0], age_s=40.0, polls=1, pending_ago_s=8.0)
    try:
        leased = set(dispatch_due_polls(settings, [key], get_redis()))
        # 15 s old, first poll due at ~26 s: an early look would most likely find it running.
        assert leased == set(straggler)
    finally:
        _finish(young + straggler)
