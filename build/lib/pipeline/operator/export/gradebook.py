"""A batch's grades per student, question and assignment: what the school's exports hold.

Everything is read through the teachers' report (``report.data``), so the wide sheet, the
gradebooks and the handback PDFs show what the report shows: effective grades (a teacher's
override in force, else the provider's), questions compared across students by position
(assignment, page, question number), and the rates and points of
:mod:`pipeline.domain.grades`. The students are the roster's (``students`` of every class the
batch holds work of), so a student of such a class who handed nothing in this batch is still
listed, with empty grades. Pages no student was matched to are counted, not exported: there
is nobody to hand them back to.

An assignment's points are its answer slots: a correct slot earns one, a partial one half
(``Tally.earned``), and the assignment is worth as many points as it has graded slot
positions over every student's sheets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Document, Page, SchoolClass
from pipeline.adapters.db.models import Student as StudentRow
from pipeline.domain.grades import GRADED, Tally
from pipeline.operator.report.data import (
    PageView,
    ReportData,
    load_report,
    question_label,
    question_tally,
    slot_tally,
)
from pipeline.operator.report.graded import GradedQuestion


@dataclass(frozen=True, order=True)
class Position:
    """A question compared across students, as the report compares them."""

    work: str
    page_no: int
    sequence: int


@dataclass(frozen=True)
class Question:
    """A column of the wide sheet: a question position and the report's name for it."""

    position: Position
    label: str


@dataclass(frozen=True)
class Work:
    """An assignment: one column of a gradebook."""

    key: str  # the report's ``assignment()`` of its documents ("" for image sets)
    name: str  # the column's name: the assignment, or the batch's name for ""
    possible: int  # graded answer slot positions over every student's sheets


@dataclass
class WorkGrades:
    """A student's questions and answer slots of one assignment."""

    questions: Tally = field(default_factory=question_tally)
    slots: Tally = field(default_factory=slot_tally)


@dataclass(frozen=True)
class Enrolled:
    """A student of the roster tables."""

    student_id: int
    class_name: str
    code: str
    name: str


@dataclass
class StudentGrades:
    """One student's results in the batch; no pages when they handed nothing in."""

    student: Enrolled
    pages: list[PageView] = field(default_factory=list)
    marks: dict[Position, list[GradedQuestion]] = field(default_factory=dict)
    questions: Tally = field(default_factory=question_tally)
    slots: Tally = field(default_factory=slot_tally)
    works: dict[str, WorkGrades] = field(default_factory=dict)  # by ``Work.key``


@dataclass(frozen=True)
class Gradebook:
    """The batch's students, questions and assignments."""

    batch: str
    works: list[Work]
    questions: list[Question]
    students: list[StudentGrades]
    unmatched_pages: int


def load_gradebook(session: Session, batch_id: int) -> Gradebook:
    """The gradebook of a batch; ``ConfigurationError`` when there is no such batch."""
    return build_gradebook(load_report(session, batch_id), roster(session, batch_id))


def roster(session: Session, batch_id: int) -> list[Enrolled]:
    """Every student of the classes the batch holds work of, by class and name."""
    current = Document.superseded_at.is_(None)
    of_pages = (
        select(StudentRow.class_id)
        .join(Page, Page.student_id == StudentRow.id)
        .join(Document, Document.id == Page.document_id)
        .where(Page.batch_id == batch_id, current)
    )
    of_documents = (
        select(func.coalesce(StudentRow.class_id, Document.class_id))
        .select_from(Document)
        .outerjoin(StudentRow, StudentRow.id == Document.student_id)
        .where(Document.batch_id == batch_id, current)
    )
    rows = session.execute(
        select(StudentRow.id, SchoolClass.name, StudentRow.code, StudentRow.name)
        .join(SchoolClass, SchoolClass.id == StudentRow.class_id)
        .where(StudentRow.class_id.in_(union(of_pages, of_documents).scalar_subquery()))
        .order_by(SchoolClass.name, StudentRow.name, StudentRow.code)
    )
    return [Enrolled(*row) for row in rows]


def build_gradebook(report: ReportData, enrolled: Iterable[Enrolled]) -> Gradebook:
    """The roster's students with their pages of the report, and the batch's assignments."""
    own: dict[int, list[PageView]] = defaultdict(list)
    for page in report.pages:
        if page.student_id is not None:
            own[page.student_id].append(page)
    students = [_grades(student, own.get(student.student_id, [])) for student in enrolled]
    return Gradebook(
        batch=report.name,
        works=_works(students, report.name),
        questions=_questions(report.pages, students),
        students=students,
        unmatched_pages=sum(page.student_id is None for page in report.pages),
    )


def overridden(question: GradedQuestion) -> bool:
    """Whether a teacher's override sets the question's grade or one of its slots'."""
    return question.override is not None or any(s.override is not None for s in question.slots)


def _grades(student: Enrolled, pages: list[PageView]) -> StudentGrades:
    grades = StudentGrades(student, pages)
    for page in pages:
        grades.questions.merge(page.questions)
        grades.slots.merge(page.slots)
        for question in page.graded:
            position = Position(question.work, question.page_no, question.sequence)
            grades.marks.setdefault(position, []).append(question)
            work = grades.works.setdefault(question.work, WorkGrades())
            work.questions.add(question.grade, overridden=question.override is not None)
            for slot in question.slots:
                work.slots.add(slot.grade, overridden=slot.override is not None)
    return grades


def _works(students: list[StudentGrades], batch: str) -> list[Work]:
    """Each assignment the students handed in, and the slot positions it was graded on."""
    slots: dict[str, set[tuple[int, int, int, int]]] = defaultdict(set)
    for grades in students:
        for page in grades.pages:
            for question in page.graded:
                slots[question.work].update(
                    (question.page_no, question.image_index, question.sequence, slot.sequence)
                    for slot in question.slots
                    if slot.grade in GRADED
                )
    return [Work(key, key or batch, len(slots[key])) for key in sorted(slots)]


def _questions(pages: list[PageView], students: list[StudentGrades]) -> list[Question]:
    """The students' question positions, named as the report names them.

    The report adds the assignment to a question's name when the batch holds more than one
    assignment, counting every page of it, so that is counted here too.
    """
    named = len({question.work for page in pages for question in page.graded}) > 1
    found = {position for grades in students for position in grades.marks}
    return [
        Question(p, question_label(p.work, p.page_no, p.sequence, named)) for p in sorted(found)
    ]
