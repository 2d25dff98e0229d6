"""Recording objects already written to S3 (originals, page images, raw answers)."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Artifact
from pipeline.adapters.db.states import ArtifactState
from pipeline.adapters.objectstore import StoredObject


def record_archived(
    session: Session,
    stored: StoredObject,
    kind: str,
    *,
    batch_id: int,
    document_id: int,
    page_id: int | None = None,
    provider_task_id: int | None = None,
) -> None:
    """Add the artifact row of a stored object; a second call for the same key adds nothing."""
    session.execute(
        insert(Artifact)
        .values(
            batch_id=batch_id,
            document_id=document_id,
            page_id=page_id,
            provider_task_id=provider_task_id,
            kind=kind,
            s3_key=stored.key,
            sha256=stored.sha256,
            size_bytes=stored.size,
            content_type=stored.content_type,
            state=ArtifactState.ARCHIVED,
            archived_at=func.now(),
        )
        .on_conflict_do_nothing(index_elements=["s3_key"])
    )
