"""Sign-in attempts: a few failures per user name and address, then a wait.

The count lives in Redis, so every process of the web app (and a restart) sees the same
one. The window is fixed from the first failure: after ``limit`` failures in ``window_s``
seconds that name cannot be tried from that address until the window ends, a right password
included. A sign-in that succeeds clears the count.
"""

from __future__ import annotations

import hashlib
from typing import Final

import redis

from pipeline.errors import Transient

LIMIT: Final = 5
WINDOW_S: Final = 15 * 60


class SignInThrottle:
    """Failed sign-ins per (user name, address), counted in Redis."""

    def __init__(self, client: redis.Redis, limit: int = LIMIT, window_s: int = WINDOW_S) -> None:
        self._redis = client
        self.limit = limit
        self.window_s = window_s

    @staticmethod
    def _key(username: str, address: str) -> str:
        # Hashed: neither a typed name nor an address goes into Redis' key space as it is.
        who = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
        return f"scangrade:web:signin:{who}"

    def wait_s(self, username: str, address: str) -> int:
        """Seconds before this name may be tried again from this address; 0: now."""
        key = self._key(username, address)
        try:
            pipe = self._redis.pipeline()
            pipe.get(key)
            pipe.ttl(key)
            failures, ttl = pipe.execute()
        except redis.RedisError as e:
            raise Transient(f"Redis did not answer: {type(e).__name__}") from e
        if failures is None or int(failures) < self.limit:
            return 0
        return max(int(ttl), 1)

    def failed(self, username: str, address: str) -> None:
        """Count one failed sign-in; the first of a window starts its clock."""
        key = self._key(username, address)
        try:
            pipe = self._redis.pipeline()  # MULTI: the window's clock and the count together
            pipe.set(key, 0, ex=self.window_s, nx=True)
            pipe.incr(key)
            pipe.execute()
        except redis.RedisError as e:
            raise Transient(f"Redis did not answer: {type(e).__name__}") from e

    def succeeded(self, username: str, address: str) -> None:
        """Forget the failures of a name that signed in from this address."""
        try:
            self._redis.delete(self._key(username, address))
        except redis.RedisError as e:
            raise Transient(f"Redis did not answer: {type(e).__name__}") from e
