"""Rescans: a file whose content changed at the same path is a new version of its document in
the same batch; the old version is kept, superseded, and out of the views, the report, status
and retry. ``enqueue --force`` does what ``enqueue --force --dry-run`` says, page for page.

Real workers, Postgres, Redis, S3 and the simulator over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner
from sqlalchemy import select, text
from support.batches import sim_answers
from support.rescans import pages_of, rescan_jpeg

from devkit.samples import blank_page, pdf_from_jpegs
from devkit.standins import Service
from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.domain.routing import Route, Routing
from pipeline.domain.students import Students
from pipeline.operator.cli import main
from pipeline.operator.report.data import load_report
from pipeline.settings import Settings
from pipeline.stages.check import check
from pipeline.stages.plan import plan_directory


def _pdf(*pages: bytes) -> bytes:
    return pdf_from_jpegs(list(pages))


def _creates(sim_http: httpx.Client) -> int:
    return sim_answers(sim_http, "correct_edu.create_task").total()


def _batch_id(name: str) -> int:
    with session_scope() as session:
        found = session.scalar(select(Batch.id).where(Batch.name == name))
        assert found is not None
        return found


def _versions(batch_id: int, rel_path: str) -> list[Document]:
    with session_scope() as session:
        docs = list(
            session.scalars(
                select(Document)
                .where(Document.batch_id == batch_id, Document.rel_path == rel_path)
                .order_by(Document.version)
            )
        )
        session.expunge_all()
        return docs


def _rows(sql: str, **params: Any) -> list[Any]:
    with session_scope() as session:
        return list(session.execute(text(sql), params).all())


def _check_views_and_report(batch_id: int, old_pages: list[int]) -> None:
    """The analysts' views and the report know the current version only."""
    for view in ("v_page_owners", "v_slot_results", "v_failures"):
        rows = _rows(f"SELECT page_id FROM {view} WHERE page_id = ANY(:ids)", ids=old_pages)
        assert rows == [], view
    [progress] = _rows(
        "SELECT documents, documents_failed, pages, pages_done, pages_failed, documents_superseded"
        " FROM v_batch_progress WHERE batch_id = :b",
        b=batch_id,
    )
    assert tuple(progress) == (2, 0, 5, 5, 0, 1)
    [totals] = _rows(
        "SELECT pages, pages_failed FROM v_student_totals WHERE batch_id = :b AND student = 'li'",
        b=batch_id,
    )
    assert tuple(totals) == (3, 0)
    with session_scope() as session:
        report = load_report(session, batch_id)
    assert {p.page_id for p in report.pages}.isdisjoint(old_pages)
    assert len(report.pages) == 5 and all(p.state == "done" for p in report.pages)


def _check_status_and_retry(runner: CliRunner, old: Document) -> None:
    status = runner.invoke(main, ["status", "rescan-night"])
    assert status.exit_code == 0, status.output
    assert "pages failed" not in status.output and "failed:" not in status.output
    lines = [" ".join(line.replace("│", " ").split()) for line in status.output.splitlines()]
    assert "earlier versions replaced by a rescan 1" in lines
    # retry reads the current version's file only: the old one's failed page stays as it was
    retried = runner.invoke(main, ["retry", "rescan-night"])
    assert retried.exit_code == 0 and "nothing had failed" in retried.output, retried.output
    assert [p.state for p in pages_of(old.id)] == ["done", "failed", "done"]


def _check_audit(env: Settings, batch_id: int, old_pages: list[int], new_id: int) -> None:
    new_pages = [p.id for p in pages_of(new_id)]
    with session_scope() as session:
        session.execute(
            text("DELETE FROM artifacts WHERE kind = 'page_image' AND page_id = ANY(:ids)"),
            {"ids": [*old_pages, new_pages[0]]},
        )
    with session_scope() as session:
        findings = check(session, env, batch_id)
    assert [(f.kind, f.row_id) for f in findings] == [("artifact_missing", new_pages[0])]


def _pages_made(batch_id: int, before: set[int]) -> list[Any]:
    """(rel_path, page_no, state, submit_attempts) of the batch's pages not in ``before``."""
    with session_scope() as session:
        return list(
            session.execute(
                select(Document.rel_path, Page.page_no, Page.state, Page.submit_attempts)
                .join(Document, Document.id == Page.document_id)
                .where(Page.batch_id == batch_id, Page.id.not_in(before))
            ).all()
        )


def _promised(tonight: Path, env: Settings) -> set[tuple[str, int]]:
    """The pages the --force dry run's plan says it would send."""
    plan = plan_directory(
        tonight,
        env,
        routes=Routing(Route("correct_edu", {})),
        students=Students(),
        force=True,
        batch_name="force-two",
    )
    return {(doc.rel_path, number) for doc in plan.documents if doc.sent for number in doc.to_send}


