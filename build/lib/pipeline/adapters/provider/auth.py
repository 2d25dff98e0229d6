"""Access tokens: fetched once, shared by every worker through Redis, refreshed under a lock.

The token is a bearer secret. It lives in Redis and in memory only: never in a log line, an
exception message, a database row or an S3 object. A token the provider rejects (100, 110,
111) is replaced in Redis by ``refresh``, so every worker of every host moves to the new one:
each finds its own memory copy rejected at most once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

import httpx
import redis

from pipeline.errors import AuthFailed, Transient

log = logging.getLogger(__name__)

_REFRESH_MARGIN_S = 300
_MEMO_S = 60.0


@dataclass(frozen=True)
class Credentials:
    """One API key / secret key pair."""

    api_key: str
    secret_key: str

    @property
    def key_id(self) -> str:
        """A fingerprint that names the key in rows and logs without revealing it."""
        return "key-" + hashlib.sha256(self.api_key.encode()).hexdigest()[:12]


class TokenCache:
    """The current access token of one API key, shared through Redis."""

    def __init__(
        self,
        client: redis.Redis,
        http: httpx.Client,
        base_url: str,
        creds: Credentials,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._redis = client
        self._http = http
        self._timeout = timeout or httpx.Timeout(60.0, connect=5.0)
        self._url = base_url.rstrip("/") + "/oauth/2.0/token"
        self._creds = creds
        self._key = f"scangrade:token:{creds.key_id}"
        self._memo: tuple[str, float] | None = None

    def get(self) -> str:
        """A valid token, fetching one if no worker has yet.

        Kept in memory for a minute, so a call needs no Redis round trip for it; a token
        another worker replaced meanwhile is rejected once and refreshed from Redis.
        """
        if self._memo is not None and self._memo[1] > time.monotonic():
            return self._memo[0]
        cached = self._redis.get(self._key)
        if cached is None:
            return self.refresh(stale=None)
        return self._remember(cached.decode() if isinstance(cached, bytes) else str(cached))

    def _remember(self, token: str) -> str:
        self._memo = (token, time.monotonic() + _MEMO_S)
        return token

    def refresh(self, stale: str | None) -> str:
        """Replace ``stale`` with a new token; only one worker asks the provider at a time.

        The rejected token is forgotten in memory first, so a failed fetch leaves nothing
        stale behind to be used again.
        """
        if self._memo is not None and self._memo[0] == stale:
            self._memo = None
        with self._redis.lock(self._key + ":lock", timeout=60, blocking_timeout=60):
            cached = self._redis.get(self._key)
            current = cached.decode() if isinstance(cached, bytes) else cached
            if current is not None and current != stale:
                return self._remember(str(current))  # another worker refreshed it meanwhile
            token, lifetime = self._fetch()
            ttl = max(60, lifetime - _REFRESH_MARGIN_S)
            self._redis.set(self._key, token, ex=ttl)
            self._remember(token)
            log.info("fetched a new access token for %s, valid %d s", self._creds.key_id, lifetime)
            return token

    def _fetch(self) -> tuple[str, int]:
        params = {
            "grant_type": "client_credentials",
            "client_id": self._creds.api_key,
            "client_secret": self._creds.secret_key,
        }
        try:
            response = self._http.post(self._url, params=params, timeout=self._timeout)
            body = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise Transient(f"token endpoint unreachable: {type(e).__name__}") from e
        if not isinstance(body, dict):
            raise Transient(f"token endpoint answered HTTP {response.status_code}, not an object")
        if "access_token" in body:
            try:
                lifetime = int(body.get("expires_in", 2592000))
            except (TypeError, ValueError) as e:
                raise Transient("token endpoint answered an unreadable expires_in") from e
            return str(body["access_token"]), lifetime
        if response.status_code >= 500:
            raise Transient(f"token endpoint answered HTTP {response.status_code}")
        detail = body.get("error_description") or body.get("error") or "no token in answer"
        raise AuthFailed(f"the provider refused key {self._creds.key_id}: {detail}")
