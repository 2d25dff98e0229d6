"""The whole path on real services: a directory becomes graded rows and archived images.

Real Postgres, Redis, moto's S3 server, the simulator over HTTP and real Celery worker
processes (``scangrade workers``); no eager mode, no mock.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image, write_sample_batch
from devkit.standins import Service
from pipeline.adapters.db.models import Artifact, Document, Page, ProviderTask, Question, Slot
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory


@pytest.fixture(scope="module")
def finished_batch(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("scans") / "2026-11-21"
    expected = write_sample_batch(root)
    (root / "notes.txt").write_text("not a scan")
    (root / "7B" / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<<")
    report = enqueue_directory(root, get_store(), batch_name="e2e")
    wait_until_done(report.batch_id)
    return report, expected


def test_every_page_is_done(finished_batch) -> None:
    report, expected = finished_batch
    with session_scope() as session:
        docs = {
            d.rel_path: d
            for d in session.scalars(select(Document).where(Document.batch_id == report.batch_id))
        }
        pages = session.execute(
            select(Document.rel_path, Page.state, func.count())
            .join(Document, Document.id == Page.document_id)
            .where(Page.batch_id == report.batch_id)
            .group_by(Document.rel_path, Page.state)
        ).all()
    done = {path: count for path, state, count in pages if state == "done"}
    assert done == expected
    assert all(state == "done" for _, state, _ in pages)
    assert docs["notes.txt"].state == "failed" and docs["notes.txt"].error
    assert docs["7B/broken.pdf"].state == "failed"
    assert "pdf" in (docs["7B/broken.pdf"].error or "").lower()
    assert all(len(d.sha256 or "") == 64 for p, d in docs.items() if d.state != "failed")


def test_every_question_and_slot_exactly_once(finished_batch, sim_http: httpx.Client) -> None:
    report, _ = finished_batch
    produced = sim_http.get("/_sim/tasks").json()["tasks"]
    with session_scope() as session:
        task_ids = set(
            session.scalars(
                select(ProviderTask.task_id).join(Page).where(Page.batch_id == report.batch_id)
            )
        )
        rows = session.execute(
            select(
                ProviderTask.task_id, Question.question_uid, Question.sequence, func.count(Slot.id)
            )
            .join(Question, Question.provider_task_id == ProviderTask.id)
            .outerjoin(Slot, Slot.question_id == Question.id)
            .where(ProviderTask.task_id.in_(task_ids))
            .group_by(ProviderTask.task_id, Question.question_uid, Question.sequence)
        ).all()
    in_db = {(task, uid, seq): slots for task, uid, seq, slots in rows}
    expected = {
        (task_id, q["questionId"], q["seqence"]): len(q["slots"])
        for task_id, task in produced.items()
        if task_id in task_ids
        for q in task["questions"]
    }
    assert len(task_ids) == sum(expected_pages for expected_pages in finished_batch[1].values())
    assert in_db == expected
    assert len(rows) == len(set(in_db))


def test_results_are_archived_with_the_served_bytes(finished_batch) -> None:
    report, _ = finished_batch
    store = get_store()
    with session_scope() as session:
        artifacts = list(
            session.scalars(select(Artifact).where(Artifact.batch_id == report.batch_id))
        )
        tasks = list(
            session.scalars(select(ProviderTask).join(Page).where(Page.batch_id == report.batch_id))
        )
        crops = session.scalar(
            select(func.count())
            .select_from(Question)
            .join(Page)
            .where(Page.batch_id == report.batch_id, Question.crop_key.is_not(None))
        )
        questions = session.scalar(
            select(func.count())
            .select_from(Question)
            .join(Page)
            .where(Page.batch_id == report.batch_id)
        )
    assert all(a.state == "archived" for a in artifacts)
    assert crops == questions
    kinds = {a.kind for a in artifacts}
    assert kinds == {"original", "page_image", "raw_result", "result_image", "crop"}
    by_key = {a.s3_key: a for a in artifacts}
    for task in tasks:
        answer = json.loads(store.get(task.raw_key))
        for image in answer["imageResults"]:
            urls = [q["cropUrl"] for q in image["result"]] + [image["imageUrl"]]
            for url in urls:
                served = hashlib.sha256(httpx.get(url).content).hexdigest()
                matches = [a for a in by_key.values() if a.sha256 == served]
                assert matches, f"no archived object has the bytes served at {url[:60]}"
                assert hashlib.sha256(store.get(matches[0].s3_key)).hexdigest() == served
    for artifact in artifacts:
        assert artifact.s3_key.startswith(f"batches/{report.batch_id}/documents/")
        assert artifact.source_url is None or "authorization" not in artifact.source_url


# No access token, key or secret in any row, object or log: tests/test_security.py checks it
# after a run that also goes through failures, token refreshes and a wrong secret.


def test_rerun_records_nothing_twice(finished_batch) -> None:
    report, _ = finished_batch
    with session_scope() as session:
        root = Path(
            session.scalar(
                text("SELECT root_dir FROM batches WHERE id = :id"), {"id": report.batch_id}
            )
        )
        before = session.scalar(select(func.count()).select_from(Page))
    again = enqueue_directory(root, get_store(), batch_name="e2e")
    assert again.batch_id == report.batch_id
    assert again.queued == []
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Page)) == before


def test_cli_enqueue_wait_exits_1_when_a_file_failed(
    finished_batch, env: Settings, tmp_path: Path
) -> None:
    root = tmp_path / "night"
    root.mkdir()
    (root / "good.jpg").write_bytes(jpeg_bytes(make_page_image(77)))
    (root / "bad.pdf").write_bytes(b"<html>not a pdf</html>")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.operator.cli",
            "enqueue",
            str(root),
            "--batch",
            "cli",
            "--wait",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    # The failures are results (stdout); the progress bar is progress (stderr).
    assert "bad.pdf" in done.stdout and "1/1" in done.stderr
    status = subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", "status", "cli"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0 and "pages done" in status.stdout


def _children(pid: int) -> dict[int, str]:
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found[int(proc.name)] = cmdline
    return found


def test_a_killed_worker_is_restarted_and_the_batch_finishes(
    finished_batch, workers: Service, tmp_path: Path
) -> None:
    (submit_pid,) = [p for p, cmd in _children(workers.process.pid).items() if " submit@" in cmd]
    os.kill(submit_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        again = [p for p, cmd in _children(workers.process.pid).items() if " submit@" in cmd]
        if again and again != [submit_pid]:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the submit worker was not restarted")
    root = tmp_path / "after-kill"
    root.mkdir()
    for seed in (81, 82, 83):
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(seed)))
    report = enqueue_directory(root, get_store(), batch_name="after-kill")
    wait_until_done(report.batch_id)
    with session_scope() as session:
        states = session.scalars(select(Page.state).where(Page.batch_id == report.batch_id)).all()
    assert list(states) == ["done"] * 3
