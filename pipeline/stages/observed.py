"""What polling has observed of each endpoint and key's processing times, from Postgres.

Every process keeps its own estimate for a few seconds: the submit workers time first polls
with it, the poll workers their next polls, and the dispatcher uses it for early polls. Each
lane's poll plan (``pipeline.domain.polling.poll_plan``) is kept with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider.apis import spec
from pipeline.adapters.provider.keys import PoolKey
from pipeline.domain.polling import Observation, Plan, ProcessingTimes, call_budget, poll_plan
from pipeline.settings import Settings

log = logging.getLogger(__name__)

_FRESH_S = 10.0
_RECENT = 500

_OBSERVED = text(
    """
    SELECT extract(epoch FROM last_pending_at - submitted_at) AS pending_s,
           extract(epoch FROM finished_at - submitted_at) AS finished_s,
           extract(epoch FROM provider_finished_at - provider_created_at) AS provider_s
    FROM provider_tasks
    WHERE api = :api AND key_id = :key_id AND mode = 'async' AND state <> 'failed'
      AND submitted_at > now() - interval '3 hours'
      AND (last_pending_at IS NOT NULL OR finished_at IS NOT NULL)
    ORDER BY id DESC
    LIMIT :recent
    """
)

_cache: dict[tuple[str, str], tuple[float, ProcessingTimes]] = {}
_plans: dict[tuple[str, str, float], tuple[ProcessingTimes, Plan]] = {}


def processing_times(api: str, key_id: str) -> ProcessingTimes:
    """The recent processing times of one API on one key (cached for a few seconds)."""
    cached = _cache.get((api, key_id))
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with session_scope() as session:
        rows = session.execute(_OBSERVED, {"api": api, "key_id": key_id, "recent": _RECENT})
        times = ProcessingTimes(_observations(rows))
    _cache[(api, key_id)] = (time.monotonic() + _FRESH_S, times)
    return times


def _observations(rows: Iterable[Any]) -> list[Observation]:
    """A task's answers: still running at its last pending poll, finished at its last poll.

    Where the provider reports its own start and end, the exact duration replaces both.
    """
    found: list[Observation] = []
    for pending_s, finished_s, provider_s in rows:
        if provider_s is not None and provider_s >= 0:
            exact = float(provider_s)
            found += [Observation(max(0.0, exact - 1e-3), False), Observation(exact, True)]
            continue
        if pending_s is not None:
            found.append(Observation(float(pending_s), False))
        if finished_s is not None:
            found.append(Observation(float(finished_s), True))
    return found


def lane_plan(settings: Settings, api: str, key: PoolKey) -> Plan:
    """How one API's tasks on one key are polled now, from the observed times and the quotas.

    Planned again only when the times are read again (every ``_FRESH_S``).
    """
    times = processing_times(api, key.key_id)
    budget = call_budget(
        settings, key.quotas[(api, spec(api).submit_op)], key.quotas[(api, "get_result")]
    )
    cached = _plans.get((api, key.key_id, budget))
    if cached is not None and cached[0] is times:
        return cached[1]
    plan = poll_plan(settings, times, budget)
    if cached is None or cached[1] != plan:
        log.debug(
            "%s on key %s: first poll at %.1f s, then ×%.2f (%.2f get_result calls a task "
            "affordable, %d observations)",
            api,
            key.key_id,
            plan.first_s,
            plan.backoff,
            budget,
            times.count,
        )
    _plans[(api, key.key_id, budget)] = (times, plan)
    return plan
