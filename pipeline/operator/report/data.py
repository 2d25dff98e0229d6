"""What a teachers' report shows, read from Postgres into plain values.

Rates follow ``docs/schema.md``: a question not graded (``correct_result`` 0 or NULL) is left
out of the denominator, and an unanswered one counts as not correct. Questions are compared
across students by position: the assignment's file name, page and question number.

Only the current version of each document counts: pages of a version replaced by a rescan
(``documents.superseded_at``), and pages a later scan of their label replaced, are left out.
Folders holding no scans are listed as missing work; the missing, extra and replaced pages of
labelled assignments are listed from ``v_label_gaps``. A student's labelled pages come in the
order of their labels, whatever order they were scanned in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, Question, SchoolClass, Slot
from pipeline.adapters.db.models import Student as StudentRow
from pipeline.domain.label_gaps import GapRow, batch_gaps
from pipeline.errors import ConfigurationError

CORRECT, WRONG, UNANSWERED = 1, 2, 3
NO_CLASS: Final = "—"


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


@dataclass
class Tally:
    """Questions counted by grade."""

    correct: int = 0
    wrong: int = 0
    unanswered: int = 0
    not_graded: int = 0

    def add(self, result: int | None) -> None:
        """Count one question's ``correct_result``."""
        if result == CORRECT:
            self.correct += 1
        elif result == WRONG:
            self.wrong += 1
        elif result == UNANSWERED:
            self.unanswered += 1
        else:
            self.not_graded += 1

    def __iadd__(self, other: Tally) -> Tally:
        self.correct += other.correct
        self.wrong += other.wrong
        self.unanswered += other.unanswered
        self.not_graded += other.not_graded
        return self

    @property
    def graded(self) -> int:
        """Questions with a grade: the denominator of the rate."""
        return self.correct + self.wrong + self.unanswered

    @property
    def questions(self) -> int:
        """Every question counted, graded or not."""
        return self.graded + self.not_graded

    @property
    def rate(self) -> float | None:
        """Share of graded questions answered correctly; None when none was graded."""
        return self.correct / self.graded if self.graded else None


@dataclass(frozen=True)
class Box:
    """A rectangle to draw over a page, in the pixels of the page as sent to the provider."""

    left: int
    top: int
    right: int
    bottom: int
    result: int
    kind: str  # "question" (questionArea) or "slot" (handwritingArea)
    label: str


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
    tally: Tally
    boxes: tuple[Box, ...]
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
    tally: Tally
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
    """A folder holding no scans: a submission the teacher may be waiting for."""

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
    total: Tally = field(default_factory=Tally)
    missing: list[Missing] = field(default_factory=list)
    label_gaps: list[GapRow] = field(default_factory=list)

    @property
    def pages(self) -> list[PageView]:
        """Every page, grouped by class and student."""
        return [page for student in self.students for page in student.pages]


