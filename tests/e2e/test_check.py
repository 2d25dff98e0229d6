"""The invariant audit: break a finished batch's rows in Postgres, see ``check`` find each
break and the reconciler repair it (or only report it); a clean batch gives no finding.

Real workers, simulator and S3 ran the batch. A broken row is stamped as changed just now, so
that beat's reconciler (which repairs only findings older than SCANGRADE_STALE_AFTER_S)
leaves it to ``check`` first; the test then ages it and runs the reconciler itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy import func, select, text
from support.batches import wait_for_page, wait_until_done

from devkit.samples import write_sample_batch
from devkit.standins import Service
from pipeline.adapters.db.models import Batch, Document, Page, Question
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.settings import Settings
from pipeline.stages.check import Finding, check
from pipeline.stages.enqueue import enqueue_directory
from pipeline.stages.reconcile import reconcile
from pipeline.stages.repair import FULL_CHECK_KEY, repair_counts, window

AGO = "now() - interval '1 hour'"


def _repairable(env: Settings) -> str:
    """A change just old enough to repair: in the window of the reconciler's next pass.

    (A row aged by hand far past it is left to the pass that checks every row, once every
    ``SCANGRADE_FULL_CHECK_EVERY_S``.)
    """
    return f"now() - make_interval(secs => {env.stale_after_s + 5:g})"


@pytest.fixture(scope="module")
def batch(
    env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("check") / "audited"
    write_sample_batch(root)
    # force: sent even if another module of this run sent the samples first
    batch_id = enqueue_directory(root, get_store(), batch_name="audited", force=True).batch_id
    wait_until_done(batch_id)
    with session_scope() as session:
        rows = session.execute(
            select(Page.id, Document.id, Document.rel_path)
            .join(Document, Document.id == Page.document_id)
            .where(Page.batch_id == batch_id)
            .order_by(Page.id)
        ).all()
    loose = next(doc for _, doc, path in rows if path == "extra.png")
    pages = [page for page, doc, _ in rows if doc != loose]
    yield {"id": batch_id, "pages": pages, "loose_document": loose}
    # The session's other modules send the same sample batch: this one, with its broken
    # rows, must not stand as their earlier copy (they would be skipped as duplicates).
    _sql("UPDATE documents SET sha256 = NULL WHERE batch_id = :b", b=batch_id)


def _sql(statement: str, **params: Any) -> None:
    with session_scope() as session:
        session.execute(text(statement), params)


def _found(env: Settings, batch_id: int, kind: str, row_id: int) -> list[Finding]:
    with session_scope() as session:
        findings = check(session, env, batch_id)
    return [f for f in findings if f.kind == kind and f.row_id == row_id]


def _reconcile_until(env: Settings, done: Callable[[], bool], timeout: float = 30) -> None:
    """Run the reconciler until ``done``: beat's may hold the repair lock for a moment."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the reconciler never repaired it"
        reconcile(env)
        time.sleep(0.3)


def _repairs(batch_id: int) -> dict[str, int]:
    with session_scope() as session:
        return repair_counts(session, batch_id)


def _batch_state(batch_id: int) -> str:
    with session_scope() as session:
        return session.get_one(Batch, batch_id).state


def _page(page_id: int) -> Page:
    with session_scope() as session:
        page = session.get_one(Page, page_id)
        session.expunge(page)
        return page


def test_a_clean_batch_has_no_finding(env: Settings, batch: dict) -> None:
    with session_scope() as session:
        assert check(session, env, batch["id"]) == []
    result = CliRunner().invoke(main, ["check", "audited"])
    assert result.exit_code == 0, result.output
    assert "no finding" in result.output


def test_a_submitted_page_without_its_task_is_sent_again(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][0]
    _sql("DELETE FROM provider_tasks WHERE page_id = :p", p=page_id)
    _sql("UPDATE pages SET state = 'submitted', updated_at = now() WHERE id = :p", p=page_id)
    (found,) = _found(env, batch["id"], "page_without_task", page_id)
    assert found.fix == "resubmitted" and "no provider task" in found.why
    result = CliRunner().invoke(main, ["check", str(batch["id"])])
    assert result.exit_code == 5 and "page_without_task" in result.output
    _sql(f"UPDATE pages SET updated_at = {_repairable(env)} WHERE id = :p", p=page_id)
    _reconcile_until(env, lambda: _page(page_id).state != "submitted")
    assert _page(page_id).ambiguous_submits == 1  # the lost task may have been billed
    wait_for_page(page_id)
    assert _found(env, batch["id"], "page_without_task", page_id) == []
    assert _repairs(batch["id"])["resubmitted"] == 1


