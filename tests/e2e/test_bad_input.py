"""Bad input, end to end: a night's directory of broken, hostile and awkward files.

Every file ends as graded pages or as a failure with a stable code and a reason that names the
problem, in Postgres and in ``scangrade status``; the rest of the batch finishes and no worker
crashes or hangs. Real workers, Postgres, Redis, moto's S3 and the simulator, no mock.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from support.bad_files import Expect, page, write_corpus
from support.batches import wait_until_done

from devkit import samples
from devkit.standins import Service
from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.settings import Settings
from pipeline.stages.enqueue import EnqueueReport, enqueue_directory

SETTLE_S = 1.0


# A batch that takes longer has a hung page (generous: the tests may share a busy CPU).
HANG_S = 180


BATCH = "bad-input"


ARRIVING = "arriving.pdf"


# What a crashed, killed or stuck worker leaves in the supervisor's and Celery's log.
CRASH_SIGNS = ("exited with", "WorkerLostError", "Hard time limit", "Traceback")


@dataclass(frozen=True)
class Corpus:
    root: Path
    report: EnqueueReport
    expected: dict[str, Expect]
    arriving: bytes
    log_from: int


@pytest.fixture(scope="module")
def corpus(
    env: Settings, workers: Service, logs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Corpus:
    base = tmp_path_factory.mktemp("bad-input")
    root, outside = base / "night", base / "outside"
    root.mkdir()
    outside.mkdir()
    expected = write_corpus(root, outside)
    time.sleep(SETTLE_S + 0.2)  # the scanner finished with those a moment ago...
    arriving = samples.pdf_from_jpegs([samples.jpeg_bytes(page(n), 60) for n in (40, 41)])
    (root / ARRIVING).write_bytes(arriving[: len(arriving) // 2])  # ...and is writing this one
    log_from = (logs_dir / "workers.log").stat().st_size
    report = enqueue_directory(root, get_store(), batch_name=BATCH, settle_s=SETTLE_S)
    wait_until_done(report.batch_id, timeout=HANG_S)
    return Corpus(root, report, expected, arriving, log_from)


def _documents(batch_id: int) -> dict[str, Document]:
    with session_scope() as session:
        rows = session.scalars(select(Document).where(Document.batch_id == batch_id))
        return {d.rel_path: d for d in rows}


def _pages(batch_id: int) -> dict[str, list[Page]]:
    found: dict[str, list[Page]] = {}
    with session_scope() as session:
        rows = session.execute(
            select(Document.rel_path, Page)
            .join(Document, Document.id == Page.document_id)
            .where(Page.batch_id == batch_id)
            .order_by(Page.page_no)
        ).all()
    for rel_path, row in rows:
        found.setdefault(rel_path, []).append(row)
    return found


def _status(batch: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", "status", batch],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _shown(rel_path: str) -> str:
    return rel_path.replace("\n", "\\n")


def test_every_file_ends_done_or_with_its_reason(corpus: Corpus) -> None:
    docs = _documents(corpus.report.batch_id)
    pages = _pages(corpus.report.batch_id)
    assert len(corpus.expected) >= 20
    assert set(docs) == {*corpus.expected, ARRIVING}  # the empty folder is missing work
    for rel_path, expect in corpus.expected.items():
        doc, its_pages = docs[rel_path], pages.get(rel_path, [])
        done = [p for p in its_pages if p.state == "done"]
        assert len(done) == expect.done, (rel_path, [(p.state, p.error) for p in its_pages])
        if expect.code is None:
            assert doc.state == "ingested" and len(its_pages) == expect.done, rel_path
        elif expect.page is None:
            assert (doc.state, doc.error_code) == ("failed", expect.code), (rel_path, doc.error)
            assert expect.words in (doc.error or ""), rel_path
            assert its_pages == []
        else:
            [failed] = [p for p in its_pages if p.state == "failed"]
            assert (failed.page_no, failed.error_code) == (expect.page, expect.code), rel_path
            assert expect.words in (failed.error or ""), rel_path


def test_fixed_pages_say_what_was_done(corpus: Corpus) -> None:
    pages = _pages(corpus.report.batch_id)

    def only(rel_path: str) -> Page:
        [row] = pages[rel_path]
        return row

    assert (only("small.jpg").width, only("small.jpg").height) == (512, 723)
    assert "upscaled from 310x438 to 512x723" in only("small.jpg").notes
    assert max(only("tall.png").width or 0, only("tall.png").height or 0) == 8192
    assert any("10 MiB once base64-encoded" in n for n in only("heavy.bmp").notes)
    assert "converted CMYK to RGB" in only("cmyk.jpg").notes
    assert "scaled I;16 to 8-bit gray" in only("sixteen-bit.png").notes
    assert "flattened RGBA transparency onto white" in only("alpha.png").notes
    assert "converted P to RGB" in only("palette.png").notes
    assert [p.page_no for p in pages["three pages.tif"]] == [1, 2, 3]
    for rows in pages.values():
        for row in rows:
            if row.image_key is not None:
                assert row.image_key.isascii() and "\n" not in row.image_key


def test_status_gives_every_failure_its_reason(corpus: Corpus) -> None:
    lines = _status(BATCH)
    failures = {
        _shown(rel_path) + ("" if expect.page is None else f" page {expect.page}"): expect
        for rel_path, expect in corpus.expected.items()
        if expect.code is not None
    }
    for what, expect in failures.items():
        matching = [line for line in lines if f" {what}: " in line]
        assert len(matching) == 1, (what, lines)
        assert expect.words in matching[0] and matching[0].endswith(f"[{expect.code}]"), matching
    files = sum(1 for expect in failures.values() if expect.page is None) + 1  # + ARRIVING
    assert f"{files} files and {len(failures) - files + 1} pages failed:" in lines
    # a newline in a name is shown as an escape, never as a line of its own
    assert not any(line.startswith("line.jpg") for line in lines)


def test_a_file_still_being_written_is_taken_once_settled(corpus: Corpus) -> None:
    doc = _documents(corpus.report.batch_id)[ARRIVING]
    assert (doc.state, doc.error_code) == ("failed", "still_being_written")
    assert (doc.error or "").startswith("still being written (modified ")
    assert "enqueue again once the scanner is done" in (doc.error or "")
    assert any(f" {ARRIVING}: still being written" in line for line in _status(BATCH))

    (corpus.root / ARRIVING).write_bytes(corpus.arriving)  # the scanner is done
    again = enqueue_directory(corpus.root, get_store(), batch_name=BATCH, settle_s=SETTLE_S)
    assert [r.code for r in again.rejected if r.rel_path == ARRIVING] == ["still_being_written"]
    assert again.queued == []

    time.sleep(SETTLE_S + 0.2)
    requeued_at = datetime.now(UTC)
    last = enqueue_directory(corpus.root, get_store(), batch_name=BATCH, settle_s=SETTLE_S)
    assert last.queued == [ARRIVING]
    wait_until_done(last.batch_id, timeout=HANG_S)
    doc = _documents(corpus.report.batch_id)[ARRIVING]
    assert (doc.state, doc.kind, doc.error, doc.error_code) == ("ingested", "pdf", None, None)
    assert [p.state for p in _pages(corpus.report.batch_id)[ARRIVING]] == ["done", "done"]
    with session_scope() as session:  # the batch ran again for the late file, then closed
        finished_at = session.get_one(Batch, last.batch_id).finished_at
    assert finished_at is not None and finished_at > requeued_at


def test_no_worker_crashed_or_hung(corpus: Corpus, workers: Service, logs_dir: Path) -> None:
    assert workers.process.poll() is None
    with (logs_dir / "workers.log").open("rb") as log:
        log.seek(corpus.log_from)
        written = log.read().decode(errors="replace")
    for sign in CRASH_SIGNS:
        assert sign not in written, written[written.find(sign) - 2000 : written.find(sign) + 500]
    # no task came near its time limit: nothing decoded a bomb or spun on a broken file
    took = [float(s) for s in re.findall(r"succeeded in ([0-9.]+)s", written)]
    assert took and max(took) < 60


@pytest.fixture
def faults(sim_http: httpx.Client) -> Iterator[httpx.Client]:
    """The simulator is shared by every test: whatever happens, leave it without rules."""
    yield sim_http
    assert sim_http.post("/_sim/faults", json={"rules": []}).status_code == 200


def test_provider_permanent_errors_are_recorded_and_not_retried(
    env: Settings, workers: Service, faults: httpx.Client, tmp_path: Path
) -> None:
    root = tmp_path / "refused"
    root.mkdir()
    for n in (50, 51):
        (root / f"page {n}.jpg").write_bytes(samples.jpeg_bytes(page(n)))
    # The first create_task of the two pages is refused; the other page's task is created,
    # and its first get_result refused: each once, never again.
    rules = [
        {"operation": "correct_edu.create_task", "error_code": 216201, "count": 1},
        {"operation": "correct_edu.get_result", "error_code": 216201, "count": 1},
    ]
    assert faults.post("/_sim/faults", json={"rules": rules}).status_code == 200
    since = time.time()

    report = enqueue_directory(root, get_store(), batch_name="refused", settle_s=0)
    wait_until_done(report.batch_id, timeout=HANG_S)

    rows = [row for [row] in _pages(report.batch_id).values()]
    assert [(r.state, r.error_code, r.submit_attempts) for r in rows] == [
        ("failed", "216201", 1)
    ] * 2
    errors = sorted(r.error or "" for r in rows)
    for error, operation in zip(errors, ("create_task", "get_result"), strict=True):
        assert operation in error and "provider error 216201 'image format error'" in error
    calls = faults.get("/_sim/calls", params={"since": since}).json()["calls"]
    made = sorted((op, outcome) for _, _, op, outcome in calls if op.startswith("correct_edu."))
    assert made == [
        ("correct_edu.create_task", "216201"),
        ("correct_edu.create_task", "ok"),
        ("correct_edu.get_result", "216201"),
    ]
    assert [rule["count"] for rule in faults.get("/_sim/faults").json()["rules"]] == [0, 0]
    lines = _status("refused")
    for error in errors:
        assert sum(line.endswith(f" page 1: {error} [216201]") for line in lines) == 1, lines
