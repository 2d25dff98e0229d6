"""One beat per deployment, however many hosts run ``scangrade workers``: a lease in Redis.

Every host starts beat; each beat takes or renews one lease (``SET NX PX``, renewed by its
holder every second with a compare-and-expire script) and sends the periodic tasks only while
it holds it. When the holder dies its lease expires and another host's beat takes it within
``SCANGRADE_BEAT_LEASE_S``; a holder that stops cleanly gives it back at once.

Why no two beats send at once, even for a moment:

- A holder believes it holds the lease until ``ttl`` x ``(1 - DRIFT)`` after it *sent* the
  request that set or renewed it, so its belief ends before Redis lets the key expire.
- Every message a holder sends carries its lease token (a fencing token). A periodic task runs
  only if the token is the lease's value when it starts (:func:`periodic_run`): a message from
  a beat that lost the lease (paused past its ttl, then resumed) does nothing. A message with
  no token (a task sent by hand) runs only while no beat leads.
- And no two runs of one periodic task overlap: each run holds a short lock, so two ticks that
  do go ahead never lease the same polls' quota twice.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from importlib import resources

import redis
from redis.commands.core import Script

from pipeline.adapters.db.session import timing_queries
from pipeline.adapters.provider import get_redis
from pipeline.telemetry import metrics

log = logging.getLogger(__name__)

LEASE_KEY = "scangrade:beat:leader"
LEADER_KWARG = "leader"
"""The keyword argument that carries the sending beat's lease token to a periodic task."""
RUN_LOCK_PREFIX = "scangrade:periodic:"
RUN_LOCK_S = 30.0
"""A run's lock outlives a worker killed mid-run by this much at most."""
DRIFT = 0.1
"""Share of the lease's life a holder gives up, for clock rates and the request's travel."""


@functools.cache
def _source(name: str) -> str:
    """One script of ``leader.lua`` (each section starts with a ``-- name:`` line)."""
    text = (resources.files("pipeline.runtime") / "leader.lua").read_text(encoding="utf-8")
    sections = dict(s.split("\n", 1) for s in text.split("-- name: ")[1:])
    return sections[name]


def _script(client: redis.Redis, name: str) -> Script:
    return client.register_script(_source(name))


class Lease:
    """One contender for a lease: :meth:`hold` takes or keeps it; ``token`` fences messages."""

    def __init__(
        self,
        client: redis.Redis,
        ttl_s: float,
        key: str = LEASE_KEY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._key = key
        self._ttl_ms = int(ttl_s * 1000)
        self._clock = clock
        self._renew = _script(client, "renew")
        self._release = _script(client, "release")
        self.token: str | None = None
        self._valid_until = 0.0
        self._unreachable = False  # said once per outage, not on every look

    @property
    def valid_until(self) -> float:
        """Until when (on ``clock``) this contender may act as the leader, if it holds it."""
        return self._valid_until

    @property
    def held(self) -> bool:
        """Whether this contender may act as the leader right now."""
        return self.token is not None and self._clock() < self._valid_until

    def hold(self) -> bool:
        """Renew the lease if ours, else try to take it; whether we hold it now."""
        sent = self._clock()
        try:
            kept = self.token is not None and self._renew(
                keys=[self._key], args=[self.token, self._ttl_ms]
            )
            if not kept:
                self._lose()
                self._take()
        except redis.RedisError as e:
            if not self._unreachable:
                log.warning("beat lease: Redis unreachable (%s); leading only until it lapses", e)
            self._unreachable = True
            return self.held
        if self._unreachable:
            log.warning("beat lease: Redis reachable again")
            self._unreachable = False
        if self.token is None:
            self._valid_until = 0.0
            return False
        self._valid_until = sent + self._ttl_ms / 1000 * (1 - DRIFT)
        return self.held

    def _lose(self) -> None:
        if self.token is not None:
            log.warning("beat lease lost: another beat sends the periodic tasks")
        self.token, self._valid_until = None, 0.0

    def _take(self) -> None:
        token = uuid.uuid4().hex
        if self._client.set(self._key, token, nx=True, px=self._ttl_ms):
            self.token = token
            log.info("beat lease taken: this beat sends the periodic tasks")

    def release(self) -> None:
        """Give the lease back (on a clean stop) so another beat need not wait for its ttl."""
        if self.token is None:
            return
        with contextlib.suppress(redis.RedisError):
            self._release(keys=[self._key], args=[self.token])
        self.token = None
        self._valid_until = 0.0


def leader_token(client: redis.Redis) -> str | None:
    """The token of the beat that holds the lease, or None if none does."""
    value = client.get(LEASE_KEY)
    return value.decode() if isinstance(value, bytes) else value


def beat_led() -> bool:
    """Whether some beat of the deployment holds the lease (compose's health check of beat)."""
    try:
        return leader_token(get_redis()) is not None
    except redis.RedisError:
        return False


@contextlib.contextmanager
def periodic_run(client: redis.Redis, task: str, token: str | None) -> Iterator[bool]:
    """Whether this run of a periodic task goes ahead (see the module's docstring).

    Counted in ``scangrade_periodic_runs_total{task, outcome}``: ``ran``, ``not_leader`` (sent
    by a beat that no longer leads, or by hand while one does) or ``overlap`` (a run of the
    same task is under way). A run that went ahead is timed, in all and in its SQL
    (``scangrade_periodic_seconds``, ``scangrade_periodic_query_seconds``).
    """
    lock, mine = RUN_LOCK_PREFIX + task, uuid.uuid4().hex
    outcome = "not_leader"
    if _sent_by_leader(client, token):
        taken = client.set(lock, mine, nx=True, px=int(RUN_LOCK_S * 1000))
        outcome = "ran" if taken else "overlap"
    metrics.periodic_run(task, outcome)
    if outcome != "ran":
        log.debug("%s skipped: %s", task, outcome)
        yield False
        return
    started = time.perf_counter()
    with timing_queries() as queries:
        try:
            yield True
        finally:
            metrics.periodic_timing(task, time.perf_counter() - started, queries.seconds)
            with contextlib.suppress(redis.RedisError):
                _script(client, "release")(keys=[lock], args=[mine])


def _sent_by_leader(client: redis.Redis, token: str | None) -> bool:
    """A beat's message by the lease's holder, or one sent by hand while no beat leads."""
    return token == leader_token(client)
