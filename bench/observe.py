"""Gathering what one scenario left behind: the simulator's logs, Postgres rows, Redis counters.

Read once, after the batch ended (or timed out), into the plain records of
``bench.metrics``; nothing here computes a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import select

from bench.metrics import Call, PageEnd, PeriodicTotals, SeenTask, SimTask
from pipeline.adapters.db.models import Batch, Page, ProviderTask
from pipeline.adapters.db.session import session_scope

LIMITER_STATS_KEY = "scangrade:limiter:stats"
"""The hash where the pipeline's limiter counts its Redis ``round_trips``."""
_PERIODIC = {
    "scangrade_periodic_seconds": "seconds",
    "scangrade_periodic_query_seconds": "query_seconds",
}
"""The histograms of ``pipeline.telemetry.metrics`` that time the periodic tasks' runs."""


@dataclass(frozen=True)
class BatchRows:
    """The batch's rows in Postgres: when it was created, its pages and its provider tasks."""

    created_at: float | None
    pages: list[PageEnd]
    seen: list[SeenTask]


def simulator_calls(simulator_url: str) -> list[Call]:
    """The simulator's whole call log."""
    body = _get_json(simulator_url, "/_sim/calls")
    return [
        Call(float(at), str(key), str(op), str(outcome)) for at, key, op, outcome in body["calls"]
    ]


def simulator_tasks(simulator_url: str) -> list[SimTask]:
    """Every task the simulator was given, with when its result became ready."""
    body = _get_json(simulator_url, "/_sim/tasks")
    return [
        SimTask(task_id, str(task["api"]), float(task["created_at"]), float(task["ready_at"]))
        for task_id, task in body["tasks"].items()
    ]


def _get_json(base_url: str, path: str) -> dict[str, Any]:
    response = httpx.get(base_url + path, timeout=60)
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{path} answered {type(body).__name__}, not an object")
    return body


def batch_rows(batch_name: str) -> BatchRows:
    """The batch's creation time, every page's end state and every provider task it made."""
    with session_scope() as session:
        batch = session.scalars(select(Batch).where(Batch.name == batch_name)).one_or_none()
        if batch is None:
            return BatchRows(None, [], [])
        pages = session.execute(
            select(Page.state, Page.updated_at).where(Page.batch_id == batch.id)
        ).all()
        tasks = session.execute(
            select(
                ProviderTask.task_id,
                ProviderTask.submitted_at,
                ProviderTask.finished_at,
                ProviderTask.polls,
            )
            .join(Page, Page.id == ProviderTask.page_id)
            .where(Page.batch_id == batch.id)
        ).all()
        created = batch.created_at.timestamp()
    return BatchRows(
        created,
        [PageEnd(state, updated.timestamp()) for state, updated in pages],
        [SeenTask(tid, sub.timestamp(), _epoch(fin), polls) for tid, sub, fin, polls in tasks],
    )


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def limiter_round_trips(redis_url: str) -> int | None:
    """The limiter's Redis round trips, or None where the pipeline does not count them."""
    client = redis.Redis.from_url(redis_url)
    try:
        value = client.hget(LIMITER_STATS_KEY, "round_trips")
    finally:
        client.close()
    return None if value is None else int(value)


def periodic_totals(directory: Path) -> dict[str, PeriodicTotals]:
    """Each periodic task's runs so far, read from the workers' multiprocess metric files."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    sums: dict[str, dict[str, float]] = {}
    for family in registry.collect():
        field = _PERIODIC.get(family.name)
        if field is None:
            continue
        for sample in family.samples:
            task = sample.labels["task"]
            if sample.name == f"{family.name}_sum":
                sums.setdefault(task, {})[field] = sample.value
            elif sample.name == f"{family.name}_count":
                sums.setdefault(task, {})["runs"] = sample.value
    return {
        task: PeriodicTotals(
            int(v.get("runs", 0)), v.get("seconds", 0.0), v.get("query_seconds", 0.0)
        )
        for task, v in sums.items()
    }
