"""What a teachers' report shows, read from Postgres into plain values.

Grades are the effective ones and rates follow :mod:`pipeline.domain.grades` (the analysts'
views compute the same): a teacher's override in force, else the provider's grade; a
question not graded is left out of the denominator, an unanswered one counts as not correct,
a partial one half. Each figure says what it counts: a :class:`~pipeline.domain.grades.Tally`
of questions (by their own grades) and one of answer slots. Questions are compared across
students by position: the assignment's file name, page and question number.

Only the current version of each document counts: pages of a version replaced by a rescan
(``documents.superseded_at``) are left out, and a teacher's overrides on them are listed on
the new page as needing review; so are pages a later scan of their label replaced. Folders
holding no scans are listed as missing work; the missing, extra and replaced pages of
labelled assignments are listed from ``v_label_gaps``. A student's labelled pages come in the
order of their labels, whatever order they were scanned in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Final

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, SchoolClass
from pipeline.adapters.db.models import Student as StudentRow
from pipeline.adapters.db.overrides import ToReview, overrides_to_review
from pipeline.adapters.db.states import DocumentState
from pipeline.domain.grades import Counted, Tally
from pipeline.domain.label_gaps import GapRow, batch_gaps
from pipeline.errors import ConfigurationError
from pipeline.operator.report.graded import GradedQuestion, graded_questions

NO_CLASS: Final = "—"


def question_tally() -> Tally:
    """An empty tally of questions."""
    return Tally(Counted.QUESTIONS)


def slot_tally() -> Tally:
    """An empty tally of answer slots."""
    return Tally(Counted.SLOTS)


@dataclass(frozen=True)
class Box:
    """A rectangle to draw over a page, in the pixels of the page as sent to the provider."""

    left: int
    top: int
    right: int
    bottom: int
    result: int  # the effective grade's code
    kind: str  # "question" (questionArea) or "slot" (handwritingArea)
    label: str
    provider: int = 0  # the provider's grade (result differs where a teacher's override applies)
    overridden_by: str | None = None  # who set the override in force


@dataclass(frozen=True)
class PageView:
    """One page of the batch, whose owner, grades and boxes the report shows."""

    page_id: int
    rel_path: str
    page_no: int
    class_name: str
    student: str
    student_id: int | None  # None: no student matched (named by its file)
    state: str
    error: str | None
    image_key: str | None
    content_type: str | None
    width: int | None
    height: int | None
    questions: Tally
    slots: Tally
    boxes: tuple[Box, ...]
    to_review: tuple[ToReview, ...] = ()  # overrides on an earlier scan of this page
    graded: tuple[GradedQuestion, ...] = ()  # its questions, in order (the exports read them)
    label: str | None = None
    """What the page's label says (``hw-7, page 2 of 3``); None without one."""
    turned: int = 0
    """Degrees the page was turned clockwise, upright by its label, before it was sent."""
    order: tuple[str, int, str, int] = ("", 0, "", 0)
    """Where it comes among its student's pages: labelled ones by assignment and label page."""


@dataclass(frozen=True)
class Row:
    """One line of a chart or table: a class, a student or a question."""

    label: str
    questions: Tally
    slots: Tally
    class_name: str = ""
    pages: int = 0
    students: int = 0


@dataclass(frozen=True)
class Student:
    """A student's pages, in order, with their line of the table."""

    row: Row
    pages: list[PageView]


