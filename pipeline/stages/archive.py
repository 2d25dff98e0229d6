"""Archive: copy a task's result images to S3 before their signed URLs expire.

The provider's URLs stop working 24 h after signing; once every image is copied, the page is
done.

Which URL belongs to which artifact is read back from the raw answer in S3, so no signed URL
is ever stored in a row. An artifact whose URL has expired is marked lost with the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from pipeline.db.models import Artifact, Page, ProviderTask, Question
from pipeline.db.session import session_scope
from pipeline.db.states import ArtifactState, PageState
from pipeline.db.transitions import move
from pipeline.errors import Transient
from pipeline.progress import finish_batch_if_done
from pipeline.provider.client import ProviderClient, UrlExpired
from pipeline.results import ResultImage, handler
from pipeline.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    id: int
    s3_key: str
    expires_at: datetime | None


def archive_task(task_row_id: int, client: ProviderClient, store: ObjectStore) -> bool:
    """Copy every pending result image of a task; True once its page is done."""
    with session_scope() as session:
        task = session.get_one(ProviderTask, task_row_id)
        page = session.get_one(Page, task.page_id)
        if page.state != PageState.ARCHIVING or task.raw_key is None:
            return False
        page_id, raw_key, api = page.id, task.raw_key, task.api
        pending = [
            _Pending(a.id, a.s3_key, a.source_expires_at)
            for a in session.scalars(
                select(Artifact).where(
                    Artifact.provider_task_id == task_row_id,
                    Artifact.state == ArtifactState.PENDING,
                )
            )
        ]
    if pending:
        api_handler = handler(api)
        answer = api_handler.parse(json.loads(store.get(raw_key)))
        sources = api_handler.images(raw_key, answer)
        for artifact in pending:
            _copy(artifact, sources[artifact.s3_key], page_id, client, store)
    return _close_page(page_id)


def _copy(
    artifact: _Pending,
    source: ResultImage,
    page_id: int,
    client: ProviderClient,
    store: ObjectStore,
) -> None:
    if artifact.expires_at is not None and artifact.expires_at <= datetime.now(UTC):
        _mark(
            artifact.id,
            ArtifactState.LOST,
            error=f"signed URL expired at {artifact.expires_at:%Y-%m-%d %H:%M:%S}Z "
            "before it could be archived",
        )
        return
    try:
        data = client.fetch(source.url)
    except UrlExpired as e:
        if artifact.expires_at is None or artifact.expires_at > datetime.now(UTC):
            raise Transient(f"{e}, before its expiry; will try again") from e
        _mark(artifact.id, ArtifactState.LOST, error=f"signed URL expired: {e}")
        return
    stored = store.put(artifact.s3_key, data, "image/png")
    with session_scope() as session:
        session.execute(
            update(Artifact)
            .where(Artifact.id == artifact.id)
            .values(
                state=ArtifactState.ARCHIVED,
                sha256=stored.sha256,
                size_bytes=stored.size,
                archived_at=func.now(),
                attempts=Artifact.attempts + 1,
                error=None,
            )
        )
        if source.kind == "crop" and source.sequence is not None:
            session.execute(
                update(Question)
                .where(
                    Question.page_id == page_id,
                    Question.image_index == source.image_index,
                    Question.sequence == source.sequence,
                )
                .values(crop_key=stored.key)
            )


def _mark(artifact_id: int, state: ArtifactState, *, error: str) -> None:
    log.warning("artifact %d %s: %s", artifact_id, state, error)
    with session_scope() as session:
        session.execute(
            update(Artifact)
            .where(Artifact.id == artifact_id)
            .values(state=state, error=error, attempts=Artifact.attempts + 1)
        )


def _close_page(page_id: int) -> bool:
    with session_scope() as session:
        page = session.get_one(Page, page_id)
        moved = move(session, Page, page_id, PageState.ARCHIVING, PageState.DONE)
        if moved:
            finish_batch_if_done(session, page.batch_id)
    return moved