def load_report(session: Session, batch_id: int) -> ReportData:
    """The report of a batch; raises ``ConfigurationError`` when there is no such batch."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise ConfigurationError(f"no batch with id {batch_id}")
    questions = _questions(session, batch_id)
    slots = _slots(session, batch_id)
    pages = [_page_view(row, questions.get(row.id, []), slots) for row in _pages(session, batch_id)]
    pages.sort(key=lambda p: (p.class_name == NO_CLASS, p.class_name, p.student, p.order))
    students = _students(pages)
    total = Tally()
    for student in students:
        total += student.row.tally
    return ReportData(
        batch_id=batch.id,
        name=batch.name,
        state=batch.state,
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        classes=_classes(students),
        questions=_question_rows(session, batch_id),
        students=students,
        total=total,
        missing=_missing(session, batch_id),
        label_gaps=batch_gaps(session, batch_id),
    )


_CURRENT = Document.superseded_at.is_(None)
_KEPT = Page.label_replaced_by.is_(None)  # a later scan of its label replaced it


def _missing(session: Session, batch_id: int) -> list[Missing]:
    rows = session.execute(
        select(Document.rel_path, Document.error, StudentRow.name, SchoolClass.name)
        .outerjoin(StudentRow, StudentRow.id == Document.student_id)
        .outerjoin(
            SchoolClass, SchoolClass.id == func.coalesce(StudentRow.class_id, Document.class_id)
        )
        .where(Document.batch_id == batch_id, Document.kind == "missing", _CURRENT)
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


def _questions(session: Session, batch_id: int) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    rows = session.execute(
        select(Question.page_id, Question.sequence, Question.correct_result, Question.area)
        .join(Page, Page.id == Question.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, _CURRENT, _KEPT)
        .order_by(Question.page_id, Question.image_index, Question.sequence)
    )
    for row in rows:
        found[row.page_id].append(row)
    return found


def _slots(session: Session, batch_id: int) -> dict[tuple[int, int], list[Any]]:
    """Slots by (page id, question sequence)."""
    found: dict[tuple[int, int], list[Any]] = defaultdict(list)
    rows = session.execute(
        select(
            Slot.page_id, Question.sequence.label("question"), Slot.sequence, Slot.correct_result
        )
        .add_columns(Slot.handwriting_area)
        .join(Question, Question.id == Slot.question_id)
        .join(Page, Page.id == Slot.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, _CURRENT, _KEPT)
        .order_by(Slot.page_id, Question.sequence, Slot.sequence)
    )
    for row in rows:
        found[(row.page_id, row.question)].append(row)
    return found


def _page_view(
    page: Any, questions: list[Any], slots: Mapping[tuple[int, int], list[Any]]
) -> PageView:
    tally = Tally()
    boxes: list[Box] = []
    for question in questions:
        tally.add(question.correct_result)
        label = f"Q{question.sequence + 1}"
        for area in question.area or []:
            boxes.extend(_box(area, question.correct_result, "question", label))
        for slot in slots.get((page.id, question.sequence), []):
            slot_label = f"{label}.{slot.sequence}"
            boxes.extend(_box(slot.handwriting_area, slot.correct_result, "slot", slot_label))
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
        tally=tally,
        boxes=tuple(boxes),
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


def _box(area: Any, result: int | None, kind: str, label: str) -> list[Box]:
    """The box of a ``{left_x,left_y,right_x,right_y}`` area; none if it is not one."""
    if not isinstance(area, dict):
        return []
    try:
        left, top = int(area["left_x"]), int(area["left_y"])
        right, bottom = int(area["right_x"]), int(area["right_y"])
    except (KeyError, TypeError, ValueError):
        return []
    if right <= left or bottom <= top:
        return []
    return [Box(left, top, right, bottom, result or 0, kind, label)]


def _students(pages: list[PageView]) -> list[Student]:
    grouped: dict[tuple[str, int | str], list[PageView]] = {}
    for page in pages:
        # Students by id (two may share a name); an unmatched file stands alone.
        who = page.student_id if page.student_id is not None else page.rel_path
        grouped.setdefault((page.class_name, who), []).append(page)
    students = []
    for (class_name, _), own in grouped.items():
        name = own[0].student
        tally = Tally()
        for page in own:
            tally += page.tally
        row = Row(name, tally, class_name=class_name, pages=len(own))
        students.append(Student(row, own))
    return students


def _classes(students: list[Student]) -> list[Row]:
    tallies: dict[str, Tally] = {}
    counts: dict[str, tuple[int, int]] = {}
    for student in students:
        name = student.row.class_name
        tallies.setdefault(name, Tally())
        tallies[name] += student.row.tally
        pages, members = counts.get(name, (0, 0))
        counts[name] = (pages + student.row.pages, members + 1)
    return [
        Row(name, tally, class_name=name, pages=counts[name][0], students=counts[name][1])
        for name, tally in tallies.items()
    ]


def _question_rows(session: Session, batch_id: int) -> list[Row]:
    """Correct rate of each question by position, over every student of the batch."""
    rows = session.execute(
        select(Document.rel_path, Document.kind, Document.assignment, Page.page_no)
        .add_columns(Question.sequence, Question.correct_result)
        .join(Page, Page.id == Question.page_id)
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, _CURRENT, _KEPT)
    )
    tallies: dict[tuple[str, int, int], Tally] = {}
    for row in rows:
        key = (
            assignment(row.rel_path, image_set=row.kind == "image_set", given=row.assignment),
            row.page_no,
            row.sequence,
        )
        tallies.setdefault(key, Tally()).add(row.correct_result)
    named = len({work for work, _, _ in tallies}) > 1
    return [
        Row(_question_label(work, page_no, sequence, named), tallies[(work, page_no, sequence)])
        for work, page_no, sequence in sorted(tallies)
    ]


def _question_label(work: str, page_no: int, sequence: int, named: bool) -> str:
    label = f"p{page_no} Q{sequence + 1}"
    return f"{work} {label}" if named and work else label
