"""The fault tests' stack: services of their own that can be broken, and real workers on them.

Each fault module runs the real pipeline (``scangrade workers``: real Celery processes under the
supervisor) over fresh pages against services of its own: a throw-away Postgres cluster, a
private Redis, moto's S3 behind a relay that can cut it off, and a simulator whose chaos
switches are turned on at run time. So a restart or a flush there reaches no other test.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Row, func, select

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, start_s3, start_simulator, start_workers
from devkit.testdb import settings_from
from pipeline.adapters import objectstore
from pipeline.adapters.db.models import Artifact, Page, ProviderTask, Question, Slot
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import ArtifactState, PageState
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.schema import migrate
from pipeline.stages.enqueue import enqueue_directory
from support.batches import sim_answers, wait_until_done
from support.chaos import Outage, PrivatePostgres, PrivateRedis

PAGES = 30
API_KEY, SECRET_KEY = "faults-api-key", "faults-secret-key"


@dataclass
class Stack:
    """This module's services, and the workers running on them."""

    postgres: PrivatePostgres
    redis: PrivateRedis
    s3: Outage
    simulator: httpx.Client
    workers: Service
    scans: Path
    logs: Path

    def worker_trouble(self, lines: int = 60) -> str:
        """The workers' last warnings and errors: what a stalled batch's assertion shows."""
        log = (self.logs / "workers.log").read_text(errors="replace").splitlines()
        loud = [line for line in log if " WARNING " in line or " ERROR " in line]
        return "\n".join(loud[-lines:])


def _fault_settings(postgres: str, redis: str, s3: str, simulator: str) -> dict[str, str]:
    """Every service through its breakable stand-in; short leases, limits and timeouts."""
    return {
        "SCANGRADE_DATABASE_URL": f"{postgres}/scangrade_faults",
        "SCANGRADE_REDIS_URL": redis,
        "SCANGRADE_S3_ENDPOINT_URL": s3,
        "SCANGRADE_S3_BUCKET": "scangrade-faults",
        "SCANGRADE_S3_ACCESS_KEY_ID": "testing",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "testing",
        "SCANGRADE_BAIDU_BASE_URL": simulator,
        "SCANGRADE_BAIDU_API_KEY": API_KEY,
        "SCANGRADE_BAIDU_SECRET_KEY": SECRET_KEY,
        "SCANGRADE_BAIDU_KEYS": "[]",
        "SCANGRADE_CORRECT_EDU_CREATE_QPS": "20",
        "SCANGRADE_CORRECT_EDU_GET_QPS": "20",
        "SCANGRADE_POLL_FIRST_MIN_S": "0.2",
        "SCANGRADE_POLL_FIRST_MAX_S": "0.4",
        "SCANGRADE_POLL_MAX_INTERVAL_S": "1",
        "SCANGRADE_POLL_LEASE_S": "10",
        "SCANGRADE_STALE_AFTER_S": "5",
        "SCANGRADE_RECONCILE_EVERY_S": "2",
        "SCANGRADE_TASK_TIME_LIMIT_S": "20",
        "SCANGRADE_HTTP_TIMEOUT_S": "5",
        "SCANGRADE_MAX_PAGE_ATTEMPTS": "50",
        "SCANGRADE_INGEST_CONCURRENCY": "1",
        "SCANGRADE_SUBMIT_CONCURRENCY": "2",
        "SCANGRADE_POLL_CONCURRENCY": "2",
        "SCANGRADE_PERSIST_CONCURRENCY": "2",
        "SCANGRADE_SETTLE_S": "0",
        "SCANGRADE_METRICS_PORT": "0",
    }


@contextlib.contextmanager
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Start a module's services and workers (see the module docstring); stop them after."""
    logs = tmp_path_factory.mktemp("fault-logs")
    postgres = PrivatePostgres()
    broker = PrivateRedis()
    s3 = start_s3(logs / "s3.log")
    relay = Outage(int(s3.url.rsplit(":", 1)[1]))
    simulator = start_simulator(
        ("--key", f"{API_KEY}:{SECRET_KEY}", "--quota-scale", "10", "--time-scale", "0.02"),
        logs / "simulator.log",
    )
    values = _fault_settings(postgres.url, broker.url, relay.url, simulator.url)
    with settings_from(values) as settings:
        migrate(settings)
        objectstore.get_store().ensure_bucket()
        workers = start_workers({}, logs / "workers.log")
        with httpx.Client(base_url=simulator.url, timeout=30) as sim:
            yield Stack(
                postgres, broker, relay, sim, workers, tmp_path_factory.mktemp("fault-scans"), logs
            )
        workers.stop()
    simulator.stop()
    relay.down()
    s3.stop()
    broker.stop()
    postgres.stop()


_seeds = iter(range(10_000, 1_000_000, PAGES))


