"""Security (issue 5, item 7) on real services.

- No access token, key or secret anywhere: after a run through real workers that includes
  failures (rejected and broken files, a page the provider refuses, tokens rejected and
  refreshed, a token endpoint and an API answering 5xx, a result URL refused once) and a call
  made with a wrong secret, none of the secrets and none of the token answers the simulator
  ever granted is in any log file, any column of any table, or any S3 object.
- Every local service listens on loopback only, and does by default.
- ``scangrade_analyst`` reads the result tables and views, and writes and creates nothing.
- S3 objects are private; keys are made of ids; a file reached through a symlink that leads
  out of the scanned directory is never read.
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from pydantic import SecretStr, ValidationError

from pipeline.adapters.objectstore import ObjectStore
from pipeline.errors import StoreRefused
from pipeline.settings import Settings
from pipeline.telemetry.logs import configure_logging


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
def test_log_lines_never_show_a_urls_credentials(
    log_json: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defence in depth: a library that logs a provider or signed URL has it redacted."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(Settings(log_json=log_json, log_level="DEBUG"))
        url = "http://aip/rest/2.0/ocr/v1/correct_edu/get_result?access_token=24.ab.cd&x=1"
        logging.getLogger("a.library").info("HTTP Request: POST %s", url)
        try:
            raise RuntimeError("http://aip/oauth/2.0/token?client_id=AK-1&client_secret=SK-1")
        except RuntimeError:
            logging.getLogger("a.library").exception("token request failed")
        logging.getLogger("a.library").info("GET http://bos/x.png?authorization=bce-auth-v1%2F1")
    finally:
        root.handlers[:], root.level = saved
    err = capsys.readouterr().err
    assert "access_token=<redacted>&x=1" in err and "RuntimeError" in err
    assert [s for s in ("24.ab.cd", "AK-1", "SK-1", "bce-auth-v1") if s in err] == []


def test_a_malformed_key_pool_is_reported_without_its_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = '{"api_key": "AK-in-the-pool", "secret_key": "SK-in-the-pool"}'  # not a list
    monkeypatch.setenv("SCANGRADE_BAIDU_KEYS", pool)
    with pytest.raises(ValidationError) as bad:
        Settings()
    assert "in-the-pool" not in str(bad.value)


class _MinioLike(BaseHTTPRequestHandler):
    """What MinIO answers: the bucket exists; a public access block is an unknown API."""

    answer = (501, "NotImplemented")

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, code = self.answer
        body = f"<Error><Code>{code}</Code><Message>no</Message></Error>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("answer", "fails"), [((501, "NotImplemented"), False), ((403, "AccessDenied"), True)]
)
def test_a_store_without_public_access_blocks_is_used_as_it_is(
    answer: tuple[int, str], fails: bool
) -> None:
    """MinIO (docker compose) has no public access block and private buckets: not an error.

    Any other refusal stops, so a bucket is never used unprotected on S3 by mistake.
    """
    handler = type("Store", (_MinioLike,), {"answer": answer})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(
        s3_endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        s3_access_key_id=SecretStr("minio"),
        s3_secret_access_key=SecretStr("minio-secret"),
    )
    try:
        if fails:
            # Credentials without the right to protect the bucket: the operator must act.
            with pytest.raises(StoreRefused, match="AccessDenied"):
                ObjectStore(settings).ensure_bucket()
        else:
            ObjectStore(settings).ensure_bucket()
    finally:
        server.shutdown()
        server.server_close()


def test_settings_point_at_loopback_by_default() -> None:
    fields = Settings.model_fields
    for name in ("database_url", "redis_url"):
        assert urlsplit(fields[name].default).hostname == "127.0.0.1", name
    hosts = {name: field.default for name, field in fields.items() if name.endswith("_host")}
    assert hosts == dict.fromkeys(hosts, "127.0.0.1")
