"""A batch's questions and answer slots with their effective grades, read once for the report.

Effective grades follow :mod:`pipeline.domain.grades`: a teacher's override in force (read
with :func:`~pipeline.adapters.db.overrides.current_overrides`, the view the analysts' views
apply), else the provider's grade. Only the current version of each document counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Document, Page, Question, Slot
from pipeline.adapters.db.overrides import CurrentOverride, OverrideKey, current_overrides
from pipeline.domain.grades import Grade, grade_of, question_grade, slot_grade

_CURRENT = Document.superseded_at.is_(None)
_KEPT = Page.label_replaced_by.is_(None)  # a later scan of its label replaced the page


def assignment(rel_path: str, *, image_set: bool = False, given: str | None = None) -> str:
    """The work a question belongs to: the manifest's assignment, else the file's name.

    ``3A/li/homework.pdf`` gives ``homework.pdf``, so every student's question 2 of page 1
    of the homework is the same question; an image set's or a loose file's name is the
    student's, so their questions are compared by page and number alone.
    """
    if given:
        return given
    parts = PurePosixPath(rel_path).parts
    if len(parts) >= 3 and not image_set:
        return parts[-1]
    return ""


@dataclass(frozen=True)
class GradedSlot:
    """An answer slot: its effective grade, the provider's, and the override that set it."""

    sequence: int
    grade: Grade
    provider: Grade
    override: CurrentOverride | None  # its own, or its question's whole-question override
    area: Any


@dataclass(frozen=True)
class GradedQuestion:
    """A question at its place (work, page, number), graded, with its slots."""

    page_id: int
    work: str
    page_no: int
    image_index: int
    sequence: int
    grade: Grade
    provider: Grade
    override: CurrentOverride | None  # a whole-question override in force
    areas: list[Any]
    slots: tuple[GradedSlot, ...]


def graded_questions(session: Session, batch_id: int) -> dict[int, list[GradedQuestion]]:
    """The batch's questions by page id, in page order, with effective grades."""
    questions = session.execute(
        select(Document.rel_path, Document.kind, Document.assignment, Page.page_no)
        .add_columns(Question.page_id, Question.image_index, Question.sequence)
        .add_columns(Question.correct_result, Question.area)
        .join(Page, Page.id == Question.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, _CURRENT, _KEPT)
        .order_by(Question.page_id, Question.image_index, Question.sequence)
    ).all()
    slots = _slots(session, batch_id)
    overrides = current_overrides(session, {row.page_id for row in questions})
    found: dict[int, list[GradedQuestion]] = defaultdict(list)
    for row in questions:
        key = OverrideKey(row.page_id, row.image_index, row.sequence, None)
        override = overrides.get(key)
        found[row.page_id].append(
            GradedQuestion(
                page_id=row.page_id,
                work=assignment(
                    row.rel_path, image_set=row.kind == "image_set", given=row.assignment
                ),
                page_no=row.page_no,
                image_index=row.image_index,
                sequence=row.sequence,
                grade=question_grade(row.correct_result, _grade(override)),
                provider=grade_of(row.correct_result),
                override=override,
                areas=list(row.area or []),
                slots=_graded_slots(slots.get(key, []), key, overrides, override),
            )
        )
    return found


def _slots(session: Session, batch_id: int) -> dict[OverrideKey, list[Any]]:
    """Slots by their question's key, in order."""
    found: dict[OverrideKey, list[Any]] = defaultdict(list)
    rows = session.execute(
        select(Slot.page_id, Question.image_index, Question.sequence.label("question"))
        .add_columns(Slot.sequence, Slot.correct_result, Slot.handwriting_area)
        .join(Question, Question.id == Slot.question_id)
        .join(Page, Page.id == Slot.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, _CURRENT, _KEPT)
        .order_by(Slot.page_id, Question.image_index, Question.sequence, Slot.sequence)
    )
    for row in rows:
        found[OverrideKey(row.page_id, row.image_index, row.question, None)].append(row)
    return found


def _graded_slots(
    rows: list[Any],
    question: OverrideKey,
    overrides: Mapping[OverrideKey, CurrentOverride],
    question_override: CurrentOverride | None,
) -> tuple[GradedSlot, ...]:
    graded = []
    for row in rows:
        own = overrides.get(question._replace(slot_seq=row.sequence))
        grade = slot_grade(row.correct_result, _grade(own), _grade(question_override))
        applied = own or question_override
        graded.append(
            GradedSlot(
                row.sequence, grade, grade_of(row.correct_result), applied, row.handwriting_area
            )
        )
    return tuple(graded)


def _grade(override: CurrentOverride | None) -> str | None:
    return None if override is None else override.grade
