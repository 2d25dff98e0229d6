"""The object store's own signed requests: the signature botocore makes, boto3's retries."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from pipeline.adapters.s3_requests import (
    ATTEMPTS,
    NoCredentials,
    S3Failure,
    SignedS3,
)

CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "a-token")


class _Flaky(BaseHTTPRequestHandler):
    """Answers each request with the next of ``answers`` (status, S3 error code); notes it."""

    answers: ClassVar[list[tuple[int, str]]] = []
    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def do_GET(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer()

    def _answer(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.seen.append((self.command, self.path, headers))
        status, code = self.answers.pop(0) if self.answers else (200, "")
        body = f"<Error><Code>{code}</Code><Message>m</Message></Error>" if code else "object"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SignedS3, type[_Flaky]]]:
    monkeypatch.setattr("pipeline.adapters.s3_requests.time.sleep", lambda _: None)
    handler = type("Flaky", (_Flaky,), {"answers": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield SignedS3(url, "eu-west-3", CREDENTIALS, httpx.Timeout(5)), handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("key", ["batches/1/documents/2/pages/0001/page.jpg", "a b/ünï~(1).json"])
def test_a_request_is_signed_as_botocore_signs_it(
    flaky: tuple[SignedS3, type[_Flaky]], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    """The path boto3 would send, and the Authorization its S3 signer gives that request."""
    store, handler = flaky
    body = b"\xff\xd8 a page"
    digest = hashlib.sha256(body).hexdigest()
    headers = {"Content-Type": "image/jpeg", "x-amz-meta-sha256": digest}
    store.put("scangrade", key, body, digest, headers)
    _, path, sent = handler.seen[-1]
    assert path == "/scangrade/" + percent_encode(key, safe="/~")
    when = datetime.strptime(sent["x-amz-date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: when)
    request = AWSRequest("PUT", f"http://{sent['host']}{path}", headers, body)
    S3SigV4Auth(CREDENTIALS, "s3", "eu-west-3").add_auth(request)
    assert sent["x-amz-security-token"] == "a-token"
    assert sent["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"] == digest
    assert sent["authorization"] == request.headers["Authorization"]


def test_passing_faults_are_retried_as_boto3_retries_them(
    flaky: tuple[SignedS3, type[_Flaky]],
) -> None:
    store, handler = flaky
    handler.answers = [(503, "SlowDown"), (500, "InternalError")]
    assert store.get("bucket", "key") == b"object"
    assert len(handler.seen) == ATTEMPTS
    handler.seen.clear()
    handler.answers = [(503, "SlowDown")] * ATTEMPTS
    with pytest.raises(S3Failure, match="SlowDown") as caught:
        store.get("bucket", "key")
    assert caught.value.retryable and len(handler.seen) == ATTEMPTS


def test_a_refusal_is_not_retried(flaky: tuple[SignedS3, type[_Flaky]]) -> None:
    store, handler = flaky
    handler.answers = [(404, "NoSuchKey")]
    with pytest.raises(S3Failure) as caught:
        store.get("bucket", "missing")
    assert (caught.value.code, caught.value.retryable, len(handler.seen)) == ("NoSuchKey", False, 1)


def test_no_answer_is_a_passing_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.adapters.s3_requests.time.sleep", lambda _: None)
    with socket.socket() as closed:  # a loopback port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    store = SignedS3(f"http://127.0.0.1:{port}", "us-east-1", CREDENTIALS, httpx.Timeout(1))
    with pytest.raises(S3Failure, match="ConnectError") as caught:
        store.get("bucket", "key")
    assert caught.value.retryable


def test_without_credentials_nothing_is_sent() -> None:
    store = SignedS3("http://127.0.0.1:9", "us-east-1", None, httpx.Timeout(1))
    with pytest.raises(NoCredentials):
        store.get("bucket", "key")