@dataclass(frozen=True)
class Missing:
    """A folder holding no scans, or a file that gave no page, and why: work not there."""

    rel_path: str
    class_name: str
    student: str
    reason: str


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows about one batch."""

    batch_id: int
    name: str
    state: str
    created_at: datetime
    finished_at: datetime | None
    classes: list[Row]
    questions: list[Row]
    students: list[Student]
    total_questions: Tally = field(default_factory=question_tally)
    total_slots: Tally = field(default_factory=slot_tally)
    missing: list[Missing] = field(default_factory=list)
    failed: list[Missing] = field(default_factory=list)
    """Files that failed before giving a page (their students have no page to show)."""
    label_gaps: list[GapRow] = field(default_factory=list)

    @property
    def to_review(self) -> int:
        """Overrides made on earlier scans that their new pages still need looked at."""
        return sum(len(page.to_review) for page in self.pages)

    @property
    def pages(self) -> list[PageView]:
        """Every page, grouped by class and student."""
        return [page for student in self.students for page in student.pages]


def load_report(session: Session, batch_id: int) -> ReportData:
    """The report of a batch; raises ``ConfigurationError`` when there is no such batch."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise ConfigurationError(f"no batch with id {batch_id}")
    graded = graded_questions(session, batch_id)
    review: dict[int, list[ToReview]] = defaultdict(list)
    for item in overrides_to_review(session, batch_id):
        if item.new_page_id is not None:
            review[item.new_page_id].append(item)
    pages = [
        _page_view(row, graded.get(row.id, []), review.get(row.id, []))
        for row in _pages(session, batch_id)
    ]
    pages.sort(key=lambda p: (p.class_name == NO_CLASS, p.class_name, p.student, p.order))
    students = _students(pages)
    data = ReportData(
        batch_id=batch.id,
        name=batch.name,
        state=batch.state,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        classes=_classes(students),
        questions=_question_rows(graded),
        students=students,
        missing=_missing(session, batch_id),
        failed=_failed_files(session, batch_id),
        label_gaps=batch_gaps(session, batch_id),
    )
    for student in students:
        data.total_questions.merge(student.row.questions)
        data.total_slots.merge(student.row.slots)
    return data


_CURRENT = Document.superseded_at.is_(None)
_KEPT = Page.label_replaced_by.is_(None)  # a later scan of its label replaced it


def _missing(session: Session, batch_id: int) -> list[Missing]:
    return _documents(session, batch_id, Document.kind == "missing")


def _failed_files(session: Session, batch_id: int) -> list[Missing]:
    """Files that failed before giving a page (unreadable, refused): no page shows them."""
    no_page = ~exists().where(Page.document_id == Document.id)
    return _documents(session, batch_id, Document.state == DocumentState.FAILED, no_page)


def _documents(session: Session, batch_id: int, *where: ColumnElement[bool]) -> list[Missing]:
    """The batch's current documents that ``where`` picks, with their owner and error."""
    rows = session.execute(
        select(Document.rel_path, Document.error, StudentRow.name, SchoolClass.name)
        .outerjoin(StudentRow, StudentRow.id == Document.student_id)
        .outerjoin(
            SchoolClass, SchoolClass.id == func.coalesce(StudentRow.class_id, Document.class_id)
        )
        .where(Document.batch_id == batch_id, _CURRENT, *where)
        .order_by(Document.rel_path)
    )
    return [
        Missing(rel_path, class_name or NO_CLASS, student or "", error or "")
        for rel_path, error, student, class_name in rows
    ]


def _pages(session: Session, batch_id: int) -> Iterable[Any]:
    return session.execute(
        select(
            Page.id,
            Page.page_no,
            Page.state,
            Page.error,
            Page.image_key,
            Page.content_type,
            Page.width,
            Page.height,
            Document.rel_path,
            Document.kind,
            Page.student_id,
            StudentRow.name.label("student"),
            SchoolClass.name.label("class_name"),
            Page.label_assignment,
            Page.label_page,
            Page.label_pages,
            Page.label_turn,
        )
        .join(Document, Document.id == Page.document_id)
        .outerjoin(StudentRow, StudentRow.id == Page.student_id)
        .outerjoin(
            SchoolClass, SchoolClass.id == func.coalesce(StudentRow.class_id, Document.class_id)
        )
        .where(Page.batch_id == batch_id, _CURRENT, _KEPT)
        .order_by(Document.rel_path, Page.page_no)
    ).all()


