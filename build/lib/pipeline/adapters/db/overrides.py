"""Teachers' grade overrides: record a change, read a page's history, the overrides in force.

An override names its question or slot by natural keys (:class:`OverrideKey`: page, image
index, question sequence, slot sequence or None for the whole question), which outlive
``scangrade replay``; the provider's rows are never changed. ``grade_overrides`` keeps every
change (append-only); the latest row of a key is in force, and one with grade None withdraws
the override. What is in force is read from ``v_grade_overrides_current``, the view the
analysts' views apply, so the app, the report and SQL agree on it.

A document rescanned after a teacher reviewed it (a new ``documents.version``) leaves those
overrides on the old version's pages: :func:`overrides_to_review` lists them with the new page
of the same path and number, until the new page gets an override row of the same key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from pipeline.adapters.db.accounts import ADMIN, visible_class_ids
from pipeline.adapters.db.models import Document, GradeOverride, Page, Question, Slot, User
from pipeline.adapters.db.models import Student as StudentRow
from pipeline.adapters.db.review_tables import TEACHER_GRADES
from pipeline.errors import AccountDisabled, BadGrade, NotPermitted, UnknownGradeTarget, UnknownUser


class OverrideKey(NamedTuple):
    """What an override grades: a slot, or (``slot_seq`` None) a whole question."""

    page_id: int
    image_index: int
    question_seq: int
    slot_seq: int | None


class CurrentOverride(NamedTuple):
    """The override in force on a key."""

    grade: str  # correct, wrong or partial
    comment: str | None
    username: str
    created_at: datetime


@dataclass(frozen=True)
class OverrideChange:
    """One row of a page's history: a grade set, or (grade None) an override withdrawn."""

    id: int
    key: OverrideKey
    grade: str | None
    comment: str | None
    username: str
    created_at: datetime


@dataclass(frozen=True)
class ToReview:
    """An override in force on a version replaced by a rescan, and the page to look at now."""

    override_id: int
    batch_id: int
    rel_path: str
    page_no: int
    old: OverrideKey  # on the replaced version's page
    new_page_id: int | None  # the current version's page of that number; None: it has none
    override: CurrentOverride


def record_override(
    session: Session,
    *,
    page_id: int,
    image_index: int,
    question_seq: int,
    slot_seq: int | None,
    grade: str | None,
    comment: str | None,
    user_id: int,
) -> GradeOverride:
    """Record one change of a grade (``grade`` None: withdraw the override) by ``user_id``.

    The question (and slot) must be on the page, the account active, and a teacher's page of
    one of their classes; otherwise a :class:`~pipeline.errors.RequestRefused` and no row.
    """
    if grade is not None and grade not in TEACHER_GRADES:
        raise BadGrade(f"grade {grade!r}: one of {', '.join(TEACHER_GRADES)}, or None")
    _check_grader(session, user_id, page_id)
    key = OverrideKey(page_id, image_index, question_seq, slot_seq)
    _check_target(session, key)
    row = GradeOverride(
        page_id=page_id,
        image_index=image_index,
        question_seq=question_seq,
        slot_seq=slot_seq,
        grade=grade,
        comment=comment,
        user_id=user_id,
    )
    session.add(row)
    session.flush()
    return row


def _check_grader(session: Session, user_id: int, page_id: int) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise UnknownUser(f"no user with id {user_id}")
    if user.disabled_at is not None:
        raise AccountDisabled(f"user {user.username!r} is disabled")
    if user.role == ADMIN:
        return
    class_id = session.scalar(
        select(func.coalesce(StudentRow.class_id, Document.class_id))
        .select_from(Page)
        .join(Document, Document.id == Page.document_id)
        .outerjoin(StudentRow, StudentRow.id == Page.student_id)
        .where(Page.id == page_id)
    )
    if class_id is None or class_id not in visible_class_ids(session, user):
        raise NotPermitted(f"user {user.username!r} was given no class of page {page_id}")


def _check_target(session: Session, key: OverrideKey) -> None:
    question_id = session.scalar(
        select(Question.id).where(
            Question.page_id == key.page_id,
            Question.image_index == key.image_index,
            Question.sequence == key.question_seq,
        )
    )
    if question_id is None:
        raise UnknownGradeTarget(
            f"page {key.page_id} has no question {key.question_seq} in image {key.image_index}"
        )
    if key.slot_seq is None:
        return
    slot = session.scalar(
        select(Slot.id).where(Slot.question_id == question_id, Slot.sequence == key.slot_seq)
    )
    if slot is None:
        raise UnknownGradeTarget(
            f"question {key.question_seq} of page {key.page_id} has no slot {key.slot_seq}"
        )


def override_history(session: Session, page_id: int) -> list[OverrideChange]:
    """Every change made to the grades of a page, newest first, with who made it."""
    rows = session.execute(
        select(GradeOverride, User.username)
        .join(User, User.id == GradeOverride.user_id)
        .where(GradeOverride.page_id == page_id)
        .order_by(GradeOverride.id.desc())
    )
    return [
        OverrideChange(
            row.id,
            OverrideKey(row.page_id, row.image_index, row.question_seq, row.slot_seq),
            row.grade,
            row.comment,
            username,
            row.created_at,
        )
        for row, username in rows
    ]


def current_overrides(
    session: Session, page_ids: Iterable[int]
) -> dict[OverrideKey, CurrentOverride]:
    """The overrides in force on the pages, by key (withdrawn ones are not in force)."""
    rows = session.execute(
        text(
            "SELECT page_id, image_index, question_seq, slot_seq, grade, comment, username, "
            "created_at FROM v_grade_overrides_current WHERE page_id = ANY(:ids)"
        ),
        {"ids": list(page_ids)},
    )
    return {OverrideKey(*row[:4]): CurrentOverride(*row[4:]) for row in rows}


def overrides_to_review(session: Session, batch_id: int | None = None) -> list[ToReview]:
    """Overrides on versions replaced by a rescan that the new page has not answered yet.

    Of one batch, or of every batch (``batch_id`` None), by path, page and key.
    """
    rows = session.execute(
        text(
            "SELECT override_id, batch_id, rel_path, page_no, old_page_id, image_index, "
            "question_seq, slot_seq, new_page_id, grade, comment, username, created_at "
            "FROM v_overrides_to_review WHERE CAST(:batch_id AS bigint) IS NULL "
            "OR batch_id = :batch_id "
            "ORDER BY batch_id, rel_path, page_no, image_index, question_seq, "
            "slot_seq NULLS FIRST"
        ),
        {"batch_id": batch_id},
    )
    return [_to_review(row) for row in rows]


def _to_review(row: tuple[Any, ...]) -> ToReview:
    override_id, batch_id, rel_path, page_no, old_page, image, question, slot, new_page = row[:9]
    return ToReview(
        override_id,
        batch_id,
        rel_path,
        page_no,
        OverrideKey(old_page, image, question, slot),
        new_page,
        CurrentOverride(*row[9:]),
    )
