"""Rescans: a file whose content changed at the same path is a new version of its document in
the same batch; the old version is kept, superseded, and out of the views, the report, status
and retry. ``enqueue --force`` does what ``enqueue --force --dry-run`` says, page for page.

Real workers, Postgres, Redis, S3 and the simulator over HTTP.
"""

from __future__ import annotations

from sqlalchemy import func
from support.rescans import pages_of, rescan_jpeg

from pipeline.adapters.db.models import Batch, Document
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.adapters.objectstore import get_store
from pipeline.settings import Settings
from pipeline.stages.ingest import ingest_document


def test_pages_split_from_a_version_replaced_meanwhile_are_never_sent(env: Settings) -> None:
    """A rescan recorded while its old version was being split: its pages are skipped."""
    store = get_store()
    original = store.put("tests/rescans/raced.jpg", rescan_jpeg(7131), "image/jpeg")
    with session_scope() as session:
        batch = Batch(name="raced-rescan", root_dir="/scans/raced", api="correct_edu")
        session.add(batch)
        session.flush()
        new, old = (
            Document(
                batch_id=batch.id,
                rel_path="raced.jpg",
                version=version,
                kind="image",
                api="correct_edu",
                original_keys=[original.key],
                state=state,
            )
            for version, state in ((2, DocumentState.SKIPPED), (1, DocumentState.PENDING))
        )
        session.add(new)
        session.flush()
        old.superseded_by, old.superseded_at = new.id, func.now()
        session.add(old)
        session.flush()
        old_id = old.id

    assert ingest_document(old_id, store) == 0

    [page] = pages_of(old_id)
    assert (page.state, page.error_code) == (PageState.SKIPPED, "superseded")
