"""A class of a batch as a table: a row per student, a column per question.

A column is a question at its place in the work (assignment, page, number: the report's
way of comparing questions across students); a cell is that student's question with its
effective grade, marked when a teacher's override (the question's, or one of its slots')
is in force. Each row and each column has two rates, as ``pipeline.domain.grades`` defines
them: per question (the questions' own grades) and per slot (their answer slots').
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.domain.grades import Counted, Grade, Tally
from pipeline.operator.report.data import PageView, Student
from pipeline.operator.report.graded import GradedQuestion

#: What a cell shows for each grade, short enough for a grid (the title says it in words).
SIGNS: Mapping[Grade, str] = {
    Grade.CORRECT: "✓",
    Grade.WRONG: "✗",
    Grade.UNANSWERED: "–",
    Grade.PARTIAL: "½",
    Grade.NOT_GRADED: "?",
}

Place = tuple[str, int, int, int]
"""A question's place: work, page number, image index, sequence."""


@dataclass(frozen=True)
class Cell:
    """One student's question at one place; ``grade`` None: the student has none there."""

    grade: Grade | None = None
    overridden: bool = False
    page_id: int | None = None
    anchor: str = ""


@dataclass
class Rates:
    """The two rates of a row, a column or the class."""

    questions: Tally = field(default_factory=lambda: Tally(Counted.QUESTIONS))
    slots: Tally = field(default_factory=lambda: Tally(Counted.SLOTS))

    def add(self, question: GradedQuestion) -> None:
        """Count a question and its slots."""
        self.questions.add(question.grade, overridden=question.override is not None)
        for slot in question.slots:
            self.slots.add(slot.grade, overridden=slot.override is not None)


@dataclass(frozen=True)
class Column:
    """A question's place, its heading, and its rates over the class."""

    place: Place
    label: str
    rates: Rates


@dataclass(frozen=True)
class Row:
    """A student: their pages, a cell per column, and their rates."""

    student: Student
    cells: list[Cell]
    rates: Rates


@dataclass(frozen=True)
class Grid:
    """The class as a table."""

    columns: list[Column]
    rows: list[Row]
    rates: Rates


def anchor(question: GradedQuestion) -> str:
    """The id of a question's line on its page (``#q-<image>-<sequence>``)."""
    return f"q-{question.image_index}-{question.sequence}"


def overridden(question: GradedQuestion) -> bool:
    """Whether an override is in force on the question or one of its slots."""
    return question.override is not None or any(s.override is not None for s in question.slots)


def class_grid(students: Sequence[Student], graded: Mapping[int, list[GradedQuestion]]) -> Grid:
    """The grid of these students, from their pages' graded questions."""
    by_student = [_questions(student.pages, graded) for student in students]
    places = sorted({place for found in by_student for place in found})
    named = len({place[0] for place in places}) > 1
    columns = [Column(place, _label(place, named), Rates()) for place in places]
    rows, total = [], Rates()
    for student, found in zip(students, by_student, strict=True):
        cells, rates = [], Rates()
        for column in columns:
            question = found.get(column.place)
            if question is None:
                cells.append(Cell())
                continue
            for tally in (rates, column.rates, total):
                tally.add(question)
            cells.append(
                Cell(question.grade, overridden(question), question.page_id, anchor(question))
            )
        rows.append(Row(student, cells, rates))
    return Grid(columns, rows, total)


def _questions(
    pages: Sequence[PageView], graded: Mapping[int, list[GradedQuestion]]
) -> dict[Place, GradedQuestion]:
    found: dict[Place, GradedQuestion] = {}
    for page in pages:
        for question in graded.get(page.page_id, []):
            place = (question.work, question.page_no, question.image_index, question.sequence)
            found.setdefault(place, question)  # the first, should a student have it twice
    return found


def _label(place: Place, named: bool) -> str:
    work, page_no, image_index, sequence = place
    label = f"p{page_no} Q{sequence + 1}" + (f" (image {image_index + 1})" if image_index else "")
    return f"{work} {label}" if named and work else label