def _page_view(page: Any, questions: list[GradedQuestion], to_review: list[ToReview]) -> PageView:
    tally, slots = question_tally(), slot_tally()
    boxes: list[Box] = []
    for question in questions:
        tally.add(question.grade, overridden=question.override is not None)
        label = f"Q{question.sequence + 1}"
        for area in question.areas:
            boxes.extend(_box(area, "question", label, question))
        for slot in question.slots:
            slots.add(slot.grade, overridden=slot.override is not None)
            boxes.extend(_box(slot.area, "slot", f"{label}.{slot.sequence}", slot))
    return PageView(
        page_id=page.id,
        rel_path=page.rel_path,
        page_no=page.page_no,
        class_name=page.class_name or NO_CLASS,
        student=page.student or PurePosixPath(page.rel_path).name,
        student_id=page.student_id,
        state=page.state,
        error=page.error,
        image_key=page.image_key,
        content_type=page.content_type,
        width=page.width,
        height=page.height,
        questions=tally,
        slots=slots,
        boxes=tuple(boxes),
        to_review=tuple(to_review),
        graded=tuple(questions),
        **_label_of(page),
    )


def _label_of(page: Any) -> dict[str, Any]:
    """The page's label as shown, and its place: by label page, else by file and page."""
    if page.label_page is None:
        return {"order": (page.rel_path, page.page_no, "", 0)}
    return {
        "label": f"{page.label_assignment}, page {page.label_page} of {page.label_pages}",
        "turned": page.label_turn or 0,
        "order": (page.label_assignment, page.label_page, page.rel_path, page.page_no),
    }


def _box(area: Any, kind: str, label: str, graded: Any) -> list[Box]:
    """The box of a ``{left_x,left_y,right_x,right_y}`` area; none if it is not one.

    ``graded`` is the question or slot it shows, with its effective and provider's grades.
    """
    if not isinstance(area, dict):
        return []
    try:
        left, top = int(area["left_x"]), int(area["left_y"])
        right, bottom = int(area["right_x"]), int(area["right_y"])
    except (KeyError, TypeError, ValueError):
        return []
    if right <= left or bottom <= top:
        return []
    override = graded.override
    return [
        Box(
            left,
            top,
            right,
            bottom,
            int(graded.grade),
            kind,
            label,
            provider=int(graded.provider),
            overridden_by=None if override is None else override.username,
        )
    ]


def _students(pages: list[PageView]) -> list[Student]:
    grouped: dict[tuple[str, int | str], list[PageView]] = {}
    for page in pages:
        # Students by id (two may share a name); an unmatched file stands alone.
        who = page.student_id if page.student_id is not None else page.rel_path
        grouped.setdefault((page.class_name, who), []).append(page)
    students = []
    for (class_name, _), own in grouped.items():
        row = Row(own[0].student, question_tally(), slot_tally(), class_name, pages=len(own))
        for page in own:
            row.questions.merge(page.questions)
            row.slots.merge(page.slots)
        students.append(Student(row, own))
    return students


def _classes(students: list[Student]) -> list[Row]:
    rows: dict[str, Row] = {}
    for student in students:
        name = student.row.class_name
        row = rows.setdefault(name, Row(name, question_tally(), slot_tally(), name))
        row.questions.merge(student.row.questions)
        row.slots.merge(student.row.slots)
        rows[name] = replace(row, pages=row.pages + student.row.pages, students=row.students + 1)
    return list(rows.values())


def _question_rows(graded: dict[int, list[GradedQuestion]]) -> list[Row]:
    """Correct rates of each question by position, over every student of the batch."""
    rows: dict[tuple[str, int, int], Row] = {}
    for questions in graded.values():
        for question in questions:
            key = (question.work, question.page_no, question.sequence)
            row = rows.setdefault(key, Row("", question_tally(), slot_tally()))
            row.questions.add(question.grade, overridden=question.override is not None)
            for slot in question.slots:
                row.slots.add(slot.grade, overridden=slot.override is not None)
    named = len({work for work, _, _ in rows}) > 1
    return [replace(rows[key], label=question_label(*key, named)) for key in sorted(rows)]


def question_label(work: str, page_no: int, sequence: int, named: bool) -> str:
    """A question by position, as the report names it.

    ``p1 Q2``, or ``homework.pdf p1 Q2`` when the batch holds more than one assignment
    (``named``).
    """
    label = f"p{page_no} Q{sequence + 1}"
    return f"{work} {label}" if named and work else label
