"""``scangrade status`` and ``status --watch``: stage counts, rates, ETA, failures and the API
keys' load, on a batch whose rows (and their timestamps) the test writes itself."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider.auth import Credentials
from pipeline.adapters.provider.keys import PoolKey
from pipeline.operator.cli import main
from pipeline.operator.live import StatusWatch
from pipeline.operator.screens import render
from pipeline.settings import Settings


@dataclass(frozen=True)
class Built:
    batch_id: int
    name: str
    pages: dict[str, int]
    """Page ids by label."""
    tasks: list[int]


def _pool() -> list[PoolKey]:
    """A key of its own, so that no other test's provider calls count in its lanes."""
    creds = Credentials(f"live-{uuid.uuid4().hex}", "secret")
    quotas = {("correct_edu", "create_task"): 2.0, ("correct_edu", "get_result"): 3.0}
    return [PoolKey(creds, quotas, daily_budget=5000)]


Ago = Callable[[float], datetime]


def _documents(session: Session, batch_id: int) -> list[Document]:
    docs = [
        Document(
            batch_id=batch_id,
            rel_path=f"{path}.pdf",
            kind="pdf",
            api="correct_edu",
            state=state,
        )
        for path, state in (
            ("a", "ingested"),
            ("b", "ingested"),
            ("c", "ingested"),
            ("late", "ingesting"),
        )
    ]
    docs.append(
        Document(
            batch_id=batch_id,
            rel_path="notes.txt",
            kind="rejected",
            api="correct_edu",
            state="failed",
            error="not a scan",
            error_code="unsupported_type",
        )
    )
    session.add_all(docs)
    session.flush()
    return docs


def _pages(session: Session, batch_id: int, docs: list[Document], ago: Ago) -> dict[str, int]:
    specs = {
        "done-new-1": ("done", 10, None),
        "done-new-2": ("done", 20, None),
        "done-old-1": ("done", 400, None),
        "done-old-2": ("done", 500, None),
        "failed": ("failed", 30, "216201"),
        "blank": ("skipped", 180, "blank"),
        "submitted-1": ("submitted", 5, None),
        "submitted-2": ("submitted", 5, None),
        "persisting": ("persisting", 5, None),
        "submitting": ("submitting", 1, None),
    }
    pages = {}
    for n, (label, (state, age, code)) in enumerate(specs.items()):
        page = Page(
            batch_id=batch_id,
            document_id=docs[n % 3].id,
            page_no=n + 1,
            state=state,
            error_code=code,
            error="image format error" if code == "216201" else None,
            updated_at=ago(age),
        )
        session.add(page)
        session.flush()
        pages[label] = page.id
    return pages


def _tasks(session: Session, page_id: int, key_id: str, name: str, ago: Ago) -> list[int]:
    tasks = []
    for n, age in enumerate((5, 15, 25, 300)):
        task = ProviderTask(
            page_id=page_id,
            api="correct_edu",
            key_id=key_id,
            task_id=f"{name}-{n}",
            state="finished",
            submitted_at=ago(age),
            polls=2,
        )
        session.add(task)
        session.flush()
        tasks.append(task.id)
    return tasks


def _build(key_id: str) -> Built:
    """A batch started 10 minutes ago, still running.

    Documents: 3 split into pages, 1 being split, 1 rejected (unsupported_type).
    Pages (10): done 2 in the last minute and 2 long ago, failed (216201) 30 s ago, skipped
    (blank) 3 minutes ago, submitted 2, persisting 1, submitting 1.
    Provider tasks: 3 created in the last minute with key_id, 1 created 5 minutes ago.
    """
    now = datetime.now(UTC)
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    name = f"live-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        batch = Batch(name=name, root_dir="/scans", api="correct_edu", created_at=ago(600))
        session.add(batch)
        session.flush()
        docs = _documents(session, batch.id)
        pages = _pages(session, batch.id, docs, ago)
        tasks = _tasks(session, pages["done-new-1"], key_id, name, ago)
    return Built(batch.id, name, pages, tasks)


def _finish(built: Built) -> None:
    """Every page and document ended: the batch is done."""
    with session_scope() as session:
        session.execute(
            update(Page)
            .where(Page.batch_id == built.batch_id, Page.state.not_in(["failed", "skipped"]))
            .values(state="done")
        )
        session.execute(
            update(Document)
            .where(Document.batch_id == built.batch_id, Document.state == "ingesting")
            .values(state="ingested")
        )
        session.execute(
            update(Batch)
            .where(Batch.id == built.batch_id)
            .values(state="done", finished_at=datetime.now(UTC))
        )


@pytest.fixture
def pool() -> list[PoolKey]:
    return _pool()


def _remove(built: Built) -> None:
    """Delete the batch's rows: its "late" document has no pages, and the session's workers,
    when an e2e module on this xdist worker runs them, would ingest it again and crash."""
    with session_scope() as session:
        session.execute(delete(ProviderTask).where(ProviderTask.id.in_(built.tasks)))
        session.execute(delete(Page).where(Page.batch_id == built.batch_id))
        session.execute(delete(Document).where(Document.batch_id == built.batch_id))
        session.execute(delete(Batch).where(Batch.id == built.batch_id))


