"""The pool of API keys: their quotas and budgets, and parking a key the provider stopped.

Pages are spread over the keys by the limiter (each page goes to the key whose next slot comes
first); a task is always polled with the key that created it. A key is *parked* when the
provider answers 17 (daily limit: until the provider's day turns) or 19 (total limit: until the
operator unparks it), or when it spends its daily budget: a parked key receives no call, the
operator is told once, and the batch goes on on the other keys.

A daily budget counts every call of the key. The last tenth of it is kept for polling tasks
already created, so that a key that stops taking new pages can still collect their results.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import redis

from pipeline.adapters.provider.auth import Credentials
from pipeline.adapters.provider.limiter import (
    Lane,
    calls_key,
    parked_key,
    seconds_to_day_end,
)
from pipeline.settings import QPS_FIELDS, Api, ApiKeySettings, Operation, Settings

log = logging.getLogger(__name__)

POLL_RESERVE = 0.1
"""Share of a daily budget that only get_result may use."""


@dataclass(frozen=True)
class PoolKey:
    """One key of the pool with its quotas."""

    creds: Credentials
    quotas: dict[tuple[str, str], float] = field(hash=False)
    daily_budget: int | None = None

    @property
    def key_id(self) -> str:
        """The key's fingerprint, as rows and logs name it."""
        return self.creds.key_id

    def lane(self, api: Api, op: Operation) -> Lane:
        """The key's limiter lane for one operation, with the budget that applies to it."""
        limit = self.daily_budget
        if limit is not None and op != "get_result":
            limit = math.floor(limit * (1 - POLL_RESERVE))
        return Lane(self.key_id, api, op, self.quotas[(api, op)], limit)


def pool_from(settings: Settings) -> list[PoolKey]:
    """The configured keys, each with the quotas of every operation."""
    return [_pool_key(settings, configured) for configured in settings.api_keys()]


def _pool_key(settings: Settings, configured: ApiKeySettings) -> PoolKey:
    quotas: dict[tuple[str, str], float] = {}
    for api, op in QPS_FIELDS:
        quotas[(api, op)] = configured.quotas.get(f"{api}.{op}", settings.qps(api, op))
    creds = Credentials(
        configured.api_key.get_secret_value(), configured.secret_key.get_secret_value()
    )
    return PoolKey(creds, quotas, configured.daily_budget)


def park(client: redis.Redis, key_id: str, reason: str, ttl_s: float | None) -> bool:
    """Park a key (no TTL: until the operator unparks it); True if it was not parked yet."""
    ttl = None if ttl_s is None else max(1, math.ceil(ttl_s))
    newly = bool(client.set(parked_key(key_id), reason, ex=ttl, nx=True))
    if newly:
        until = "until `scangrade keys --unpark`" if ttl is None else f"for {ttl} s"
        log.error(
            "API key %s parked %s: %s. Its tasks in flight wait for it; the batch goes on "
            "with the other keys.",
            key_id,
            until,
            reason,
        )
    return newly


def unpark(client: redis.Redis, key_id: str) -> bool:
    """Let a parked key take calls again; True if it was parked."""
    return bool(client.delete(parked_key(key_id)))


def park_for_the_day(client: redis.Redis, key_id: str, reason: str) -> bool:
    """Park a key until the provider's day turns (its daily limit is lifted then)."""
    return park(client, key_id, reason, seconds_to_day_end())


def budget_spent(client: redis.Redis, key: PoolKey, lane: Lane) -> None:
    """A lane of ``key`` reached its daily budget: park the key, or stop its new pages.

    Out of budget for polls, the key is parked for the day; out of budget for new pages only
    (the poll reserve is left), the operator is told once.
    """
    if lane.op == "get_result":
        park_for_the_day(
            client, key.key_id, f"its daily budget of {key.daily_budget} calls is spent"
        )
    elif client.set(f"scangrade:key:{key.key_id}:reserve-note", 1, ex=3600, nx=True):
        log.error(
            "API key %s has used %d%% of its daily budget of %s calls: it takes no new "
            "pages today and keeps the rest for polling its tasks in flight",
            key.key_id,
            round(100 * (1 - POLL_RESERVE)),
            key.daily_budget,
        )


@dataclass(frozen=True)
class KeyState:
    """What the operator sees of one key."""

    key_id: str
    calls_today: int
    daily_budget: int | None
    parked: str | None
    parked_for_s: float | None


def key_states(client: redis.Redis, pool: list[PoolKey]) -> list[KeyState]:
    """Every key's calls today, budget and parking, for ``scangrade status`` and ``keys``."""
    states = []
    for key in pool:
        reason = client.get(parked_key(key.key_id))
        ttl = client.pttl(parked_key(key.key_id)) if reason is not None else None
        calls = int(client.get(calls_key(key.key_id)) or 0)
        states.append(
            KeyState(
                key.key_id,
                calls,
                key.daily_budget,
                reason.decode() if isinstance(reason, bytes) else reason,
                ttl / 1000 if ttl is not None and ttl > 0 else None,
            )
        )
    return states


def _waiting_key(batch_id: int) -> str:
    return f"scangrade:batch:{batch_id}:waiting"


def note_waiting(client: redis.Redis, batch_id: int, reason: str, ttl_s: float) -> None:
    """Say why ``batch_id``'s pages wait for a key; forgotten after ``ttl_s`` or a page sent."""
    client.set(_waiting_key(batch_id), reason, ex=max(1, math.ceil(ttl_s)))


def stop_waiting(client: redis.Redis, batch_id: int) -> None:
    """A page of the batch went out: its pages no longer wait for a key."""
    client.delete(_waiting_key(batch_id))


def waiting_reason(client: redis.Redis, batch_id: int) -> str | None:
    """Why the batch's pages wait for an API key (no key, every key parked), or None."""
    reason = client.get(_waiting_key(batch_id))
    return reason.decode() if isinstance(reason, bytes) else reason


def warn_once(client: redis.Redis, topic: str, message: str, every_s: int = 3600) -> None:
    """Log ``message`` at ERROR once per ``every_s`` for the whole deployment, else at DEBUG."""
    if client.set(f"scangrade:warned:{topic}", 1, ex=every_s, nx=True):
        log.error("%s", message)
    else:
        log.debug("%s", message)
