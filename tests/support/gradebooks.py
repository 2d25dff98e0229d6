"""Report data made by hand, for the export tests that need no database."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from pipeline.adapters.db.overrides import CurrentOverride
from pipeline.domain.grades import grade_of
from pipeline.operator.export.gradebook import Enrolled, Gradebook, build_gradebook
from pipeline.operator.report.data import (
    Box,
    PageView,
    ReportData,
    Row,
    Student,
    question_tally,
    slot_tally,
)
from pipeline.operator.report.graded import GradedQuestion, GradedSlot

Questions = Sequence[tuple[int, Sequence[int]]]  # (question grade, its slots' grades)

TEACHER = "ms-chen"


def override(grade: str = "partial") -> CurrentOverride:
    return CurrentOverride(grade, None, TEACHER, datetime(2026, 11, 22, tzinfo=UTC))


def page(
    page_id: int,
    student: Enrolled | None,
    work: str,
    questions: Questions,
    *,
    page_no: int = 1,
    boxes: Sequence[Box] = (),
    size: tuple[int, int] = (1000, 1400),
    changed: Collection[int] = (),
) -> PageView:
    """A page of ``student`` (None: nobody matched) holding ``questions`` of ``work``.

    The questions numbered in ``changed`` (0-based) have their grade from a teacher's
    whole-question override, which then sets their slots too.
    """
    graded = tuple(
        _question(page_id, work, page_no, index, grade, slots, index in changed)
        for index, (grade, slots) in enumerate(questions)
    )
    tally, slot_count = question_tally(), slot_tally()
    for question in graded:
        tally.add(question.grade, overridden=question.override is not None)
        for slot in question.slots:
            slot_count.add(slot.grade, overridden=slot.override is not None)
    folder = f"{student.class_name}/{student.code}" if student else ""
    return PageView(
        page_id=page_id,
        rel_path=f"{folder}/{work or 'scan.jpg'}".lstrip("/"),
        page_no=page_no,
        class_name=student.class_name if student else "—",
        student=student.name if student else work,
        student_id=student.student_id if student else None,
        state="done",
        error=None,
        image_key=f"pages/{page_id}.jpg",
        content_type="image/jpeg",
        width=size[0],
        height=size[1],
        questions=tally,
        slots=slot_count,
        boxes=tuple(boxes),
        graded=graded,
    )


def _question(
    page_id: int, work: str, page_no: int, index: int, grade: int, slots: Sequence[int], by: bool
) -> GradedQuestion:
    teacher = override(grade_of(grade).word) if by else None
    return GradedQuestion(
        page_id=page_id,
        work=work,
        page_no=page_no,
        image_index=0,
        sequence=index,
        grade=grade_of(grade),
        provider=grade_of(grade),
        override=teacher,
        areas=[],
        slots=tuple(
            GradedSlot(number, grade_of(result), grade_of(result), teacher, None)
            for number, result in enumerate(slots, start=1)
        ),
    )


def report(pages: Sequence[PageView], name: str = "night") -> ReportData:
    """The report of ``pages``, as ``load_report`` would group them."""
    return ReportData(
        batch_id=1,
        name=name,
        state="done",
        created_at=datetime(2026, 11, 21, tzinfo=UTC),
        finished_at=None,
        classes=[],
        questions=[],
        students=[Student(row=Row("", question_tally(), slot_tally()), pages=list(pages))],
    )


def gradebook(
    pages: Sequence[PageView], roster: Sequence[Enrolled], name: str = "night"
) -> Gradebook:
    return build_gradebook(report(pages, name), roster)
