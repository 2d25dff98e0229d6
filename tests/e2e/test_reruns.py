"""Safe re-runs: the same scans enqueued again are not paid for twice unless forced, and
``scangrade retry`` puts a batch's failures back on their way.

Real workers, Postgres, Redis, S3 and the simulator over HTTP.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner
from sqlalchemy import select
from support.batches import sim_answers, wait_until_done

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.models import Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory


def _scans(root: Path, seeds: range) -> Path:
    root.mkdir(parents=True)
    for seed in seeds:
        (root / f"page-{seed}.jpg").write_bytes(jpeg_bytes(make_page_image(seed, 640, 905)))
    return root


def _creates(sim_http: httpx.Client) -> int:
    return sim_answers(sim_http, "correct_edu.create_task").total()


def _documents(batch_id: int) -> list[Document]:
    with session_scope() as session:
        docs = list(session.scalars(select(Document).where(Document.batch_id == batch_id)))
        session.expunge_all()
        return docs


def test_same_scans_in_another_batch_are_skipped_unless_forced(
    env: Settings, workers: Service, sim_http: httpx.Client, tmp_path: Path
) -> None:
    first = _scans(tmp_path / "night-1", range(6101, 6104))
    one = enqueue_directory(first, get_store(), batch_name="rerun-one")
    wait_until_done(one.batch_id)
    # The operator copies the same files into tonight's folder, with one new page.
    second = _scans(tmp_path / "night-2", range(6103, 6105))
    for path in first.iterdir():
        (second / path.name).write_bytes(path.read_bytes())
    creates = _creates(sim_http)

    result = CliRunner().invoke(main, ["enqueue", str(second), "--batch", "rerun-two", "--wait"])

    assert result.exit_code == 0, result.output
    assert "3 already sent" in result.output and "1 documents queued" in result.output
    assert "--force" in result.output
    assert _creates(sim_http) - creates == 1
    two = {d.rel_path: d for d in _documents(_batch("rerun-two"))}
    original = {d.rel_path: d.id for d in _documents(one.batch_id)}
    for name, doc_id in original.items():
        assert two[name].state == DocumentState.SKIPPED
        assert two[name].duplicate_of == doc_id
        assert "rerun-one" in (two[name].error or "")
    assert two["page-6104.jpg"].state == DocumentState.INGESTED

    forced = CliRunner().invoke(
        main, ["enqueue", str(second), "--batch", "rerun-two", "--force", "--wait"]
    )

    assert forced.exit_code == 0, forced.output
    assert _creates(sim_http) - creates == 4
    assert {d.state for d in _documents(_batch("rerun-two"))} == {DocumentState.INGESTED}


def test_retry_requeues_failed_pages(
    env: Settings, workers: Service, sim_http: httpx.Client, tmp_path: Path
) -> None:
    root = _scans(tmp_path / "night-3", range(6201, 6204))
    rule = {"operation": "correct_edu.create_task", "error_code": 216201, "count": 1}
    sim_http.post("/_sim/faults", json={"rules": [rule]}).raise_for_status()
    try:
        report = enqueue_directory(root, get_store(), batch_name="retry-me")
        wait_until_done(report.batch_id)
    finally:
        sim_http.post("/_sim/faults", json={"rules": []})
    with session_scope() as session:
        failed = session.scalars(
            select(Page).where(Page.batch_id == report.batch_id, Page.state == PageState.FAILED)
        ).all()
        assert [(p.error_code, p.submit_attempts) for p in failed] == [("216201", 1)]
    creates = _creates(sim_http)

    result = CliRunner().invoke(main, ["retry", "retry-me"])

    assert result.exit_code == 0, result.output
    assert "1 failed pages" in result.output
    wait_until_done(report.batch_id)
    assert _creates(sim_http) - creates == 1
    with session_scope() as session:
        pages = session.scalars(select(Page).where(Page.batch_id == report.batch_id)).all()
        assert {p.state for p in pages} == {PageState.DONE}
        assert sorted(p.submit_attempts for p in pages) == [1, 1, 2]
    again = CliRunner().invoke(main, ["retry", "retry-me"])
    assert again.exit_code == 0 and "nothing had failed" in again.output


def _batch(name: str) -> int:
    from pipeline.adapters.db.models import Batch

    with session_scope() as session:
        batch_id = session.scalar(select(Batch.id).where(Batch.name == name))
        assert batch_id is not None
        return batch_id


def test_a_lost_answer_is_resent_counted_and_shown(
    env: Settings, workers: Service, sim_http: httpx.Client, tmp_path: Path
) -> None:
    root = _scans(tmp_path / "night-4", range(6301, 6303))
    # The provider creates the task, then the connection drops before its answer.
    rule = {"operation": "correct_edu.create_task", "drop": True, "performed": True, "count": 1}
    sim_http.post("/_sim/faults", json={"rules": [rule]}).raise_for_status()
    try:
        report = enqueue_directory(root, get_store(), batch_name="lost-answer")
        wait_until_done(report.batch_id)
    finally:
        sim_http.post("/_sim/faults", json={"rules": []})
    with session_scope() as session:
        pages = session.scalars(select(Page).where(Page.batch_id == report.batch_id)).all()
        assert {p.state for p in pages} == {PageState.DONE}
        resent = [p for p in pages if p.ambiguous_submits]
        assert [p.ambiguous_submits for p in resent] == [1]
        sha = resent[0].sha256
    uploads = sim_http.get("/_sim/uploads").json()["uploads"]
    assert uploads[sha]["performed"] == 2 and uploads[sha]["answered"] == 1  # paid twice

    status = CliRunner().invoke(main, ["status", "lost-answer"])

    assert status.exit_code == 0, status.output
    assert "resent after a lost answer" in status.output
