"""``scangrade watch DIR``: a file dropped while it runs is taken once it stopped changing,
only once, and each change of a file's outcome is told once."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from devkit.samples import jpeg_bytes, make_page_image
from pipeline.adapters.db.models import Batch, Document
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.operator.watch import DirectoryWatch, WatchEvent, daily_batch_name
from pipeline.settings import Settings

SETTLE_S = 1.0


def _documents(batch_name: str) -> dict[str, Document]:
    with session_scope() as session:
        return {
            doc.rel_path: doc
            for doc in session.scalars(select(Document).join(Batch).where(Batch.name == batch_name))
        }


def test_a_file_is_taken_once_it_stopped_changing_and_only_once(
    env: Settings, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "notes.txt").write_text("not a scan")
    name = f"watched-{uuid.uuid4().hex[:6]}"
    watch = DirectoryWatch(share, get_store(), settle_s=SETTLE_S, batch_name=name)
    events: list[WatchEvent] = []
    stop = threading.Event()
    loop = threading.Thread(target=watch.run, args=(stop, 0.1, events.append))
    loop.start()
    try:
        content = jpeg_bytes(make_page_image(7301, 700, 990))
        chunks = [
            content[i : i + len(content) // 4 + 1]
            for i in range(0, len(content), len(content) // 4 + 1)
        ]
        path = share / "scan.jpg"
        for chunk in chunks:  # a scanner writing slowly: never SETTLE_S without a change
            with path.open("ab") as f:
                f.write(chunk)
            written = time.monotonic()
            time.sleep(SETTLE_S * 0.5)
            assert not any(e.outcome == "queued" for e in events), events
        while not any(e.outcome == "queued" for e in events):
            assert time.monotonic() - written < SETTLE_S + 10, events
            time.sleep(0.05)
        assert time.monotonic() - written >= SETTLE_S * 0.8  # not before it had settled
        time.sleep(0.5)  # more passes: nothing new to tell, nothing taken twice
    finally:
        stop.set()
        loop.join(10)

    outcomes = [(e.rel_path, e.outcome, e.code) for e in events]
    assert outcomes == [
        ("notes.txt", "rejected", "unsupported_type"),
        ("scan.jpg", "waiting", "still_being_written"),
        ("scan.jpg", "queued", None),
    ]
    docs = _documents(name)
    assert docs["scan.jpg"].kind == "image" and docs["scan.jpg"].state != "failed"
    # What was taken is the whole file, not what the scanner had written by then.
    assert docs["scan.jpg"].sha256 == hashlib.sha256(content).hexdigest()
    assert watch.summary.queued == 1 and watch.summary.rejected == 1
    assert watch.summary.batches == [name]


def test_a_batch_per_day_unless_named(env: Settings, tmp_path: Path) -> None:
    share = tmp_path / "scanner-share"
    share.mkdir()
    days = iter([date(2026, 11, 21), date(2026, 11, 22)])
    watch = DirectoryWatch(share, get_store(), settle_s=0, today=lambda: next(days))
    assert watch.batch_name() == "scanner-share-2026-11-21"
    assert watch.batch_name() == daily_batch_name(share, date(2026, 11, 22))
    fixed = DirectoryWatch(share, get_store(), settle_s=0, batch_name="term-1")
    assert fixed.batch_name() == "term-1"


def test_watch_command_queues_and_stops_cleanly_on_sigterm(env: Settings, tmp_path: Path) -> None:
    share = tmp_path / "drops"
    share.mkdir()
    (share / "page.jpg").write_bytes(jpeg_bytes(make_page_image(7302, 700, 990)))
    name = f"drops-{uuid.uuid4().hex[:6]}"

    def stop_once_queued() -> None:
        # Only once the watch has queued (its signal handlers are in place by then).
        deadline = time.monotonic() + 60
        while "page.jpg" not in _documents(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # a few more passes
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_queued, daemon=True).start()

    result = CliRunner().invoke(main, ["watch", str(share), "--batch", name, "--interval", "0.2"])

    assert result.exit_code == 0, result.output
    assert f"queued   page.jpg (batch {name})" in result.output
    assert f"stopped: 1 files queued, 0 rejected, 0 already sent, into {name}" in result.output
    assert set(_documents(name)) == {"page.jpg"}


def test_watch_refuses_a_notify_url_that_is_no_webhook(env: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["watch", str(tmp_path), "--notify", "mailto:a@b.org"])
    assert result.exit_code == 2 and "http:// or https://" in result.output
