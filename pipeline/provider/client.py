"""The provider's HTTP API, spoken with httpx: the only module that calls it.

Every URL derives from ``SCANGRADE_BAIDU_BASE_URL`` and the API's spec (``apis.py``). Each
call first takes a slot from the account-wide limiter, then classifies the answer by its
``error_code`` (an int or a string, usually with HTTP 200) into scangrade's errors. A
rejected token is refreshed once, and the call retried once. Messages name the API and the
code, never the URL: it carries the token.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from pipeline.errors import RateLimited, ScangradeError, TokenRejected, Transient
from pipeline.provider.apis import ApiSpec
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
class Submitted:
    """What sending a page answered: a task to poll, or (synchronous calls) the answer itself."""

    task_id: str
    log_id: str | None
    answer: dict[str, Any] | None = None


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

    def submit(
        self, api: ApiSpec, page: bytes, content_type: str, options: dict[str, Any]
    ) -> Submitted:
        """Send one page: create a task, or (sync APIs, ``only_split``) get the answer at once."""
        body = api.body(page, content_type, options)
        return read_submission(api, options, self.call(api, api.submit_op, body, options))

    def get_result(self, api: ApiSpec, task_id: str) -> dict[str, Any]:
        """The task's current answer, finished or not."""
        return self.call(api, "get_result", {"task_id": task_id}, {})

    def call(
        self, api: ApiSpec, op: Operation, body: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, Any]:
        """One rate-limited call, with one token refresh if the token was rejected."""
        token = self.tokens.get()
        request = _Request(api, op, api.url_path(op, options), body)
        try:
            return self._call_once(request, token)
        except TokenRejected:
            log.warning("%s %s: access token rejected, refreshing once", api.name, op)
            return self._call_once(request, self.tokens.refresh(stale=token))

    def _call_once(self, request: _Request, token: str) -> dict[str, Any]:
        api, op = request.api, request.op
        wait = self.limiter(api.name, op).acquire()
        if wait > 0:
            raise Throttled(f"{api.name} {op}: quota fully booked for {wait:.1f} s", wait)
        url = f"{self._base}/{request.path}"
        payload: dict[str, Any] = (
            {"data": request.body} if api.form_encoded else {"json": request.body}
        )
        try:
            response = self._http.post(url, params={"access_token": token}, **payload)
        except httpx.HTTPError as e:
            raise Transient(f"{api.name} {op}: {type(e).__name__} talking to the provider") from e
        return _answer(response, f"{api.name} {op}", pending_ok=op == "get_result")

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


def read_submission(api: ApiSpec, options: dict[str, Any], answer: dict[str, Any]) -> Submitted:
    """The task id and log id of a successful answer to a page, however they are spelt."""
    log_id = answer.get("log_id")
    log_text = str(log_id) if log_id is not None and str(log_id) != "" else None
    result = answer.get("result")
    task_id = result.get("task_id") if isinstance(result, dict) else None
    task_id = task_id or answer.get("task_id")  # correct_edu's only_split puts it on top
    if not api.is_sync(options):
        if not task_id:
            raise Transient(f"{api.name} create_task answered without a task_id")
        return Submitted(str(task_id), log_text)
    # A synchronous answer may carry no task id (formula, custom_ocr): its log id is the
    # provider's own unique handle of the call; failing that, a fresh one of ours.
    handle = str(task_id) if task_id else f"log-{log_text}" if log_text else _local_id()
    return Submitted(handle, log_text, answer)


@dataclass(frozen=True)
class _Request:
    api: ApiSpec
    op: Operation
    path: str
    body: dict[str, Any]


def _local_id() -> str:
    return f"local-{uuid.uuid4().hex}"


# handwriting_composition answers a still-running task with error_code 1 and this message
# (API_NOTES.md): the one place where the provider says "not yet" only in words.
_PENDING_MESSAGES = frozenset({"pending", "processing"})


def _answer(response: httpx.Response, context: str, *, pending_ok: bool) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as e:
        raise Transient(f"{context}: HTTP {response.status_code}, body is not JSON") from e
    return check_answer(response.status_code, body, context, pending_ok=pending_ok)


def check_answer(status: int, body: object, context: str, *, pending_ok: bool) -> dict[str, Any]:
    """The answer if it is one, else the scangrade error its ``error_code`` means."""
    if not isinstance(body, dict):
        raise Transient(f"{context}: HTTP {status}, unexpected JSON")
    code = _error_code(body.get("error_code"))
    message = str(body.get("error_msg", "")).strip().lower()
    if pending_ok and code == 1 and message in _PENDING_MESSAGES:
        return body
    if code:
        raise error_for(code, str(body.get("error_msg", "")), context)
    if status >= 500:
        raise Transient(f"{context}: HTTP {status}")
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
