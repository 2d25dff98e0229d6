"""Report data made by hand, for the export tests that need no database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from pipeline.operator.export.gradebook import Enrolled, Gradebook, build_gradebook
from pipeline.operator.report.data import (
    Box,
    PageView,
    QuestionView,
    ReportData,
    Row,
    Student,
    Tally,
)

Questions = Sequence[tuple[int, Sequence[int]]]  # (question result, its slots' results)


def page(
    page_id: int,
    student: Enrolled | None,
    work: str,
    questions: Questions,
    *,
    page_no: int = 1,
    boxes: Sequence[Box] = (),
    size: tuple[int, int] = (1000, 1400),
) -> PageView:
    """A page of ``student`` (None: nobody matched) holding ``questions`` of ``work``."""
    tally = Tally()
    for result, _ in questions:
        tally.add(result)
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
        tally=tally,
        boxes=tuple(boxes),
        assignment=work,
        questions=tuple(
            QuestionView(index, result, tuple(slots))
            for index, (result, slots) in enumerate(questions)
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
        students=[Student(row=Row("", Tally()), pages=list(pages))],
    )


def gradebook(
    pages: Sequence[PageView], roster: Sequence[Enrolled], name: str = "night"
) -> Gradebook:
    return build_gradebook(report(pages, name), roster)
