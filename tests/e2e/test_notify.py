"""The end of a batch announced to its ``--notify`` URL: once, with its summary, by the
control worker, again after a 5xx, never again after a 4xx. The receiver is a small HTTP
server of the test's own; the batches run on the session's real workers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support.batches import wait_until_done

from devkit.samples import blank_page, jpeg_bytes, make_page_image
from devkit.standins import Service, free_port
from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_redis
from pipeline.adapters.webhook import post_json
from pipeline.domain.announce import request
from pipeline.domain.notify import send_notification
from pipeline.domain.progress import finish_batch_if_done
from pipeline.errors import Transient, WebhookRefused
from pipeline.operator.cli import main
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory


class Receiver:
    """A webhook that records every POST and answers with the statuses it is given."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(json.loads(body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"nope" if status >= 400 else b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/scans?token=s3cret"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.received


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(statuses or []))
        return made[-1]

    yield make
    for one in made:
        one.server.shutdown()


def _notified_at(batch_id: int) -> datetime | None:
    with session_scope() as session:
        return session.get_one(Batch, batch_id).notified_at


def test_a_batch_that_ends_is_announced_once_with_its_summary(
    env: Settings, workers: Service, receiver: Any, tmp_path: Path
) -> None:
    hook = receiver()
    root = tmp_path / "announced"
    root.mkdir()
    (root / "page-1.jpg").write_bytes(jpeg_bytes(make_page_image(7101, 700, 990)))
    (root / "page-2.jpg").write_bytes(jpeg_bytes(make_page_image(7102, 700, 990)))
    (root / "back.jpg").write_bytes(blank_page())
    (root / "notes.txt").write_text("not a scan")
    name = f"announced-{uuid.uuid4().hex[:6]}"
    report = enqueue_directory(root, get_store(), batch_name=name, notify_url=hook.url)
    wait_until_done(report.batch_id)

    (summary,) = hook.wait_for(1)
    time.sleep(1.5)  # a second POST would have come by now
    assert len(hook.received) == 1

    assert summary["event"] == "batch_ended" and summary["state"] == "done"
    assert (summary["batch_id"], summary["batch_name"]) == (report.batch_id, name)
    assert summary["pages"] == {"done": 2, "skipped": 1}
    assert summary["documents"] == {"failed": 1, "ingested": 3}
    assert summary["failed"] == 1
    assert summary["failures"] == [{"error_code": "unsupported_type", "documents": 1, "pages": 0}]
    (example,) = summary["failure_examples"]
    assert example["rel_path"] == "notes.txt" and example["page"] is None
    assert summary["skipped_blank_pages"] == 1
    assert summary["ambiguous_submits"] == 0
    with session_scope() as session:
        unmatched = session.scalar(
            select(func.count()).where(Page.batch_id == report.batch_id, Page.student_id.is_(None))
        )
        batch = session.get_one(Batch, report.batch_id)
        assert summary["unmatched_pages"] == unmatched == 3  # no class/student folders
        assert summary["finished_at"] == batch.finished_at.isoformat()
        assert summary["duration_s"] > 0
        assert batch.notified_at is not None
    assert summary["next"]["report"] == f"scangrade report {name}"
    assert summary["next"]["retry"] == f"scangrade retry {name}"


def _ended_batch(url: str, finished_ago_s: float = 0) -> int:
    """A batch with one done page, still running: the next finish_batch_if_done ends it."""
    with session_scope() as session:
        batch = Batch(
            name=f"hook-{uuid.uuid4().hex[:8]}",
            root_dir="/scans",
            api="correct_edu",
            notify_url=url,
        )
        session.add(batch)
        session.flush()
        doc = Document(
            batch_id=batch.id, rel_path="a.jpg", kind="image", api="correct_edu", state="ingested"
        )
        session.add(doc)
        session.flush()
        session.add(Page(batch_id=batch.id, document_id=doc.id, page_no=1, state="done"))
        if finished_ago_s:
            batch.state = "done"
            batch.finished_at = datetime.now(UTC) - timedelta(seconds=finished_ago_s)
        return batch.id


def test_a_receiver_answering_500_gets_the_summary_on_the_retry(
    env: Settings, workers: Service, receiver: Any
) -> None:
    hook = receiver([500])
    batch_id = _ended_batch(hook.url)
    with session_scope() as session:
        finish_batch_if_done(session, batch_id)  # the nudge leaves once this commits
        assert hook.received == []

    first, second = hook.wait_for(2)

    assert first["batch_id"] == second["batch_id"] == batch_id
    deadline = time.monotonic() + 5
    while _notified_at(batch_id) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _notified_at(batch_id) is not None
    time.sleep(1)
    assert len(hook.received) == 2


def test_a_receiver_answering_404_is_not_asked_again(
    env: Settings, receiver: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hook = receiver([404])
    # Ended two days ago: out of the reconciler's reach, so only this test sends it.
    batch_id = _ended_batch(hook.url, finished_ago_s=2 * 86400)

    assert send_notification(batch_id, env) is False

    assert len(hook.received) == 1
    assert _notified_at(batch_id) is None
    refused = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("HTTP 404" in line and "scangrade notify" in line for line in refused), refused
    assert not any("s3cret" in line for line in refused)  # the URL's token stays out of logs
    assert request(batch_id) is False  # held: the reconciler does not nudge it again
    get_redis().delete(f"scangrade:notify:{batch_id}")


def test_notify_sends_by_hand_and_says_what_went_wrong(env: Settings, receiver: Any) -> None:
    hook = receiver([404])
    batch_id = _ended_batch(hook.url, finished_ago_s=2 * 86400)
    runner = CliRunner()

    refused = runner.invoke(main, ["notify", str(batch_id)])
    accepted = runner.invoke(main, ["notify", str(batch_id)])
    bad_url = runner.invoke(main, ["notify", str(batch_id), "--url", "mailto:office@school"])

    assert refused.exit_code == 4 and "HTTP 404" in refused.output, refused.output
    assert accepted.exit_code == 0 and "accepted (HTTP 200)" in accepted.output
    assert _notified_at(batch_id) is not None
    assert bad_url.exit_code == 2 and "http:// or https://" in bad_url.output
    assert len(hook.received) == 2


@pytest.mark.parametrize(
    ("status", "error"), [(429, Transient), (503, Transient), (301, WebhookRefused)]
)
def test_the_webhook_adapter_sorts_answers_by_what_to_do(
    receiver: Any, status: int, error: type[Exception]
) -> None:
    hook = receiver([status])
    with pytest.raises(error):
        post_json(hook.url, {"batch_id": 1}, timeout_s=5)
    assert post_json(hook.url, {"batch_id": 1}, timeout_s=5) == 200
    closed = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(Transient, match="unreachable"):
        post_json(closed, {"batch_id": 1}, timeout_s=5)
