"""The beat's lease on a Redis that goes away and comes back, with a stand-in client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis

from pipeline.runtime.leader import Lease


class _Flaky:
    """The two calls a lease makes (its scripts and ``SET NX``), failing while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.value: str | None = None

    def register_script(self, source: str) -> Callable[..., Any]:
        def run(keys: list[str], args: list[Any]) -> int:
            self._reach()
            return int(self.value == args[0])

        return run

    def set(self, key: str, value: str, nx: bool, px: int) -> bool:
        self._reach()
        if self.value is None:
            self.value = value
            return True
        return False

    def _reach(self) -> None:
        if self.down:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")


def test_an_outage_is_said_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    client = _Flaky()
    lease = Lease(client, ttl_s=5)  # type: ignore[arg-type]
    assert lease.hold()
    client.down = True
    with caplog.at_level(logging.WARNING, logger="pipeline.runtime.leader"):
        looks = [lease.hold() for _ in range(50)]
        assert all(looks)  # still leading: the lease has not lapsed
        client.down = False
        assert lease.hold() and lease.hold()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 2, said
    assert "Redis unreachable" in said[0] and said[1] == "beat lease: Redis reachable again"