def test_a_submitted_page_whose_task_finished_is_persisted(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][1]
    _sql("UPDATE pages SET state = 'submitted', updated_at = now() WHERE id = :p", p=page_id)
    (found,) = _found(env, batch["id"], "page_task_mismatch", page_id)
    assert found.fix == "persist_nudged"
    _sql(f"UPDATE pages SET updated_at = {_repairable(env)} WHERE id = :p", p=page_id)
    _reconcile_until(env, lambda: _page(page_id).state != "submitted")
    wait_for_page(page_id)
    assert _repairs(batch["id"])["persist_nudged"] == 1


def test_a_submitted_page_whose_task_failed_fails(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][2]
    _sql(
        "UPDATE provider_tasks SET state = 'failed', error = 'the task failed at the provider', "
        "error_code = 'provider_failed' WHERE page_id = :p",
        p=page_id,
    )
    _sql("UPDATE pages SET state = 'submitted', updated_at = now() WHERE id = :p", p=page_id)
    (found,) = _found(env, batch["id"], "page_task_mismatch", page_id)
    assert found.fix == "page_failed"
    _sql(f"UPDATE pages SET updated_at = {_repairable(env)} WHERE id = :p", p=page_id)
    _reconcile_until(env, lambda: _page(page_id).state == "failed")
    page = _page(page_id)
    assert (page.error, page.error_code) == ("the task failed at the provider", "provider_failed")
    assert _repairs(batch["id"])["page_failed"] == 1


def _questions(page_id: int) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).where(Question.page_id == page_id)) or 0


def test_a_task_whose_rows_were_lost_is_persisted_again(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][3]
    before = _questions(page_id)
    assert before > 0
    _sql("DELETE FROM questions WHERE page_id = :p", p=page_id)
    _sql("UPDATE pages SET updated_at = now() WHERE id = :p", p=page_id)
    (found,) = _found(env, batch["id"], "task_without_rows", _task_of(page_id))
    assert found.fix == "repersisted" and f"wrote {before} result rows" in found.why
    _sql(f"UPDATE pages SET updated_at = {_repairable(env)} WHERE id = :p", p=page_id)
    _reconcile_until(env, lambda: _questions(page_id) > 0)
    assert _questions(page_id) == before
    assert _repairs(batch["id"])["repersisted"] == 1


def _task_of(page_id: int) -> int:
    with session_scope() as session:
        found = session.scalar(
            text("SELECT id FROM provider_tasks WHERE page_id = :p"), {"p": page_id}
        )
        assert found is not None
        return int(found)


def test_a_done_page_missing_its_artifacts_is_reported_only(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][4]
    broken = """UPDATE artifacts SET state = 'pending' WHERE s3_key = (
        SELECT image_key FROM pages WHERE id = :p) OR (page_id = :p AND kind = 'crop')"""
    _sql(broken, p=page_id)
    (found,) = _found(env, batch["id"], "artifact_missing", page_id)
    assert (
        "its page image" in found.why and "its crop" in found.why and "(still pending)" in found.why
    )
    assert found.fix is None
    reconcile(env)
    assert _found(env, batch["id"], "artifact_missing", page_id) == [found]  # not touched
    _sql("UPDATE artifacts SET state = 'archived' WHERE page_id = :p", p=page_id)
    assert _found(env, batch["id"], "artifact_missing", page_id) == []


def test_a_done_page_whose_task_still_runs_is_reported_only(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][5]
    task_row_id = _task_of(page_id)
    _sql(
        "UPDATE provider_tasks SET state = 'running', next_poll_at = now() + interval '1 day' "
        "WHERE id = :t",
        t=task_row_id,
    )
    (mismatch,) = _found(env, batch["id"], "page_task_mismatch", page_id)
    assert mismatch.fix is None and "is done but its task" in mismatch.why
    (polled,) = _found(env, batch["id"], "task_running_page_ended", task_row_id)
    assert polled.fix is None
    reconcile(env)
    assert _page(page_id).state == "done"
    _sql(
        "UPDATE provider_tasks SET state = 'finished', next_poll_at = NULL WHERE id = :t",
        t=task_row_id,
    )


