"""What the web app reads besides a batch's report and a page's detail.

Who owns a page, which batches a viewer may list, classes by name. Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, SchoolClass, Student
from pipeline.domain.progress import BatchProgress, batch_progress
from pipeline.operator.web.access import Viewer

#: The class of a page: its student's, else its document's (a roster's class); as the report.
PAGE_CLASS = func.coalesce(Student.class_id, Document.class_id)


@dataclass(frozen=True)
class PageOwner:
    """Where a page belongs, and where its image is."""

    page_id: int
    batch_id: int
    class_id: int | None
    image_key: str | None
    content_type: str | None


def page_owner(session: Session, page_id: int) -> PageOwner | None:
    """The page's batch, class and image; None if there is no such page."""
    row = session.execute(
        select(Page.id, Page.batch_id, PAGE_CLASS, Page.image_key, Page.content_type)
        .join(Document, Document.id == Page.document_id)
        .outerjoin(Student, Student.id == Page.student_id)
        .where(Page.id == page_id)
    ).first()
    return None if row is None else PageOwner(*row)


def student_class(session: Session, student_id: int) -> int | None:
    """The class of a student; None if there is no such student."""
    return session.scalar(select(Student.class_id).where(Student.id == student_id))


def class_name(session: Session, class_id: int) -> str | None:
    """The name of a class; None if there is no such class."""
    return session.scalar(select(SchoolClass.name).where(SchoolClass.id == class_id))


def class_ids(session: Session) -> dict[str, int]:
    """Every class's id by its name (names are unique)."""
    return {name: id_ for id_, name in session.execute(select(SchoolClass.id, SchoolClass.name))}


def _batch_visible(viewer: Viewer) -> ColumnElement[bool]:
    """A batch holds a page or a folder of one of the viewer's classes."""
    classes = sorted(viewer.class_ids)
    pages = (
        select(Page.id)
        .join(Document, Document.id == Page.document_id)
        .outerjoin(Student, Student.id == Page.student_id)
        .where(Page.batch_id == Batch.id, PAGE_CLASS.in_(classes))
    )
    folders = (
        select(Document.id)
        .outerjoin(Student, Student.id == Document.student_id)
        .where(Document.batch_id == Batch.id, PAGE_CLASS.in_(classes))
    )
    return or_(exists(pages), exists(folders))


def visible_batches(session: Session, viewer: Viewer, limit: int = 50) -> list[BatchProgress]:
    """The viewer's latest batches, newest first, with where each stands."""
    query = select(Batch.id).order_by(Batch.id.desc()).limit(limit)
    if not viewer.admin:
        query = query.where(_batch_visible(viewer))
    return [batch_progress(session, batch_id) for batch_id in session.scalars(query)]


def batch_visible(session: Session, viewer: Viewer, batch_id: int) -> bool | None:
    """Whether the viewer may see the batch; None if there is no such batch."""
    if session.get(Batch, batch_id) is None:
        return None
    if viewer.admin:
        return True
    return bool(session.scalar(select(_batch_visible(viewer)).where(Batch.id == batch_id)))
