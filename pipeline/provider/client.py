"""The provider's HTTP API, spoken with httpx: the only module that calls it.

Every URL derives from ``SCANGRADE_BAIDU_BASE_URL``. Each call first takes a slot from the
account-wide limiter, then classifies the answer by its ``error_code`` (an int or a string,
usually with HTTP 200) into scangrade's errors. A rejected token is refreshed once, and the
call retried once. Messages name the API and the code, never the URL: it carries the token.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from pipeline.errors import RateLimited, ScangradeError, TokenRejected, Transient
from pipeline.provider.auth import Credentials, TokenCache
from pipeline.provider.errors import error_for
from pipeline.provider.limiter import RateLimiter
from pipeline.settings import Api, Operation, Settings

log = logging.getLogger(__name__)


class Throttled(RateLimited):
    """The limiter's next slot is too far away to wait for in a worker; come back later."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UrlExpired(ScangradeError):
    """A signed result URL no longer works (its lifetime passed, or it never did)."""


@dataclass(frozen=True)
class CreatedTask:
    """What create_task answered."""

    task_id: str
    log_id: Decimal | None


class ProviderClient:
    """Calls one API key's quota of the provider."""

    def __init__(
        self, settings: Settings, creds: Credentials, redis_client: redis.Redis, http: httpx.Client
    ) -> None:
        self._settings = settings
        self._base = settings.baidu_base_url.rstrip("/")
        self._http = http
        self._redis = redis_client
        self.creds = creds
        self.tokens = TokenCache(redis_client, http, self._base, creds)
        self._limiters: dict[tuple[str, str], RateLimiter] = {}

    def limiter(self, api: Api, op: Operation) -> RateLimiter:
        """The shared limiter of this key's quota for one operation."""
        if (api, op) not in self._limiters:
            name = f"{self.creds.key_id}:{api}:{op}"
            qps = self._settings.qps(api, op)
            self._limiters[(api, op)] = RateLimiter(self._redis, name, qps)
        return self._limiters[(api, op)]

    def create_task(self, api: Api, image: bytes, options: dict[str, Any]) -> CreatedTask:
        """Submit one page image; the provider starts grading it."""
        body = {**options, "image": base64.b64encode(image).decode("ascii")}
        answer = self.call(api, "create_task", body)
        result = answer.get("result") or {}
        task_id = result.get("task_id") if isinstance(result, dict) else None
        if not task_id:
            raise Transient(f"{api} create_task answered without a task_id")
        log_id = answer.get("log_id")
        return CreatedTask(str(task_id), Decimal(str(log_id)) if log_id is not None else None)

    def get_result(self, api: Api, task_id: str) -> dict[str, Any]:
        """The task's current answer, finished or not."""
        return self.call(api, "get_result", {"task_id": task_id})

    def call(self, api: Api, op: Operation, body: dict[str, Any]) -> dict[str, Any]:
        """One rate-limited call, with one token refresh if the token was rejected."""
        token = self.tokens.get()
        try:
            return self._call_once(api, op, body, token)
        except TokenRejected:
            log.warning("%s %s: access token rejected, refreshing once", api, op)
            return self._call_once(api, op, body, self.tokens.refresh(stale=token))

    def _call_once(
        self, api: Api, op: Operation, body: dict[str, Any], token: str
    ) -> dict[str, Any]:
        wait = self.limiter(api, op).acquire()
        if wait > 0:
            raise Throttled(f"{api} {op}: quota fully booked for {wait:.1f} s", wait)
        url = f"{self._base}/rest/2.0/ocr/v1/{api}/{op}"
        try:
            response = self._http.post(url, params={"access_token": token}, json=body)
        except httpx.HTTPError as e:
            raise Transient(f"{api} {op}: {type(e).__name__} talking to the provider") from e
        return _answer(response, f"{api} {op}")

    def fetch(self, url: str) -> bytes:
        """Download a signed result URL (no token: the signature is the credential)."""
        try:
            response = self._http.get(url)
        except httpx.HTTPError as e:
            raise Transient(f"fetching {strip_query(url)}: {type(e).__name__}") from e
        if response.status_code in (401, 403, 404):
            raise UrlExpired(f"{strip_query(url)} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise Transient(f"{strip_query(url)} answered HTTP {response.status_code}")
        return response.content


def _answer(response: httpx.Response, context: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as e:
        raise Transient(f"{context}: HTTP {response.status_code}, body is not JSON") from e
    if not isinstance(body, dict):
        raise Transient(f"{context}: HTTP {response.status_code}, unexpected JSON")
    code = _error_code(body.get("error_code"))
    if code:
        raise error_for(code, str(body.get("error_msg", "")), context)
    if response.status_code >= 500:
        raise Transient(f"{context}: HTTP {response.status_code}")
    return body


def _error_code(raw: object) -> int:
    """``error_code`` as the int it means: the provider sends 0, "0", or nothing."""
    if raw is None or raw == "":
        return 0
    try:
        return int(str(raw))
    except ValueError:
        return -1


def strip_query(url: str) -> str:
    """The URL without its query string, where signatures and tokens live."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