def test_a_failed_document_with_live_pages_is_reported(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][6]
    document_id = _page(page_id).document_id
    _sql(
        "UPDATE documents SET state = 'failed', error_code = 'worker_lost' WHERE id = :d",
        d=document_id,
    )
    _sql("UPDATE pages SET state = 'archiving', updated_at = now() WHERE id = :p", p=page_id)
    (found,) = _found(env, batch["id"], "document_failed_live_pages", document_id)
    assert "worker_lost" in found.why and found.fix is None
    _sql("UPDATE documents SET state = 'ingested', error_code = NULL WHERE id = :d", d=document_id)
    _sql("UPDATE pages SET state = 'done' WHERE id = :p", p=page_id)


def test_an_orphaned_claim_is_listed_and_given_back(env: Settings, batch: dict) -> None:
    page_id = batch["pages"][7]
    _sql(f"UPDATE pages SET state = 'submitting', updated_at = {AGO} WHERE id = :p", p=page_id)
    (found,) = _found(env, batch["id"], "claim_orphaned", page_id)
    assert "past the task time limit" in found.why
    _reconcile_until(env, lambda: _page(page_id).state != "submitting")
    wait_for_page(page_id)


def test_an_ingested_document_without_pages_is_ingested_again(env: Settings, batch: dict) -> None:
    document_id = batch["loose_document"]
    _sql("DELETE FROM pages WHERE document_id = :d", d=document_id)
    _sql("UPDATE documents SET updated_at = now() WHERE id = :d", d=document_id)
    (found,) = _found(env, batch["id"], "document_without_pages", document_id)
    assert found.fix == "reingested"
    _sql(f"UPDATE documents SET updated_at = {_repairable(env)} WHERE id = :d", d=document_id)

    def has_pages() -> bool:
        with session_scope() as session:
            return bool(session.scalar(select(func.count()).where(Page.document_id == document_id)))

    _reconcile_until(env, has_pages)
    wait_until_done(batch["id"])
    assert _repairs(batch["id"])["reingested"] == 1


def test_a_break_aged_past_the_window_waits_for_the_full_check(env: Settings, batch: dict) -> None:
    """A pass looks only at the rows that just became repairable; the hourly one at all."""
    page_id = batch["pages"][8]
    task_row_id, before = _task_of(page_id), _questions(page_id)
    _sql("DELETE FROM questions WHERE page_id = :p", p=page_id)
    _sql(f"UPDATE pages SET updated_at = {AGO} WHERE id = :p", p=page_id)
    with session_scope() as session:
        windowed = check(session, env, batch["id"], window=window(env, datetime.now(UTC)))
        full = check(session, env, batch["id"])
    assert task_row_id in [f.row_id for f in full if f.kind == "task_without_rows"]
    assert task_row_id not in [f.row_id for f in windowed]
    client = redis.Redis.from_url(env.redis_url)
    client.set(FULL_CHECK_KEY, "1", px=600_000)  # every row was checked a moment ago
    reconcile(env)
    assert _questions(page_id) == 0  # its change is older than this pass's window
    client.delete(FULL_CHECK_KEY)  # the period is over: the next pass checks every row
    _reconcile_until(env, lambda: _questions(page_id) > 0)
    assert _questions(page_id) == before


def test_a_running_batch_with_nothing_left_is_closed(env: Settings, batch: dict) -> None:
    batch_id = batch["id"]
    # Closes the stages missed (two last pages ending at once) are counted too.
    before = _repairs(batch_id).get("batch_closed", 0)
    with session_scope() as session:  # seen by check before beat's reconciler can close it
        for table in ("pages", "documents"):
            session.execute(
                text(f"UPDATE {table} SET updated_at = {AGO} WHERE batch_id = :b"), {"b": batch_id}
            )
        session.execute(
            text(
                f"UPDATE batches SET state = 'running', finished_at = NULL, created_at = {AGO}"
                " WHERE id = :b"
            ),
            {"b": batch_id},
        )
        (found,) = [f for f in check(session, env, batch_id) if f.kind == "batch_idle"]
    assert found.fix == "batch_closed" and found.row_id == batch_id
    deadline = time.monotonic() + 30
    while _batch_state(batch_id) != "done":  # closed by beat's reconciler or by this one
        assert time.monotonic() < deadline
        reconcile(env)
        time.sleep(0.3)
    assert _repairs(batch_id)["batch_closed"] == before + 1
    shown = CliRunner().invoke(main, ["status", "audited"])
    assert "repaired by the reconciler: batch_closed" in shown.output
    assert "repaired by the reconciler: resubmitted" in shown.output
    with session_scope() as session:
        leftover = [f for f in check(session, env, batch_id) if f.fix is not None]
    assert leftover == []