def test_a_rescan_is_graded_in_its_batch_and_the_old_version_is_superseded(
    env: Settings, workers: Service, sim_http: httpx.Client, tmp_path: Path
) -> None:
    root = tmp_path / "rescan-night"
    (root / "7A" / "li").mkdir(parents=True)
    (root / "7A" / "wang").mkdir(parents=True)
    homework = root / "7A" / "li" / "homework.pdf"
    # A page of the first scan is damaged: it fails, its neighbours are graded.
    homework.write_bytes(_pdf(rescan_jpeg(7101), rescan_jpeg(7102)[:5000], rescan_jpeg(7103)))
    (root / "7A" / "wang" / "homework.pdf").write_bytes(_pdf(rescan_jpeg(7111), rescan_jpeg(7112)))
    runner = CliRunner()
    first = runner.invoke(main, ["enqueue", str(root), "--batch", "rescan-night", "--wait"])
    assert first.exit_code == 1, first.output  # the damaged page failed
    batch_id = _batch_id("rescan-night")
    [old] = _versions(batch_id, "7A/li/homework.pdf")
    assert [p.state for p in pages_of(old.id)] == ["done", "failed", "done"]
    creates = _creates(sim_http)

    # The teacher scans the homework again; the same directory goes into the same batch.
    homework.write_bytes(_pdf(rescan_jpeg(7121), rescan_jpeg(7122), rescan_jpeg(7123)))
    again = runner.invoke(main, ["enqueue", str(root), "--batch", "rescan-night", "--wait"])

    assert again.exit_code == 0, again.output
    assert "1 documents queued" in again.output and "1 already known" in again.output
    assert f"rescan   7A/li/homework.pdf: new content: replaces document {old.id}" in again.output
    old, new = _versions(batch_id, "7A/li/homework.pdf")
    assert (old.version, new.version) == (1, 2)
    assert old.superseded_by == new.id and old.superseded_at is not None
    assert new.superseded_at is None and new.state == DocumentState.INGESTED
    assert [p.state for p in pages_of(new.id)] == [PageState.DONE] * 3
    assert [p.state for p in pages_of(old.id)] == ["done", "failed", "done"]  # kept as it was
    assert _creates(sim_http) - creates == 3  # the new version only; wang is not sent again

    old_pages = [p.id for p in pages_of(old.id)]
    _check_views_and_report(batch_id, old_pages)

    _check_status_and_retry(runner, old)

    # The audit leaves the superseded version out: its missing page images are no finding,
    # while the same loss on the current version is one.
    _check_audit(env, batch_id, old_pages, new.id)


def test_force_does_what_its_dry_run_says_page_for_page(
    env: Settings, workers: Service, sim_http: httpx.Client, tmp_path: Path
) -> None:
    night = tmp_path / "force-one"
    night.mkdir()
    (night / "a.jpg").write_bytes(rescan_jpeg(7201))
    (night / "b.pdf").write_bytes(_pdf(rescan_jpeg(7202), blank_page(), rescan_jpeg(7203)))
    runner = CliRunner()
    assert runner.invoke(main, ["enqueue", str(night), "--wait"]).exit_code == 0
    # Tonight's folder has last night's files again, a new one, and one rescanned later.
    tonight = tmp_path / "force-two"
    tonight.mkdir()
    for name in ("a.jpg", "b.pdf"):
        (tonight / name).write_bytes((night / name).read_bytes())
    (tonight / "c.jpg").write_bytes(rescan_jpeg(7204))
    (tonight / "d.pdf").write_bytes(_pdf(rescan_jpeg(7205)))
    first = runner.invoke(main, ["enqueue", str(tonight), "--wait"])
    assert first.exit_code == 0 and "2 already sent" in first.output, first.output
    (tonight / "d.pdf").write_bytes(_pdf(rescan_jpeg(7206), rescan_jpeg(7207)))
    batch_id = _batch_id("force-two")
    with session_scope() as session:
        before = set(session.scalars(select(Page.id).where(Page.batch_id == batch_id)))
    creates = _creates(sim_http)

    promised = _promised(tonight, env)
    dry = runner.invoke(main, ["enqueue", str(tonight), "--force", "--dry-run"])
    forced = runner.invoke(main, ["enqueue", str(tonight), "--force", "--wait"])

    assert promised == {("a.jpg", 1), ("b.pdf", 1), ("b.pdf", 3), ("d.pdf", 1), ("d.pdf", 2)}
    assert dry.exit_code == 0, dry.output
    assert f"{len(promised)} pages would be sent" in dry.output
    assert "1 documents already in the batch" in dry.output  # c.jpg, sent by the first run
    assert "rescan   d.pdf: new content" in dry.output
    assert forced.exit_code == 0, forced.output
    assert "3 documents queued" in forced.output and "1 already known" in forced.output
    made = _pages_made(batch_id, before)
    sent = {(rel_path, page_no) for rel_path, page_no, _, attempts in made if attempts}
    assert sent == promised
    assert {(r, n) for r, n, state, _ in made if state == PageState.SKIPPED} == {("b.pdf", 2)}
    assert _creates(sim_http) - creates == len(promised)
