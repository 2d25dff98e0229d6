"""Signed result URLs expire: archiving asks get_result again for freshly signed ones while the
provider keeps the task, and otherwise marks the image lost with the reason.

The simulator signs URLs for one second here, so they have expired by the time the page is
persisted; the real archive workers then find them expired, against Postgres, S3 and the
simulator over HTTP.
"""

from __future__ import annotations

from support.batches import record_finished_task

from pipeline.adapters.db.models import Artifact
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import ArtifactState, PageState
from pipeline.settings import Settings


def test_reconciler_archives_ahead_of_the_backlog_what_is_about_to_expire(env: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from pipeline.stages.reconcile import expiring_tasks

    now = datetime.now(UTC)
    long_ago = now - timedelta(seconds=env.stale_after_s)
    tasks = {}
    for name, expires_in in (("expiring-soon", 600), ("expiring-later", 86_000)):
        recorded = record_finished_task(
            b"{}",
            api="correct_edu",
            rel_path=f"{name}.jpg",
            task_id=name,
            batch_name=name,
            page={"state": PageState.ARCHIVING, "updated_at": long_ago},
        )
        with session_scope() as session:
            session.add(
                Artifact(
                    batch_id=recorded.batch_id,
                    document_id=recorded.document_id,
                    page_id=recorded.page_id,
                    provider_task_id=recorded.task_row_id,
                    kind="result_image",
                    s3_key=f"{name}/result.png",
                    state=ArtifactState.PENDING,
                    source_expires_at=now + timedelta(seconds=expires_in),
                )
            )
        tasks[name] = recorded.task_row_id

    due = set(expiring_tasks(now, env)) & set(tasks.values())

    assert due == {tasks["expiring-soon"]}  # within the 2 h margin; the other can wait
