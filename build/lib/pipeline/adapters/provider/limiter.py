"""The provider's quota, shared by every worker on every host, kept in Redis.

A GCRA (generic cell rate algorithm) on the store's own clock, so host clocks do not matter.
A caller *reserves* the next free slot of a lane (one API key's quota for one operation) and
sleeps until it: one round trip, no polling of the limiter and no ping-pong through the
broker. If the next free slot is further away than ``max_wait_s`` nothing is reserved and the
caller is told how long to wait, so a worker never holds its slot for long.

The same round trip spreads work over a pool of API keys: given several lanes (the same
operation on different keys) the store takes the one whose next slot comes first, skipping
keys that are parked (17/19, or their daily budget spent) and lanes whose daily call budget is
used up. Every slot taken is counted in the key's calls of the day, so budgets need no extra
round trip either.

Slots are spaced ``(1 + margin) / qps`` apart, but a slot is only when a call may *leave*: the
provider counts a call when it *arrives*, in a sliding second, and between the two lie a
woken-up process waiting for a CPU, the upload and the provider's own queue. On a busy host
that is tens of milliseconds, more than any margin worth paying for, and two calls a second
apart by their slots arrive less than a second apart (error 18). So each lane also keeps a
*window* (:meth:`Limiter.enter_window`, :meth:`Limiter.leave_window`): the calls of the last
second, each stamped with the latest moment the provider can have counted it, which is when its
answer came back (until then, ``HOLD_S`` after it was sent). Right before sending, a call
enters the window only if fewer than the quota's calls are stamped within the last second;
leaving stamps it. A call arrives after it entered and every earlier call before it was
stamped, so no second can ever see more calls than the quota, however late any of them
arrives. That costs two more round trips per call and, where answers are slower than the
margin, their latency in throughput. The GCRA is re-based on the calls that actually leave,
so reservations never run ahead of them.

A call takes all three steps through :meth:`Limiter.slot`: ``with limiter.slot(lanes, s) as
grant:`` reserves, sleeps, enters the window, and leaves it when the block ends, however it
ends. The rule lives here; its state lives behind :class:`LimiterBackend`, each operation one
atomic step: :class:`~pipeline.adapters.provider.limiter_redis.RedisBackend` runs them as Lua
scripts (``limiter_*.lua``) in the Redis every worker shares, and
:class:`~pipeline.adapters.provider.limiter_fake.FakeBackend` keeps them in memory with the
same semantics, so the rule is tested without a server.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from pipeline.errors import Transient
from pipeline.telemetry import metrics

STATS_KEY = "scangrade:limiter:stats"
"""Hash of counters: ``round_trips`` (every script run), ``waited`` (slots slept for),
``refused`` (too far), ``held`` (calls that found their window full and waited again)."""

WINDOW_S = 1.0
"""The provider's quota window: at most ``qps`` calls arrive in any second."""
WINDOW_SLACK_S = 0.002
"""Added to the window: the provider's clock and Redis' may tick at slightly different rates."""
HOLD_S = 5.0
"""How late after entering the window an unanswered call may still arrive at the provider.

A call still unanswered after this is taken to have arrived by then (a hung call must not
close a lane for the whole HTTP timeout); its answer, whenever it comes, stamps it again.
"""
RECHECK_S = 0.05
"""How soon to look again when the window is full of calls still waiting for their answer."""

_DAY_OFFSET_S = 8 * 3600
"""The provider's day (its daily limits, error 17) turns at midnight in China (UTC+8)."""