def run_batch(
    stack: Stack, name: str, fault: Callable[[], None], *, when: float = 0.3, pages: int = PAGES
) -> int:
    """Enqueue 50 (or ``pages``) fresh pages, apply ``fault`` once a share ``when`` of them
    has a provider task, and wait for the batch to end; returns its id."""
    root = stack.scans / name
    root.mkdir()
    first = next(_seeds)
    for seed in range(first, first + pages):
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(seed, 620, 877)))
    batch_id = enqueue_directory(root, get_store(), batch_name=name).batch_id
    deadline = time.monotonic() + 120
    while tasks_created(batch_id) < when * pages:
        assert time.monotonic() < deadline, f"the batch never got going:\n{stack.worker_trouble()}"
        time.sleep(0.1)
    fault()
    try:
        wait_until_done(batch_id, timeout=240)
    except AssertionError as e:
        raise AssertionError(f"{e}\nthe workers' last warnings:\n{stack.worker_trouble()}") from e
    return batch_id


def tasks_created(batch_id: int) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(ProviderTask)
                .join(Page)
                .where(Page.batch_id == batch_id)
            )
            or 0
        )


@dataclass(frozen=True)
class Accounts:
    """What the provider saw of a batch, and what the pipeline says of it."""

    creates: Counter[str]  # tasks the provider created, by page image SHA-256
    ambiguous: Counter[str]  # the pipeline's ambiguous resubmissions, by the same

    @property
    def extra(self) -> int:
        """Pages paid for more than once."""
        return sum(n - 1 for n in self.creates.values())


def batch_rows(batch_id: int) -> tuple[Sequence[Row[Any]], ...]:
    """The batch's pages, tasks, (task, question, slot count) rows and artifacts."""
    with session_scope() as session:
        pages = session.execute(
            select(Page.id, Page.state, Page.sha256, Page.ambiguous_submits, Page.error).where(
                Page.batch_id == batch_id
            )
        ).all()
        tasks = session.execute(
            select(ProviderTask.page_id, ProviderTask.task_id, ProviderTask.state)
            .join(Page)
            .where(Page.batch_id == batch_id)
        ).all()
        rows = session.execute(
            select(
                ProviderTask.task_id, Question.question_uid, Question.sequence, func.count(Slot.id)
            )
            .join(Question, Question.provider_task_id == ProviderTask.id)
            .outerjoin(Slot, Slot.question_id == Question.id)
            .join(Page, Page.id == ProviderTask.page_id)
            .where(Page.batch_id == batch_id)
            .group_by(ProviderTask.task_id, Question.question_uid, Question.sequence)
        ).all()
        artifacts = session.execute(
            select(Artifact.s3_key, Artifact.state, Artifact.sha256)
            .join(Page, Page.id == Artifact.page_id)
            .where(Page.batch_id == batch_id)
        ).all()
    return pages, tasks, rows, artifacts


def assert_whole(stack: Stack, batch_id: int) -> Accounts:
    """Every page done, every question and slot once, every artifact in S3, and each page
    paid for once, or more only where the pipeline counted an ambiguous resubmission."""
    produced = stack.simulator.get("/_sim/tasks").json()["tasks"]
    pages, tasks, rows, artifacts = batch_rows(batch_id)
    assert len(pages) == PAGES
    assert [p for p in pages if p.state != PageState.DONE] == []
    # One recorded task per page, each a task the provider really made for that page.
    assert sorted(t.page_id for t in tasks) == sorted(p.id for p in pages)
    sha_of_page = {p.id: p.sha256 for p in pages}
    assert all(produced[t.task_id]["image_sha256"] == sha_of_page[t.page_id] for t in tasks)
    # Every question and slot of every task exactly once.
    recorded = {t.task_id for t in tasks}
    expected = {
        (task_id, q["questionId"], q["seqence"]): len(q["slots"])
        for task_id, task in produced.items()
        if task_id in recorded
        for q in task["questions"]
    }
    assert {(t, u, s): n for t, u, s, n in rows} == expected
    assert len(rows) == len(expected)
    # Nothing lost: every artifact archived, its bytes in S3.
    assert {a.state for a in artifacts} == {ArtifactState.ARCHIVED}
    store = get_store()
    for artifact in artifacts:
        assert hashlib.sha256(store.get(artifact.s3_key)).hexdigest() == artifact.sha256
    # Billing: the provider made one task per page, more only where we said we could not know.
    shas = set(sha_of_page.values())
    creates = Counter(t["image_sha256"] for t in produced.values() if t["image_sha256"] in shas)
    ambiguous = Counter({p.sha256: p.ambiguous_submits for p in pages})
    for sha in shas:
        assert 1 <= creates[sha] <= 1 + ambiguous[sha], (sha, creates[sha], ambiguous[sha])
    return Accounts(creates, ambiguous)


def sim_config(stack: Stack, **values: float) -> None:
    stack.simulator.post("/_sim/config", json=values).raise_for_status()


def answers(stack: Stack, operation: str) -> Counter[str]:
    return sim_answers(stack.simulator, operation)
