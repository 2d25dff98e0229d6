"""Task ids and log ids the way the provider hands them out: unique across restarts.

The provider's ids never repeat, so the source is seeded from fresh entropy at start-up, not
from ``--seed`` (a seeded source gave a restarted simulator the ids of its previous run).
``restart()`` is the fault a restarted provider with a seeded id generator would show: the
ids handed out since start-up are handed out again, in the same order, for the test that a
client never lets a reused id take over (or drop) another page's task.
"""

from __future__ import annotations

import random
import secrets
import string
from collections import defaultdict
from collections.abc import Callable

# The provider's task ids look like Twitter-epoch snowflakes (ms since 2010-11-04 shifted by
# 22 bits); copying that keeps them 19 digits, time-ordered and unique across restarts.
_SNOWFLAKE_EPOCH_MS = 1288834974657
_ALPHABET = string.ascii_letters + string.digits


class IdSource:
    """Fresh random ids of each shape, or, after ``restart()``, the earlier ones again."""

    def __init__(self) -> None:
        self._rng = random.Random(secrets.randbits(64))
        self._issued: defaultdict[str, list[str]] = defaultdict(list)
        self._replayed: dict[str, int] = {}

    def forget(self) -> None:
        """Forget the ids issued so far: a later ``restart()`` repeats only newer ones."""
        self._issued.clear()
        self._replayed = {}

    def restart(self) -> None:
        """Hand out again, from the first, every id issued so far (each shape on its own)."""
        self._replayed = {shape: 0 for shape in self._issued}

    @property
    def replaying(self) -> bool:
        """Whether the next id of some shape repeats an earlier one."""
        return any(self.replays(shape) for shape in self._replayed)

    def replays(self, shape: str) -> bool:
        """Whether the next id of ``shape`` (``numeric``, ``string``...) repeats an earlier one."""
        replayed = self._replayed.get(shape)
        return replayed is not None and replayed < len(self._issued[shape])

    def task_id(self, now: float) -> str:
        """A 19-digit numeric id, time-ordered like the provider's."""
        millis = int(now * 1000) - _SNOWFLAKE_EPOCH_MS
        return self._next("numeric", lambda: str((millis << 22) | self._rng.getrandbits(22)))

    def string_task_id(self) -> str:
        """A ``task-`` + 32 alphanumerics id, handwriting_composition's style."""
        return self._next("string", lambda: "task-" + "".join(self._rng.choices(_ALPHABET, k=32)))

    def log_id(self) -> int:
        """A 19-digit ``log_id``, below 2**63 so it fits a signed bigint."""
        return int(self._next("log", lambda: str(self._rng.randrange(10**18, 2**63))))

    def long_log_id(self) -> str:
        """A 32-digit ``log_id`` string, as handwriting_composition answers with."""
        return self._next("long_log", lambda: str(self._rng.randrange(10**31, 10**32)))

    def _next(self, shape: str, fresh: Callable[[], str]) -> str:
        issued = self._issued[shape]
        replayed = self._replayed.get(shape)
        if replayed is not None and replayed < len(issued):
            self._replayed[shape] = replayed + 1
            return issued[replayed]
        value = fresh()
        issued.append(value)
        return value
