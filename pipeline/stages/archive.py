"""Archive: copy a task's result images to S3 before their signed URLs expire.

The provider's URLs stop working 24 h after signing; once every image is copied, the page is
done.

Which URL belongs to which artifact is read back from the raw answer in S3, so no signed URL
is ever stored in a row. When a URL has expired, get_result is asked again for freshly signed
ones while the provider still keeps the task (that answer is archived too); an artifact that
cannot be had any more (a synchronous answer, a task the provider forgot) is marked lost with
the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from pipeline.db.models import Artifact, Page, ProviderTask, Question
from pipeline.db.session import session_scope
from pipeline.db.states import ArtifactState, PageState
from pipeline.db.transitions import move
from pipeline.errors import Gone, Transient
from pipeline.progress import finish_batch_if_done
from pipeline.provider.answers.common import signed_url_expiry
from pipeline.provider.apis import spec
from pipeline.provider.client import ProviderClient, UrlExpired
from pipeline.results import ResultImage, handler
from pipeline.stages.answers import put_raw_answer, record_raw_answer
from pipeline.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Pending:
    id: int
    s3_key: str
    expires_at: datetime | None


@dataclass(frozen=True)
class _Task:
    """What archiving needs to know of a task, read once."""

    row_id: int
    page_id: int
    api: str
    mode: str
    task_id: str
    key_id: str
    raw_key: str


def archive_task(task_row_id: int, client: ProviderClient, store: ObjectStore) -> bool:
    """Copy every pending result image of a task; True once its page is done."""
    with session_scope() as session:
        row = session.get_one(ProviderTask, task_row_id)
        page = session.get_one(Page, row.page_id)
        if page.state != PageState.ARCHIVING or row.raw_key is None:
            return False
        task = _Task(
            row.id,
            page.id,
            row.api,
            row.mode,
            row.task_id,
            row.key_id,
            row.raw_key,
        )
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
        api_handler = handler(task.api)
        answer = api_handler.parse(json.loads(store.get(task.raw_key)))
        sources = api_handler.images(task.raw_key, answer)
        refreshed: _Refreshed | None = None
        for artifact in pending:
            source = sources[artifact.s3_key]
            if _expired(artifact.expires_at) or not _copy(artifact, source, task, client, store):
                if refreshed is None:
                    refreshed = _fresh_urls(task, client, store)
                _copy_refreshed(artifact, refreshed, task, client, store)
    return _close_page(task.page_id)


def _expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= datetime.now(UTC)


def _copy(
    artifact: _Pending, source: ResultImage, task: _Task, client: ProviderClient, store: ObjectStore
) -> bool:
    """Copy one image; False when its signed URL no longer works."""
    try:
        data = client.fetch(source.url)
    except UrlExpired as e:
        if not _expired(artifact.expires_at) and artifact.expires_at is not None:
            raise Transient(f"{e}, before its expiry; will try again") from e
        log.warning("artifact %d: %s; asking for a freshly signed URL", artifact.id, e)
        return False
    _record_copy(artifact, source, data, task.page_id, store)
    return True


@dataclass(frozen=True)
class _Refreshed:
    """The task's images at freshly signed URLs, or why there are none."""

    images: dict[str, ResultImage]
    why_not: str = ""


def _fresh_urls(task: _Task, client: ProviderClient, store: ObjectStore) -> _Refreshed:
    """Ask get_result again for freshly signed URLs, when the provider can still sign them.

    The new answer is archived beside the first one (``result.refreshed-<n>.json``).
    """
    if task.mode == "sync":
        return _Refreshed({}, "a synchronous answer cannot be asked for again")
    if task.key_id not in client.pool:
        return _Refreshed({}, f"the API key {task.key_id} that created it is no longer configured")
    try:
        answer = client.get_result(spec(task.api), task.task_id, task.key_id)
    except Gone:
        return _Refreshed({}, f"the provider no longer keeps task {task.task_id}")
    with session_scope() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Artifact)
            .where(Artifact.provider_task_id == task.row_id, Artifact.kind == "raw_refreshed")
        )
    kept = put_raw_answer(
        store, task.page_id, task.task_id, answer, name=f"result.refreshed-{(count or 0) + 1}.json"
    )
    with session_scope() as session:
        record_raw_answer(session, kept, task.row_id, kind="raw_refreshed")
    api_handler = handler(task.api)
    return _Refreshed(api_handler.images(task.raw_key, api_handler.parse(answer)))


def _copy_refreshed(
    artifact: _Pending,
    refreshed: _Refreshed,
    task: _Task,
    client: ProviderClient,
    store: ObjectStore,
) -> None:
    source = refreshed.images.get(artifact.s3_key)
    if source is None:
        why = refreshed.why_not or "the fresh answer no longer shows this image"
        _mark(artifact.id, ArtifactState.LOST, error=f"signed URL expired and {why}")
        return
    try:
        data = client.fetch(source.url)
    except UrlExpired as e:
        _mark(artifact.id, ArtifactState.LOST, error=f"even a freshly signed URL failed: {e}")
        return
    log.info("artifact %d archived from a freshly signed URL", artifact.id)
    _record_copy(artifact, source, data, task.page_id, store)


def _record_copy(
    artifact: _Pending,
    source: ResultImage,
    data: bytes,
    page_id: int,
    store: ObjectStore,
) -> None:
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
                source_expires_at=signed_url_expiry(source.url),
            )
        )
        link_crop(session, page_id, source, stored.key)


def link_crop(session: Session, page_id: int, image: ResultImage, key: str) -> None:
    """Point the question a crop shows at its archived copy (other images link nothing)."""
    if image.kind == "crop" and image.sequence is not None:
        session.execute(
            update(Question)
            .where(
                Question.page_id == page_id,
                Question.image_index == image.image_index,
                Question.sequence == image.sequence,
            )
            .values(crop_key=key)
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
