"""The provider's HTTP API, spoken with httpx: the only module that calls it.

Every URL derives from ``SCANGRADE_BAIDU_BASE_URL`` and the API's spec (``apis.py``). Each
call is sent inside a slot of the account-wide limiter (``limiter.py``: a reservation, then
room in its lane's window, given back when the answer is in), then classifies the answer by
its ``error_code`` (an int or a string, usually with HTTP 200) into scangrade's errors. A
rejected token (100, 110, 111) is dropped, here and in the token cache all workers share, and
the call retried once with a fresh one. Messages name the API and the code, never the URL: it
carries the token.

What a failure means for a page, by how far the call got:

=============================================  ===========================  ================
failure                                        get_result                   create_task, sync
=============================================  ===========================  ================
provider error code (1, 2, 282000, 336100…)    ``error_for``: Transient…    same
connect error or timeout, pool timeout,        Transient                    Transient
write error or timeout (never fully sent)
read timeout, connection dropped, HTTP 5xx     Transient                    AmbiguousSubmit
with no error code, unreadable 2xx answer
a fresh token rejected again                   Transient                    Transient
=============================================  ===========================  ================

AmbiguousSubmit (a Transient) says the provider may have accepted the page although no
answer came back: a retry may create a second task or pay twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from pipeline.adapters.provider.apis import ApiSpec
from pipeline.adapters.provider.auth import TokenCache
from pipeline.adapters.provider.errors import error_for
from pipeline.adapters.provider.keys import PoolKey, budget_spent, park, park_for_the_day
from pipeline.adapters.provider.limiter import WINDOW_S, Lane, Limiter
from pipeline.adapters.provider.limiter_redis import RedisBackend
from pipeline.errors import (
    AmbiguousSubmit,
    AuthFailed,
    DailyLimitReached,
    NoApiKey,
    QuotaExhausted,
    RateLimited,
    ScangradeError,
    Stop,
    TokenRejected,
    Transient,
)
from pipeline.settings import Operation, Settings
from pipeline.telemetry import metrics

log = logging.getLogger(__name__)

AUTH_RECHECK_S = 300.0
"""How long a key the provider refused stays parked before a call tries it again."""

# Failures that happen before the whole request is out: the provider cannot have acted on it.
_NOT_SENT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    httpx.ProxyError,
)


def provider_timeout(settings: Settings) -> httpx.Timeout:
    """Timeouts of every provider call: a short connect, a bounded read, write and pool wait."""
    return httpx.Timeout(settings.http_timeout_s, connect=settings.http_connect_timeout_s)


class Throttled(RateLimited):
    """The limiter's next slot is too far away to wait for in a worker; come back later."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class KeysParked(QuotaExhausted):
    """No key that may make this call is open: parked (17, 19, budget) or out of budget."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ClaimLost(ScangradeError):
    """The caller's fence said its claim on the work is gone: the call was not sent."""


class UrlExpired(ScangradeError):
    """A signed result URL no longer works (its lifetime passed, or it never did)."""


@dataclass(frozen=True)
class Submitted:
    """What sending a page answered: a task to poll, or (synchronous calls) the answer itself."""

    task_id: str
    log_id: str | None
    key_id: str
    answer: dict[str, Any] | None = None


