"""One page as the page view shows it, read from Postgres.

Its owner, its picture's size, and every question and answer slot with what was read, the
provider's verdict and reason, the teacher's override in force, and the page's history of
changes. Reads only.

Grades follow ``pipeline.domain.grades`` (effective: an override in force, else the
provider's), overrides come from ``adapters.db.overrides``, as the report's and the views'.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, Question, SchoolClass, Slot
from pipeline.adapters.db.models import Student as StudentRow
from pipeline.adapters.db.overrides import (
    CurrentOverride,
    OverrideChange,
    OverrideKey,
    ToReview,
    current_overrides,
    override_history,
    overrides_to_review,
)
from pipeline.domain.grades import Grade, grade_of, question_grade, slot_grade
from pipeline.operator.web.queries import PAGE_CLASS

#: The answer as read: the NORM tag of the provider's reason (v_slot_results.answer's rule).
_NORM: Final = re.compile(r"\[NORM:([^\]]*)\]")


def answer_read(reason: str | None) -> str | None:
    """What the provider read in a slot, from its reason; None when it read nothing."""
    found = _NORM.search(reason or "")
    return (found.group(1).strip() or None) if found else None


@dataclass(frozen=True)
class SlotLine:
    """An answer slot: what was read, the verdicts, and its own override in force."""

    sequence: int
    grade: Grade
    provider: Grade
    own: CurrentOverride | None
    answer: str | None
    reason: str | None
    area: Any


@dataclass(frozen=True)
class QuestionLine:
    """A question: its verdicts, its whole-question override in force, its slots."""

    image_index: int
    sequence: int
    text: str | None
    grade: Grade
    provider: Grade
    override: CurrentOverride | None
    areas: list[Any]
    slots: tuple[SlotLine, ...]

    @property
    def label(self) -> str:
        """``Q3`` (``Q3 (image 2)`` past the first image)."""
        image = f" (image {self.image_index + 1})" if self.image_index else ""
        return f"Q{self.sequence + 1}{image}"

    @property
    def anchor(self) -> str:
        """The id of its line on the page (the grid's cells link to it)."""
        return f"q-{self.image_index}-{self.sequence}"


@dataclass(frozen=True)
class PageDetail:
    """Everything the page view shows."""

    page_id: int
    batch_id: int
    batch: str
    rel_path: str
    page_no: int
    class_id: int | None
    class_name: str | None
    student_id: int | None
    student: str | None
    state: str
    error: str | None
    image_key: str | None
    width: int | None
    height: int | None
    questions: list[QuestionLine]
    history: list[OverrideChange]
    to_review: list[ToReview]
    """Grades a teacher set on the scan this page replaced, not answered here yet."""


def page_detail(session: Session, page_id: int) -> PageDetail | None:
    """The page, its questions and its history; None if there is no such page."""
    row = session.execute(
        select(Page.id, Page.batch_id, Batch.name.label("batch"), Document.rel_path, Page.page_no)
        .add_columns(PAGE_CLASS.label("class_id"), SchoolClass.name.label("class_name"))
        .add_columns(Page.student_id, StudentRow.name.label("student"), Page.state, Page.error)
        .add_columns(Page.image_key, Page.width, Page.height)
        .join(Document, Document.id == Page.document_id)
        .join(Batch, Batch.id == Page.batch_id)
        .outerjoin(StudentRow, StudentRow.id == Page.student_id)
        .outerjoin(SchoolClass, SchoolClass.id == PAGE_CLASS)
        .where(Page.id == page_id)
    ).first()
    if row is None:
        return None
    fields: dict[str, Any] = dict(row._mapping)
    return PageDetail(
        page_id=fields.pop("id"),
        **fields,
        questions=_questions(session, page_id),
        history=override_history(session, page_id),
        to_review=[
            item
            for item in overrides_to_review(session, row.batch_id)
            if item.new_page_id == page_id
        ],
    )


def _questions(session: Session, page_id: int) -> list[QuestionLine]:
    overrides = current_overrides(session, [page_id])
    slots: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for slot in session.execute(
        select(Question.image_index, Question.sequence.label("question"), Slot.sequence)
        .add_columns(Slot.correct_result, Slot.reason, Slot.handwriting_area)
        .join(Question, Question.id == Slot.question_id)
        .where(Slot.page_id == page_id)
        .order_by(Question.image_index, Question.sequence, Slot.sequence)
    ):
        slots[(slot.image_index, slot.question)].append(slot)
    lines = []
    for q in session.execute(
        select(Question.image_index, Question.sequence, Question.question_text)
        .add_columns(Question.correct_result, Question.area)
        .where(Question.page_id == page_id)
        .order_by(Question.image_index, Question.sequence)
    ):
        key = OverrideKey(page_id, q.image_index, q.sequence, None)
        whole = overrides.get(key)
        lines.append(
            QuestionLine(
                q.image_index,
                q.sequence,
                q.question_text or None,
                question_grade(q.correct_result, whole.grade if whole else None),
                grade_of(q.correct_result),
                whole,
                list(q.area or []),
                tuple(
                    _slot(s, overrides.get(key._replace(slot_seq=s.sequence)), whole)
                    for s in slots[(q.image_index, q.sequence)]
                ),
            )
        )
    return lines


def _slot(row: Any, own: CurrentOverride | None, whole: CurrentOverride | None) -> SlotLine:
    grade = slot_grade(
        row.correct_result, own.grade if own else None, whole.grade if whole else None
    )
    return SlotLine(
        row.sequence,
        grade,
        grade_of(row.correct_result),
        own,
        answer_read(row.reason),
        row.reason,
        row.handwriting_area,
    )
