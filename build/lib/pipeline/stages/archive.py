"""Archive: copy a task's result images to S3 before their signed URLs expire.

The provider's URLs stop working 24 h after signing; once every image is copied, the page is
done.

Which URL belongs to which artifact is read back from the raw answer in S3, so no signed URL
is ever stored in a row. When a URL has expired, get_result is asked again for freshly signed
ones while the provider still keeps the task (that answer is archived too); an artifact that
cannot be had any more (a synchronous answer, a task the provider forgot) is marked lost with
the reason. A download is stored only once it is checked to be a whole image
(``pipeline.adapters.documents.imagecheck``): a gateway's HTML page with HTTP 200 or half an
image is fetched again, and after ``NOT_IMAGE_TRIES`` such answers the artifact is marked lost
with what came.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Artifact, Page, ProviderTask, Question
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import ArtifactState, PageState
from pipeline.adapters.db.transitions import move
from pipeline.adapters.documents.imagecheck import NotAnImage, image_type
from pipeline.adapters.objectstore import ObjectStore, StoredObject
from pipeline.adapters.provider.apis import spec
from pipeline.adapters.provider.client import Download, ProviderClient, UrlExpired
from pipeline.adapters.provider.responses.common import signed_url_expiry
from pipeline.domain.progress import finish_batch_if_done
from pipeline.domain.rows import ResultImage, handler
from pipeline.errors import Gone, Transient
from pipeline.stages.raw_answer import put_raw_answer, record_raw_answer

log = logging.getLogger(__name__)

NOT_IMAGE_TRIES = 3
"""Downloads of one result image that may come back as no image before it is marked lost."""


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
    copies: list[_Copy] = []
    try:
        if pending:
            _copy_pending(task, pending, client, store, copies)
    except BaseException:
        if copies:  # recorded even though a later image failed, so a retry skips them
            _record(task.page_id, copies, close=False)
        raise
    return _record(task.page_id, copies, close=True)


def _copy_pending(
    task: _Task,
    pending: list[_Pending],
    client: ProviderClient,
    store: ObjectStore,
    copies: list[_Copy],
) -> None:
    """Copy every pending image into ``copies``; an expired URL is asked for again once."""
    api_handler = handler(task.api)
    answer = api_handler.parse(json.loads(store.get(task.raw_key)))
    sources = api_handler.images(task.raw_key, answer)
    refreshed: _Refreshed | None = None
    not_images: list[NotAnImage] = []
    for artifact in pending:
        source = sources[artifact.s3_key]
        try:
            copied = (
                None if _expired(artifact.expires_at) else _copy(artifact, source, client, store)
            )
            if copied is None:
                if refreshed is None:
                    refreshed = _fresh_urls(task, client, store)
                copied = _copy_refreshed(artifact, refreshed, client, store)
        except NotAnImage as e:
            if not _given_up(artifact, e):
                not_images.append(e)
            continue
        if copied is not None:
            copies.append(copied)
    if not_images:  # the images that did come are recorded; these are fetched again later
        raise NotAnImage(f"{len(not_images)} result image(s) not archived: {not_images[0]}")


def _given_up(artifact: _Pending, error: NotAnImage) -> bool:
    """Count a download that was no image; after ``NOT_IMAGE_TRIES`` the artifact is lost."""
    with session_scope() as session:
        tries = session.scalar(
            update(Artifact)
            .where(Artifact.id == artifact.id, Artifact.state == ArtifactState.PENDING)
            .values(attempts=Artifact.attempts + 1, error=f"not archived: {error}")
            .returning(Artifact.attempts)
        )
    if tries is None or tries < NOT_IMAGE_TRIES:
        log.warning("artifact %d: %s; will fetch it again", artifact.id, error)
        return False
    why = f"the provider sent no image {tries} times, last {error}"
    _mark(artifact.id, ArtifactState.LOST, error=why)
    return True


def _expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= datetime.now(UTC)


@dataclass(frozen=True)
class _Copy:
    """An image now in S3, to be recorded."""

    artifact: _Pending
    source: ResultImage
    stored: StoredObject


def _copy(
    artifact: _Pending, source: ResultImage, client: ProviderClient, store: ObjectStore
) -> _Copy | None:
    """Copy one image; None when its signed URL no longer works."""
    try:
        fetched = client.download(source.url)
    except UrlExpired as e:
        if not _expired(artifact.expires_at) and artifact.expires_at is not None:
            raise Transient(f"{e}, before its expiry; will try again") from e
        log.warning("artifact %d: %s; asking for a freshly signed URL", artifact.id, e)
        return None
    return _keep(artifact, source, fetched, store)


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
    artifact: _Pending, refreshed: _Refreshed, client: ProviderClient, store: ObjectStore
) -> _Copy | None:
    """Copy from a freshly signed URL; None (the artifact marked lost) if there is none."""
    source = refreshed.images.get(artifact.s3_key)
    if source is None:
        why = refreshed.why_not or "the fresh answer no longer shows this image"
        _mark(artifact.id, ArtifactState.LOST, error=f"signed URL expired and {why}")
        return None
    try:
        fetched = client.download(source.url)
    except UrlExpired as e:
        _mark(artifact.id, ArtifactState.LOST, error=f"even a freshly signed URL failed: {e}")
        return None
    log.info("artifact %d archived from a freshly signed URL", artifact.id)
    return _keep(artifact, source, fetched, store)


def _keep(artifact: _Pending, source: ResultImage, fetched: Download, store: ObjectStore) -> _Copy:
    """Put a fetched image where its artifact says, to be recorded with the page's others.

    Only once it is checked to be a whole image (NotAnImage otherwise), stored as the type
    it is.
    """
    content_type = image_type(fetched.data, fetched.content_type)
    return _Copy(artifact, source, store.put(artifact.s3_key, fetched.data, content_type))


_ARCHIVED = (
    update(Artifact)
    .where(Artifact.id == bindparam("artifact_id"))
    .values(
        state=ArtifactState.ARCHIVED,
        sha256=bindparam("digest"),
        size_bytes=bindparam("size"),
        archived_at=func.now(),
        attempts=Artifact.attempts + 1,
        error=None,
        source_expires_at=bindparam("expires_at"),
    )
)
_CROP_LINK = (
    update(Question)
    .where(
        Question.page_id == bindparam("page"),
        Question.image_index == bindparam("index"),
        Question.sequence == bindparam("number"),
    )
    .values(crop_key=bindparam("key"))
)


def _record(page_id: int, copies: list[_Copy], *, close: bool) -> bool:
    """Record the copies in one transaction, and close the page if nothing is left pending.

    One statement per kind of row, however many images (a page has about five).
    """
    with session_scope() as session:
        if copies:
            connection = session.connection()
            archived = [
                {
                    "artifact_id": copy.artifact.id,
                    "digest": copy.stored.sha256,
                    "size": copy.stored.size,
                    "expires_at": signed_url_expiry(copy.source.url),
                }
                for copy in copies
            ]
            connection.execute(_ARCHIVED, archived)
            links = [_crop_link(page_id, copy.source, copy.stored.key) for copy in copies]
            if crops := [link for link in links if link is not None]:
                connection.execute(_CROP_LINK, crops)
        if not close:
            return False
        moved = move(session, Page, page_id, PageState.ARCHIVING, PageState.DONE)
        if moved:
            finish_batch_if_done(session, session.get_one(Page, page_id).batch_id)
    return moved


def _crop_link(page_id: int, image: ResultImage, key: str) -> dict[str, object] | None:
    if image.kind != "crop" or image.sequence is None:
        return None
    return {"page": page_id, "index": image.image_index, "number": image.sequence, "key": key}


def link_crop(session: Session, page_id: int, image: ResultImage, key: str) -> None:
    """Point the question a crop shows at its archived copy (other images link nothing)."""
    link = _crop_link(page_id, image, key)
    if link is not None:
        session.connection().execute(_CROP_LINK, link)


def _mark(artifact_id: int, state: ArtifactState, *, error: str) -> None:
    log.warning("artifact %d %s: %s", artifact_id, state, error)
    with session_scope() as session:
        session.execute(
            update(Artifact)
            .where(Artifact.id == artifact_id)
            .values(state=state, error=error, attempts=Artifact.attempts + 1)
        )