class ProviderClient:
    """Calls the provider with a pool of API keys, each within its own quotas."""

    def __init__(
        self,
        settings: Settings,
        pool: Sequence[PoolKey],
        redis_client: redis.Redis,
        http: httpx.Client,
    ) -> None:
        self._settings = settings
        self._base = settings.baidu_base_url.rstrip("/")
        self._http = http
        # Given with every request, so it holds however ``http`` was built.
        self._timeout = provider_timeout(settings)
        self._redis = redis_client
        self.pool = {key.key_id: key for key in pool}
        self.tokens = {
            key.key_id: TokenCache(redis_client, http, self._base, key.creds, self._timeout)
            for key in pool
        }
        self.limiter = Limiter(RedisBackend(redis_client), margin=settings.limiter_margin)

    @property
    def redis(self) -> redis.Redis:
        """The Redis client the pool's limiter, tokens and parked keys live in."""
        return self._redis

    def submit(
        self,
        api: ApiSpec,
        page: bytes,
        content_type: str,
        options: dict[str, Any],
        fence: Callable[[], bool] | None = None,
    ) -> Submitted:
        """Send one page with the key whose quota frees first: a task, or the answer at once.

        A key that answers 17 or 19 is parked and the page goes to the next key, so a batch
        only stops when every key has. ``fence`` is asked right before each send, after
        every wait for quota: False raises ClaimLost and nothing is sent.
        """
        if not self.pool:
            raise NoApiKey()
        body = api.body(page, content_type, options)
        request = _Request(api, api.submit_op, api.url_path(api.submit_op, options), body)
        keys = list(self.pool.values())
        while True:
            try:
                answer, key = self._call(request, keys, fence)
            except _KeyStopped as stopped:
                keys.remove(stopped.key)
                if not keys:
                    raise stopped.error from None
                continue
            return read_submission(api, options, answer, key.key_id)

    def get_result(self, api: ApiSpec, task_id: str, key_id: str) -> dict[str, Any]:
        """The task's current answer, finished or not, asked with the key that created it."""
        key = self.pool.get(key_id)
        if not self.pool:
            raise NoApiKey()
        if key is None:
            raise AuthFailed(f"task {task_id} was created with {key_id}, no longer configured")
        request = _Request(api, "get_result", api.url_path("get_result", {}), {"task_id": task_id})
        try:
            return self._call(request, [key])[0]
        except _KeyStopped as stopped:
            raise stopped.error from None

    def _call(
        self, request: _Request, keys: list[PoolKey], fence: Callable[[], bool] | None = None
    ) -> tuple[dict[str, Any], PoolKey]:
        """One rate-limited call with one of ``keys``; one token refresh if it was rejected.

        The refresh replaces the rejected token in the cache every worker shares, unless
        another worker already has; a fresh token rejected again is a passing fault. Each send
        holds a slot of its own; the refresh holds none.
        """
        with self._slot(request, keys) as key:
            token = self._token(key)  # in memory: no round trip between the slot and the call
            response = self._send(request, token, fence)
        try:
            return self._read(request, key, response), key
        except TokenRejected:
            log.warning("%s: access token of %s rejected, refreshing once", request, key.key_id)
        token = self._token(key, stale=token)
        with self._slot(request, [key]):
            response = self._send(request, token, fence)
        try:
            return self._read(request, key, response), key
        except TokenRejected as e:
            raise Transient(f"{request}: a freshly fetched access token was rejected: {e}") from e

    @contextmanager
    def _slot(self, request: _Request, keys: list[PoolKey]) -> Iterator[PoolKey]:
        """Hold a slot of one of ``keys`` while the block sends; the key it belongs to.

        The slot's wait and its window's share ``limiter_max_wait_s``: a worker never waits
        longer for its quota.
        """
        lanes = [key.lane(request.api.name, request.op) for key in keys]
        max_wait_s = self._settings.limiter_max_wait_s
        with self.limiter.slot(lanes, max_wait_s, on_spent=self._budget_spent) as grant:
            if grant.lane is None:
                raise KeysParked(f"{request}: every API key is parked or out of budget", 300.0)
            if not grant.granted:
                booked = f"{request}: quota fully booked for {grant.wait_s:.1f} s"
                raise Throttled(booked, grant.wait_s)
            if not grant.held:
                full = f"{request}: the last second's calls still fill the quota"
                raise Throttled(full, WINDOW_S)
            yield self.pool[grant.lane.key_id]

    def _budget_spent(self, lane: Lane) -> None:
        """Book that ``lane``'s key has used up its calls of the day (parks it until then)."""
        budget_spent(self._redis, self.pool[lane.key_id], lane)

    def _token(self, key: PoolKey, stale: str | None = None) -> str:
        """``key``'s access token (a fresh one instead of ``stale``); parks a refused key."""
        tokens = self.tokens[key.key_id]
        try:
            return tokens.get() if stale is None else tokens.refresh(stale=stale)
        except AuthFailed as e:
            raise self._refused(key, e) from e

    def _refused(self, key: PoolKey, error: AuthFailed) -> _KeyStopped:
        """The provider refused ``key`` (its secret, its permissions): park it for a while.

        Parked, it gets no call (and the operator one log line) until ``AUTH_RECHECK_S`` have
        passed; then the next call tries it again, so a key fixed meanwhile resumes by itself.
        """
        park(self._redis, key.key_id, str(error), AUTH_RECHECK_S)
        return _KeyStopped(key, error)

    def _send(
        self, request: _Request, token: str, fence: Callable[[], bool] | None
    ) -> httpx.Response:
        """Send the request now (inside its slot), unless ``fence`` says the claim is gone."""
        payload: dict[str, Any] = (
            {"data": request.body} if request.api.form_encoded else {"json": request.body}
        )
        http_request = self._http.build_request(
            "POST",
            f"{self._base}/{request.path}",
            params={"access_token": token},
            timeout=self._timeout,
            **payload,
        )
        if fence is not None and not fence():
            raise ClaimLost(f"{request}: the claim on this work is gone; not sent")
        try:
            return self._http.send(http_request)
        except httpx.HTTPError as e:
            raise _transport_error(request, e) from e

    def _read(self, request: _Request, key: PoolKey, response: httpx.Response) -> dict[str, Any]:
        """The answer, or its error; a key the provider stopped or refused is parked."""
        try:
            return _answer(
                response, str(request), pending_ok=request.op == "get_result", billed=request.billed
            )
        except QuotaExhausted as e:
            reason = f"the provider answered {e}"
            if isinstance(e, DailyLimitReached):
                park_for_the_day(self._redis, key.key_id, reason)
            else:
                park(self._redis, key.key_id, reason, None)
            raise _KeyStopped(key, e) from e
        except AuthFailed as e:
            raise self._refused(key, e) from e

    def fetch(self, url: str) -> bytes:
        """Download a signed result URL (no token: the signature is the credential)."""
        return self.download(url).data

    def download(self, url: str) -> Download:
        """Download a signed result URL, with the Content-Type its server gave."""
        try:
            response = self._http.get(url, timeout=self._timeout)
        except httpx.HTTPError as e:
            raise Transient(f"fetching {strip_query(url)}: {type(e).__name__}") from e
        if response.status_code in (401, 403, 404):
            raise UrlExpired(f"{strip_query(url)} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise Transient(f"{strip_query(url)} answered HTTP {response.status_code}")
        return Download(response.content, response.headers.get("content-type"))


@dataclass(frozen=True)
class Download:
    """A signed URL's body and the Content-Type it came with (None if it had none)."""

    data: bytes = field(repr=False)
    content_type: str | None


class _KeyStopped(ScangradeError):
    """A key answered 17 or 19, or was refused, and is now parked; another key may call."""

    def __init__(self, key: PoolKey, error: Stop) -> None:
        super().__init__(str(error))
        self.key = key
        self.error = error


def read_submission(
    api: ApiSpec, options: dict[str, Any], answer: dict[str, Any], key_id: str
) -> Submitted:
    """The task id and log id of a successful answer to a page, however they are spelt."""
    log_id = answer.get("log_id")
    log_text = str(log_id) if log_id is not None and str(log_id) != "" else None
    result = answer.get("result")
    task_id = result.get("task_id") if isinstance(result, dict) else None
    task_id = task_id or answer.get("task_id")  # correct_edu's only_split puts it on top
    if not api.is_sync(options):
        if not task_id:
            raise Transient(f"{api.name} create_task answered without a task_id")
        return Submitted(str(task_id), log_text, key_id)
    # A synchronous answer may carry no task id (formula, custom_ocr): its log id is the
    # provider's own unique handle of the call; failing that, a fresh one of ours.
    handle = str(task_id) if task_id else f"log-{log_text}" if log_text else _local_id()
    return Submitted(handle, log_text, key_id, answer)


@dataclass(frozen=True)
class _Request:
    api: ApiSpec
    op: Operation
    path: str
    body: dict[str, Any] = field(repr=False)  # a page, base64: never in a repr

    def __str__(self) -> str:
        return f"{self.api.name} {self.op}"

    @property
    def billed(self) -> bool:
        """A call that sends a page: it may create a task or be paid for."""
        return self.op != "get_result"


def _transport_error(request: _Request, e: httpx.HTTPError) -> Transient:
    """The error for a call that got no HTTP answer; never the URL, which holds the token."""
    what = f"{request}: {type(e).__name__} talking to the provider"
    if request.billed and not isinstance(e, _NOT_SENT):
        return AmbiguousSubmit(f"{what} after sending the page; {_MAY_HAVE_IT}")
    return Transient(what)


_MAY_HAVE_IT = "the provider may have accepted the page (a task may exist, the call may be paid)"


def _local_id() -> str:
    return f"local-{uuid.uuid4().hex}"


# handwriting_composition answers a still-running task with error_code 1 and this message
# (API_NOTES.md): the one place where the provider says "not yet" only in words.
_PENDING_MESSAGES = frozenset({"pending", "processing"})


def _answer(
    response: httpx.Response, context: str, *, pending_ok: bool, billed: bool
) -> dict[str, Any]:
    status = response.status_code
    try:
        body = response.json()
    except ValueError as e:
        if billed and (status >= 500 or 200 <= status < 300):
            raise AmbiguousSubmit(
                f"{context}: HTTP {status}, body is not JSON; {_MAY_HAVE_IT}"
            ) from e
        raise Transient(f"{context}: HTTP {status}, body is not JSON") from e
    return check_answer(status, body, context, pending_ok=pending_ok, billed=billed)


def check_answer(
    status: int, body: object, context: str, *, pending_ok: bool, billed: bool = False
) -> dict[str, Any]:
    """The answer if it is one, else the scangrade error its ``error_code`` means.

    ``billed``: the call sent a page, so an HTTP 5xx without a provider error code leaves it
    unknown whether the provider accepted it (AmbiguousSubmit).
    """
    if not isinstance(body, dict):
        if billed and status >= 500:
            raise AmbiguousSubmit(f"{context}: HTTP {status}, unexpected JSON; {_MAY_HAVE_IT}")
        raise Transient(f"{context}: HTTP {status}, unexpected JSON")
    code = _error_code(body.get("error_code"))
    metrics.provider_answer(context, status, code)
    message = str(body.get("error_msg", "")).strip().lower()
    if pending_ok and code == 1 and message in _PENDING_MESSAGES:
        return body
    if code:
        raise error_for(code, str(body.get("error_msg", "")), context)
    if status >= 500:
        if billed:
            raise AmbiguousSubmit(f"{context}: HTTP {status}; {_MAY_HAVE_IT}")
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
