"""The object store's two hot calls, put and get, each one signed HTTP request (httpx).

A page is stored, read back and archived through twelve S3 calls. boto3 spends about 3 ms of
CPU on each (event hooks, parameter validation, endpoint rules, checksums, response parsing),
where one request signed here spends 1.7 (against moto on the bench host): so the object
store sends these two itself, and leaves everything else (the bucket, listings) to boto3,
which also resolves what is used here: the credentials (its usual chain, refreshed as boto3
refreshes them), the region, the endpoint and the CA bundle.

The requests are the ones boto3 sends: path-style, Signature Version 4 over the body's
SHA-256, which S3 checks the body against; retried as boto3's standard mode retries (three
attempts, exponential backoff with full jitter) after a connection fault, throttling or an
HTTP 5xx.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import ssl
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx
from botocore.credentials import Credentials

from pipeline.errors import ExitCode, ScangradeError

ATTEMPTS = 3
"""Tries of one call, as boto3's standard retry mode (``max_attempts`` 3) makes them."""
_MAX_BACKOFF_S = 20.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_RETRY_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "InternalError"}
)
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ERROR_FIELD = re.compile(rb"<(Code|Message)>([^<]*)</\1>")


class S3Failure(ScangradeError):
    """A call S3 refused (its error code, else the HTTP status) or that got no answer.

    ``retryable``: a passing fault that boto3 retries (no answer, throttling, HTTP 5xx). The
    object store turns each into the error its caller acts on (``objectstore``).
    """

    exit_code = ExitCode.SERVICE
    message = "the object store refused the call or did not answer"

    def __init__(self, code: str, detail: str = "", *, retryable: bool = False) -> None:
        super().__init__(f"{code} {detail}".strip())
        self.code = code
        self.retryable = retryable


class NoCredentials(S3Failure):
    """No credentials were found (settings, environment, boto3's files or roles)."""

    exit_code = ExitCode.CONFIG
    message = "S3 has no credentials"


class SignedS3:
    """Puts and gets whole objects with requests signed by one set of credentials."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        credentials: Credentials | None,
        timeout: httpx.Timeout,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._host = urlsplit(endpoint).netloc
        self._region = region
        self._credentials = credentials
        self._http = httpx.Client(timeout=timeout, verify=verify)
        self._keys: dict[tuple[str, str], bytes] = {}

    def put(
        self, bucket: str, key: str, data: bytes, sha256: str, headers: Mapping[str, str]
    ) -> None:
        """Write an object; ``sha256`` is the hex digest of ``data`` (the signed payload)."""
        self._call("PUT", f"/{bucket}/{key}", headers, data, sha256)

    def get(self, bucket: str, key: str) -> bytes:
        """Read a whole object."""
        return self._call("GET", f"/{bucket}/{key}", {}, None, _EMPTY_SHA256).content

    def _call(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        sha256: str,
    ) -> httpx.Response:
        quoted = quote(path, safe="/~")
        for attempt in range(1, ATTEMPTS + 1):
            signed = self._signed(method, quoted, sha256, headers)
            try:
                return _answer(self._send(method, quoted, signed, body))
            except S3Failure as failure:
                if not failure.retryable or attempt == ATTEMPTS:
                    raise
            time.sleep(random.uniform(0, min(_MAX_BACKOFF_S, 2.0 ** (attempt - 1))))
        raise AssertionError("the last attempt returns or raises")

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> httpx.Response:
        try:
            return self._http.request(method, self._endpoint + path, headers=headers, content=body)
        except httpx.TransportError as e:
            raise S3Failure(type(e).__name__, retryable=True) from e

    def _signed(
        self, method: str, path: str, sha256: str, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """The request's headers, its Signature Version 4 ``Authorization`` among them."""
        frozen = self._credentials.get_frozen_credentials() if self._credentials else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise NoCredentials("NoCredentialsError")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        signed = {name.lower(): value for name, value in headers.items()}
        signed |= {"host": self._host, "x-amz-content-sha256": sha256, "x-amz-date": stamp}
        if frozen.token:
            signed["x-amz-security-token"] = frozen.token
        key = self._signing_key(frozen.secret_key, stamp[:8])
        signed["authorization"] = authorization(
            method, path, signed, self._region, frozen.access_key, key
        )
        return signed

    def _signing_key(self, secret: str, day: str) -> bytes:
        """The day's key, derived once a day (and again when a role's secret changes)."""
        found = self._keys.get((secret, day))
        if found is None:
            found = signing_key(secret, day, self._region)
            self._keys = {(secret, day): found}
        return found


def signing_key(secret: str, day: str, region: str) -> bytes:
    """Signature Version 4's key for S3 in ``region`` on ``day`` (YYYYMMDD)."""
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def authorization(
    method: str,
    path: str,
    headers: Mapping[str, str],
    region: str,
    access_key: str,
    key: bytes,
) -> str:
    """The ``Authorization`` header of a request to ``path`` (quoted, no query string).

    Every one of ``headers`` (lower-case names, ``host``, ``x-amz-date`` and
    ``x-amz-content-sha256`` among them) is signed; ``key`` is :func:`signing_key`'s for the
    region and the day of ``x-amz-date``.
    """
    names = sorted(headers)
    canonical = "\n".join(
        [
            method,
            path,
            "",
            *(f"{name}:{' '.join(headers[name].split())}" for name in names),
            "",
            ";".join(names),
            headers["x-amz-content-sha256"],
        ]
    )
    stamp = headers["x-amz-date"]
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{digest}"
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )


def _answer(response: httpx.Response) -> httpx.Response:
    """The response if it is a success, else the S3 error it holds."""
    if response.status_code < 300:
        return response
    fields = dict(_ERROR_FIELD.findall(response.content))
    code = fields.get(b"Code", b"").decode() or str(response.status_code)
    raise S3Failure(
        code,
        fields.get(b"Message", b"").decode(),
        retryable=response.status_code in _RETRY_STATUS or code in _RETRY_CODES,
    )
