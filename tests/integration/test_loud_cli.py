"""Misconfiguration at the command line is loud and early; results and logs keep their streams.

Every command runs as the operator runs it, a subprocess with its own environment, against
this run's Postgres, Redis and moto server: a missing API key, S3 without credentials or
down, and a webhook that does not answer each end in one line on stderr with the README's
exit code, and leave no batch behind. Results go to stdout, log lines (only warnings, unless
``-v``) to stderr.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import free_port
from pipeline.adapters.db.models import Batch
from pipeline.adapters.db.session import session_scope
from pipeline.settings import Settings
from pipeline.telemetry.logs import QuietPeriodic

NO_KEY = {
    "SCANGRADE_BAIDU_API_KEY": "",
    "SCANGRADE_BAIDU_SECRET_KEY": "",
    "SCANGRADE_BAIDU_KEYS": "[]",
}


def _cli(
    *args: str, cwd: Path, env: Mapping[str, str] = {}, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in drop} | dict(env)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environ,
        cwd=cwd,  # no developer's .env file
    )


def _night(tmp_path: Path, seed: int) -> Path:
    root = tmp_path / "night"
    (root / "7A").mkdir(parents=True)
    (root / "7A" / "Zhou Min.jpg").write_bytes(jpeg_bytes(make_page_image(seed)))
    return root


def _batch_exists(name: str) -> bool:
    with session_scope() as session:
        return session.scalar(select(Batch.id).where(Batch.name == name)) is not None


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_enqueue_without_an_api_key_records_nothing(env: Settings, tmp_path: Path) -> None:
    name = f"loud-nokey-{uuid.uuid4().hex[:8]}"
    done = _cli("enqueue", str(_night(tmp_path, 16401)), "--batch", name, cwd=tmp_path, env=NO_KEY)
    assert done.returncode == 4, done.stderr
    line = _one_line(done.stderr)
    assert "SCANGRADE_BAIDU_API_KEY" in line and "SCANGRADE_BAIDU_KEYS" in line
    assert not _batch_exists(name)


def test_enqueue_with_s3_without_credentials_records_nothing(env: Settings, tmp_path: Path) -> None:
    name = f"loud-nocreds-{uuid.uuid4().hex[:8]}"
    no_credentials = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    done = _cli(
        "enqueue",
        str(_night(tmp_path, 16402)),
        "--batch",
        name,
        cwd=tmp_path,
        env=no_credentials,
        drop=(
            "SCANGRADE_S3_ACCESS_KEY_ID",
            "SCANGRADE_S3_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
        ),
    )
    assert done.returncode == 4, done.stderr
    assert "SCANGRADE_S3_ACCESS_KEY_ID" in _one_line(done.stderr)
    assert not _batch_exists(name)


def test_enqueue_with_s3_down_records_nothing(env: Settings, tmp_path: Path) -> None:
    name = f"loud-s3down-{uuid.uuid4().hex[:8]}"
    closed = f"http://127.0.0.1:{free_port()}"
    done = _cli(
        "enqueue",
        str(_night(tmp_path, 16403)),
        "--batch",
        name,
        cwd=tmp_path,
        env={"SCANGRADE_S3_ENDPOINT_URL": closed},
    )
    assert done.returncode == 3, done.stderr
    assert closed in _one_line(done.stderr)
    assert not _batch_exists(name)


class _FailingPuts(BaseHTTPRequestHandler):
    """An S3 whose bucket exists and is kept private, but which fails every upload (500)."""

    def do_HEAD(self) -> None:  # head_bucket
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "publicAccessBlock" in self.path:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"<Error><Code>InternalError</Code><Message>disk gone</Message></Error>"
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def failing_s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FailingPuts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_enqueue_whose_uploads_fail_leaves_no_batch(
    env: Settings, tmp_path: Path, failing_s3: str
) -> None:
    name = f"loud-putfails-{uuid.uuid4().hex[:8]}"
    done = _cli(
        "enqueue",
        str(_night(tmp_path, 16405)),
        "--batch",
        name,
        cwd=tmp_path,
        env={"SCANGRADE_S3_ENDPOINT_URL": failing_s3},
    )
    assert done.returncode == 3, done.stderr
    assert "InternalError" in _one_line(done.stderr)
    assert not _batch_exists(name)  # recorded, then removed: no empty batch left running


def _recorded_batch() -> str:
    name = f"loud-batch-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        session.add(Batch(name=name, root_dir="/nowhere", api="correct_edu"))
    return name


def test_notify_to_a_webhook_that_is_down_is_one_line_exit_3(env: Settings, tmp_path: Path) -> None:
    name = _recorded_batch()
    url = f"http://127.0.0.1:{free_port()}/hook"
    done = _cli("notify", name, "--url", url, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert url in _one_line(done.stderr) and done.stdout == ""


def test_status_writes_its_table_to_stdout_and_nothing_else(env: Settings, tmp_path: Path) -> None:
    name = _recorded_batch()
    done = _cli("status", name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "running" in done.stdout and "stage" in done.stdout  # the (empty) batch's table
    assert done.stderr == ""


def test_enqueue_summary_goes_to_stdout(env: Settings, tmp_path: Path) -> None:
    name = f"loud-stdout-{uuid.uuid4().hex[:8]}"
    done = _cli("enqueue", str(_night(tmp_path, 16404)), "--batch", name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"batch {name}" in done.stdout and "1 documents queued" in done.stdout
    assert done.stderr == ""  # no INFO line of ours without -v


def test_info_lines_only_with_verbose(env: Settings, tmp_path: Path) -> None:
    quiet = _cli("migrate", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "database is at the latest migration" in quiet.stdout
    assert quiet.stderr == ""  # alembic's INFO lines held back
    loud = _cli("-v", "migrate", cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert " INFO " in loud.stderr and "alembic" in loud.stderr
    assert "database is at the latest migration" not in loud.stderr


def _token(sim: str, api_key: str, secret: str) -> bool:
    answer = httpx.post(
        f"{sim}/oauth/2.0/token",
        params={"grant_type": "client_credentials", "client_id": api_key, "client_secret": secret},
    ).json()
    return "access_token" in answer


def _simulator(tmp_path: Path, *args: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.operator.cli", "simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
        cwd=tmp_path,
    )


@pytest.mark.parametrize("given_key", [False, True])
def test_simulator_accepts_the_settings_keys_unless_told_others(
    tmp_path: Path, given_key: bool
) -> None:
    keys = {"SCANGRADE_BAIDU_API_KEY": "school-key", "SCANGRADE_BAIDU_SECRET_KEY": "school-secret"}
    args = ("--key", "other-key:other-secret") if given_key else ()
    process = _simulator(tmp_path, *args, env=keys)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        url = line.split("listening on ", 1)[1].strip()
        assert _token(url, "school-key", "school-secret") is not given_key
        assert _token(url, "demo-api-key", "demo-secret-key") is not given_key
        assert _token(url, "other-key", "other-secret") is given_key
    finally:
        process.terminate()
        process.wait(timeout=30)


def _celery_record(name: str, msg: str, args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, (args,), None)


def test_idle_periodic_tasks_log_nothing_at_info() -> None:
    quiet = QuietPeriodic()
    logging.getLogger("celery").setLevel(logging.INFO)
    success = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
    idle = [
        _celery_record(
            "celery.app.trace",
            success,
            {"name": "scangrade.dispatch_polls", "id": "1", "runtime": 0.01, "return_value": "0"},
        ),
        _celery_record(
            "celery.app.trace",
            success,
            {"name": "scangrade.reconcile", "id": "2", "runtime": 0.1, "return_value": "{}"},
        ),
        _celery_record(
            "celery.worker.strategy",
            "Task %(name)s[%(id)s] received",
            {"name": "scangrade.dispatch_polls", "id": "3"},
        ),
        logging.LogRecord(
            "celery.beat",
            logging.INFO,
            __file__,
            1,
            "Scheduler: Sending due task %s (%s)",
            ("dispatch-polls", "scangrade.dispatch_polls"),
            None,
        ),
    ]
    busy = [
        _celery_record(
            "celery.app.trace",
            success,
            {"name": "scangrade.dispatch_polls", "id": "4", "runtime": 0.01, "return_value": "3"},
        ),
        _celery_record(
            "celery.app.trace",
            success,
            {"name": "scangrade.submit_page", "id": "5", "runtime": 0.5, "return_value": "True"},
        ),
    ]
    assert [quiet.filter(record) for record in idle] == [False] * len(idle)
    assert all(record.levelno == logging.DEBUG for record in idle)
    assert [quiet.filter(record) for record in busy] == [True] * len(busy)
    assert all(record.levelno == logging.INFO for record in busy)