@pytest.fixture
def running(env: Settings, pool: list[PoolKey]) -> Iterator[Built]:
    built = _build(pool[0].key_id)
    yield built
    _remove(built)


def test_stages_rates_eta_and_failures_of_a_running_batch(
    running: Built, pool: list[PoolKey]
) -> None:
    watch = StatusWatch(running.batch_id, pool, None, poll_floor_s=3600)
    with session_scope() as session:
        status = watch.refresh(session)

    bars = {s.name: (s.done, s.total, s.unit) for s in status.stages}
    assert bars == {
        "ingested": (4, 5, "documents"),
        "submitted": (7, 8, "pages"),  # 8 to grade: 10 less the failed and the blank one
        "results received": (5, 8, "pages"),
        "persisted": (4, 8, "pages"),
        "archived": (4, 8, "pages"),
        "done": (6, 10, "pages"),
    }
    rates = status.rates
    assert (rates.ended, rates.ended_recently, rates.recent_s) == (6, 3, 60.0)
    assert rates.elapsed_s == pytest.approx(600, abs=5)
    assert rates.per_min_recent == pytest.approx(3.0)
    assert rates.per_min_overall == pytest.approx(0.6, abs=0.01)
    # 4 pages to end, and about 3 (10 pages / 3 documents) in the document being split.
    assert rates.remaining == 7
    assert rates.eta_s == pytest.approx(140.0)
    assert [(f.error_code, f.documents, f.pages) for f in status.failures] == [
        ("216201", 0, 1),
        ("unsupported_type", 1, 0),
    ]


def test_each_keys_calls_in_the_last_minute_against_its_quota(
    running: Built, pool: list[PoolKey]
) -> None:
    watch = StatusWatch(running.batch_id, pool, None, poll_floor_s=3600)
    with session_scope() as session:
        first = watch.refresh(session)
    with session_scope() as session:  # 5 more get_result answers since the first refresh
        session.execute(
            update(ProviderTask)
            .where(ProviderTask.id == running.tasks[0])
            .values(polls=ProviderTask.polls + 5)
        )
    time.sleep(0.2)
    with session_scope() as session:
        second = watch.refresh(session)

    before = {(lane.api, lane.op): lane for lane in first.keys[0].lanes}
    assert before["correct_edu", "get_result"].calls_per_min is None  # a rate needs two reads
    (key,) = second.keys
    assert key.key_id == pool[0].key_id and key.daily_budget == 5000
    lanes = {(lane.api, lane.op): lane for lane in key.lanes}
    assert set(lanes) == {("correct_edu", "create_task"), ("correct_edu", "get_result")}
    create = lanes["correct_edu", "create_task"]
    assert (create.calls_per_min, create.quota_per_min) == (3, 120)
    assert create.headroom_per_min == 117
    get = lanes["correct_edu", "get_result"]
    span = (second.now - first.now).total_seconds()
    assert get.calls_per_min == pytest.approx(60 * 5 / span)
    assert get.quota_per_min == 180


def test_a_finished_batch_has_no_eta_to_wait_for(running: Built, pool: list[PoolKey]) -> None:
    _finish(running)
    watch = StatusWatch(running.batch_id, pool, None, poll_floor_s=3600)
    with session_scope() as session:
        status = watch.refresh(session)
    assert status.progress.finished and status.finished_at is not None
    assert status.rates.remaining == 0 and status.rates.eta_s == 0
    assert status.stages[-1].done == status.stages[-1].total == 10


def test_the_screen_shows_every_part(running: Built, pool: list[PoolKey]) -> None:
    watch = StatusWatch(running.batch_id, pool, None, poll_floor_s=3600)
    with session_scope() as session:
        status = watch.refresh(session)
    console = Console(record=True, width=140)
    console.print(render(status))
    screen = console.export_text()
    for words in (
        "results received",
        "7/8 pages",
        "3.0 pages/min over the last 1m00s",
        "7 pages to go, ETA 2m20s",
        "216201",
        "unsupported_type",
        pool[0].key_id,
        "correct_edu create_task",
    ):
        assert words in screen, words


def test_status_prints_rates_and_eta_of_a_running_batch(running: Built) -> None:
    result = CliRunner().invoke(main, ["status", running.name])
    assert result.exit_code == 0, result.output
    assert "3.0 pages/min over the last 1m00s, 0.6/min since start" in result.output
    assert "7 pages to go, ETA 2m20s" in result.output


def test_status_watch_refreshes_until_the_batch_ends(running: Built) -> None:
    threading.Timer(0.8, _finish, [running]).start()
    started = time.monotonic()

    result = CliRunner().invoke(main, ["status", running.name, "--watch", "--interval", "0.2"])

    assert result.exit_code == 1, result.output  # one page and one file failed
    assert time.monotonic() - started >= 0.8
    assert "done" in result.output and "10/10 pages" in result.output
    assert "1 files and 1 pages failed" in result.output


def test_status_watch_needs_a_batch(env: Settings) -> None:
    result = CliRunner().invoke(main, ["status", "--watch"])
    assert result.exit_code == 2 and "--watch needs a BATCH" in result.output