def provider_day(now: float | None = None) -> int:
    """Days since the epoch in the provider's time zone: the key of a day's call counter."""
    return int(((time.time() if now is None else now) + _DAY_OFFSET_S) // 86400)


def seconds_to_day_end(now: float | None = None) -> float:
    """Seconds until the provider's day turns (when a daily limit is lifted)."""
    now = time.time() if now is None else now
    return (provider_day(now) + 1) * 86400 - _DAY_OFFSET_S - now


def parked_key(key_id: str) -> str:
    """Redis key of an API key's parked flag (its value is the reason)."""
    return f"scangrade:key:{key_id}:parked"


def calls_key(key_id: str, day: int | None = None) -> str:
    """Redis key counting an API key's calls on one provider day."""
    return f"scangrade:key:{key_id}:calls:{provider_day() if day is None else day}"


@dataclass(frozen=True)
class Lane:
    """One API key's quota for one operation of one API."""

    key_id: str
    api: str
    op: str
    qps: float
    daily_limit: int | None = None
    """Calls of the key per day after which this lane takes no more (None: no budget)."""

    @property
    def interval_us(self) -> int:
        """Microseconds between slots; 0 when the quota is unlimited."""
        return 0 if self.qps <= 0 else round(1_000_000 / self.qps)

    @property
    def tat_key(self) -> str:
        """Redis key of the lane's theoretical arrival time (the next free slot)."""
        return f"scangrade:limiter:{self.key_id}:{self.api}:{self.op}"

    @property
    def window_key(self) -> str:
        """Redis key of the lane's calls of the last second (see :meth:`Limiter.enter_window`)."""
        return f"{self.tat_key}:window"

    @property
    def per_window(self) -> int:
        """Calls the provider admits in one window (0: unlimited)."""
        return 0 if self.qps <= 0 else math.ceil(self.qps)


@dataclass(frozen=True)
class Grant:
    """The answer to one reservation.

    ``lane`` is the lane granted, or the one that came closest when refused; None when every
    lane is closed (parked or out of budget). ``wait_s`` is the sleep before the slot, or how
    long to come back after when refused. ``spent`` lists lanes over their daily budget.
    """

    granted: bool
    lane: Lane | None
    wait_s: float
    spent: tuple[Lane, ...] = ()
    at_s: float = 0.0
    """The slot's time by the backend's clock (Redis' in production; seconds since the epoch)."""
    held: bool = False
    """From :meth:`Limiter.slot` only: the call has its place in the lane's window; send it."""

    @property
    def outcome(self) -> str:
        """How the reservation went: ``immediate``, ``waited``, ``refused`` or ``closed``."""
        if self.lane is None:
            return "closed"
        if not self.granted:
            return "refused"
        return "waited" if self.wait_s > 0 else "immediate"


@dataclass(frozen=True)
class Reservation:
    """A backend's answer to :meth:`LimiterBackend.reserve`, in its own units."""

    granted: bool
    index: int | None
    """Position of the lane granted (or the closest when refused); None: every lane closed."""
    wait_us: int
    spent: tuple[int, ...]
    """Positions of the lanes over their daily budget."""
    now_us: int
    """The backend's clock when it decided."""


@dataclass(frozen=True)
class Entry:
    """A backend's answer to :meth:`LimiterBackend.enter`."""

    entered: bool
    wait_us: int = 0
    """Not entered: until the call that must drop out of the window does."""
    awaiting: bool = False
    """Not entered, and that call is still unanswered: its answer may free the window sooner."""


class LimiterBackend(Protocol):
    """Where the lanes' state lives: each operation is one atomic step on the store's clock.

    ``limiter_*.lua`` spell each operation out; implementations must agree with them. A store
    that cannot be reached raises :class:`~pipeline.errors.Transient`.
    """

    def reserve(
        self,
        lanes: Sequence[Lane],
        intervals_us: Sequence[int],
        max_wait_us: int,
        window_us: int,
    ) -> Reservation:
        """Take the earliest open slot among ``lanes`` if it comes within ``max_wait_us``.

        Parked keys and lanes out of daily budget are skipped; a slot is not before the lane's
        window has room; the lane taken is booked ``intervals_us[i]`` further on and its key's
        calls of the day counted.
        """
        ...

    def enter(
        self, lane: Lane, call_id: str, interval_us: int, window_us: int, hold_us: int
    ) -> Entry:
        """Stamp ``call_id`` into the lane's window if the window has room for it.

        Room: fewer than ``lane.per_window`` calls stamped within the last ``window_us``. The
        call is stamped as arriving ``hold_us`` from now at the latest, and the lane's next
        slot booked no sooner than ``interval_us`` from now.
        """
        ...

    def leave(self, lane: Lane, call_id: str, window_us: int) -> None:
        """Stamp ``call_id`` with now: its answer came back."""
        ...


class Limiter:
    """Reserves slots in shared lanes, and holds each call's place in its lane's window.

    ``sleep`` and ``monotonic`` are the clock of the caller's waits (a fake one in tests).
    """

    def __init__(
        self,
        backend: LimiterBackend,
        *,
        margin: float = 0.02,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._margin = margin
        self._sleep = sleep
        self._monotonic = monotonic

    @contextlib.contextmanager
    def slot(
        self,
        lanes: Sequence[Lane],
        max_wait_s: float,
        on_spent: Callable[[Lane], None] = lambda lane: None,
    ) -> Iterator[Grant]:
        """A call's place in the quota, held while the ``with`` block sends the call.

        Reserves and sleeps as :meth:`acquire`, then enters the granted lane's window with
        what the sleep left of ``max_wait_s``: together the two waits never hold a worker
        longer. ``grant.held`` says the block may send; the window is left when the block
        ends, however it ends (an answer, an error, an exception). Not held (refused, every
        lane closed, or the window still full at the deadline): nothing is held, nothing to
        leave, and the block must not send. ``on_spent`` gets each lane whose daily budget
        the reservation found spent, before the window is entered: whatever it costs is never
        spent holding a place in the window.
        """
        deadline = self._monotonic() + max_wait_s
        grant = self.acquire(lanes, max_wait_s)
        for spent in grant.spent:
            on_spent(spent)
        lane = grant.lane if grant.granted else None
        call_id = None if lane is None else self.enter_window(lane, self._left(deadline))
        if lane is None or call_id is None:
            yield grant
            return
        try:
            yield replace(grant, held=True)
        finally:
            self.leave_window(lane, call_id)

    def reserve(self, lanes: Sequence[Lane], max_wait_s: float) -> Grant:
        """Reserve the earliest open slot among ``lanes`` if it comes within ``max_wait_s``."""
        answer = self._backend.reserve(
            lanes,
            [self._interval_us(lane) for lane in lanes],
            round(max_wait_s * 1_000_000),
            self._window_us(),
        )
        return Grant(
            answer.granted,
            None if answer.index is None else lanes[answer.index],
            answer.wait_us / 1_000_000,
            tuple(lanes[i] for i in answer.spent),
            (answer.now_us + answer.wait_us) / 1_000_000,
        )

    def acquire(self, lanes: Sequence[Lane], max_wait_s: float) -> Grant:
        """Reserve as :meth:`reserve` does, and sleep until the slot if one was granted."""
        grant = self.reserve(lanes, max_wait_s)
        lane = grant.lane or (lanes[0] if lanes else None)
        if lane is not None:
            slept = grant.wait_s if grant.outcome == "waited" else 0.0
            metrics.limiter_answer(lane.api, lane.op, grant.outcome, slept)
        if grant.granted and grant.wait_s > 0:
            self._sleep(grant.wait_s)
        return grant

    def enter_window(self, lane: Lane, max_wait_s: float) -> str | None:
        """Wait until a call on ``lane`` cannot make a second hold more than the quota.

        Call it right before sending (after :meth:`acquire`), and :meth:`leave_window` with
        the id it returns once the answer is in, whatever it was (:meth:`slot` does both).
        None if the window stays full for longer than ``max_wait_s``: nothing is held then.
        An unlimited lane has no window (no round trip).
        """
        call_id = uuid.uuid4().hex
        if lane.per_window <= 0:
            return call_id
        deadline = self._monotonic() + max_wait_s
        hold_us = round(HOLD_S * 1e6)
        while True:
            entry = self._backend.enter(
                lane, call_id, self._interval_us(lane), self._window_us(), hold_us
            )
            if entry.entered:
                return call_id
            wait_s = entry.wait_us / 1e6
            if entry.awaiting:  # the window empties as the answers still awaited come in
                wait_s = min(wait_s, RECHECK_S)
            if self._monotonic() + wait_s > deadline:
                return None
            self._sleep(wait_s)

    def leave_window(self, lane: Lane, call_id: str) -> None:
        """Stamp a call with the moment its answer (or its failure) came back.

        Never raises: the call has been made, and an unstamped call only keeps its hold.
        """
        if lane.per_window <= 0:
            return
        with contextlib.suppress(Transient):
            self._backend.leave(lane, call_id, self._window_us())

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - self._monotonic())

    def _interval_us(self, lane: Lane) -> int:
        return round(lane.interval_us * (1 + self._margin))

    @staticmethod
    def _window_us() -> int:
        return round((WINDOW_S + WINDOW_SLACK_S) * 1e6)
