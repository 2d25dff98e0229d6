"""The school's spreadsheets of a batch: the wide sheet and the Canvas and Moodle gradebooks.

Each is one row per student of the roster (``gradebook``), students without work in the batch
included with empty cells, so a gradebook import finds every student it knows:

- **wide**: class, student, the school's id, one column per question named as the report
  names it (``p1 Q2``, ``homework.pdf p1 Q2``) holding the question's grade in words, then
  the student's correct rates of questions and of answer slots (fractions, 4 decimals);
- **canvas**: Canvas' gradebook import (``Student,ID,SIS User ID,SIS Login ID,Section``, then
  one column per assignment, and a ``Points Possible`` row second); the school's id is the
  SIS User ID and the class the section, Canvas' own ids being unknown here;
- **moodle**: Moodle's grade import (``ID number`` to map to the users' ID number, the name
  and class for people, then one column per grade item).

A gradebook cell is the points the student earned on the assignment; it is empty when they
have no graded answer on it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Final

from pipeline.operator.export.gradebook import Gradebook, StudentGrades
from pipeline.operator.export.slots import replaced_atomically
from pipeline.operator.report.charts import RESULT_NAMES
from pipeline.operator.report.data import QuestionView

WIDE_STUDENT: Final = ("Class", "Student", "Student ID")
WIDE_TOTALS: Final = (
    "Questions correct",
    "Questions graded",
    "Correct rate (questions)",
    "Slots correct",
    "Slots graded",
    "Correct rate (slots)",
)
CANVAS_STUDENT: Final = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_POSSIBLE: Final = "Points Possible"
MOODLE_STUDENT: Final = ("ID number", "Full name", "Class")

Sheet = Iterator[list[str]]


def wide_rows(book: Gradebook) -> Sheet:
    """The header, then a row per student: a cell per question, then their totals."""
    yield [*WIDE_STUDENT, *(question.label for question in book.questions), *WIDE_TOTALS]
    for grades in book.students:
        student = grades.student
        cells = [_grade(grades.marks.get(question.position, [])) for question in book.questions]
        yield [student.class_name, student.name, student.code, *cells, *_totals(grades)]


def canvas_rows(book: Gradebook) -> Sheet:
    """Canvas' import: the header, the points possible, then a row per student."""
    yield [*CANVAS_STUDENT, *(work.name for work in book.works)]
    yield [CANVAS_POINTS_POSSIBLE, "", "", "", "", *(str(work.possible) for work in book.works)]
    for grades in book.students:
        student = grades.student
        ids = [student.name, "", student.code, "", student.class_name]
        yield [*ids, *_points(book, grades)]


def moodle_rows(book: Gradebook) -> Sheet:
    """Moodle's import: the header, then a row per student."""
    yield [*MOODLE_STUDENT, *(work.name for work in book.works)]
    for grades in book.students:
        student = grades.student
        yield [student.code, student.name, student.class_name, *_points(book, grades)]


SHEETS: Final[dict[str, tuple[Callable[[Gradebook], Sheet], str]]] = {
    # The wide sheet is for spreadsheets: a BOM makes Excel read it as UTF-8. The gradebooks
    # are for importers, which expect plain UTF-8.
    "wide": (wide_rows, "utf-8-sig"),
    "canvas": (canvas_rows, "utf-8"),
    "moodle": (moodle_rows, "utf-8"),
}


def write_sheet(path: Path, rows: Iterable[list[str]], encoding: str = "utf-8") -> int:
    """Write ``rows`` as CSV to ``path``, whole or not at all; the number of rows written."""
    count = 0
    with (
        replaced_atomically(path) as partial,
        partial.open("w", encoding=encoding, newline="") as out,
    ):
        writer = csv.writer(out)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _grade(marks: list[QuestionView]) -> str:
    """A question's grade in words; both, when two of the student's sheets hold it."""
    return " / ".join(RESULT_NAMES.get(mark.result, RESULT_NAMES[0]) for mark in marks)


def _totals(grades: StudentGrades) -> list[str]:
    questions, slots = grades.questions, grades.slots
    return [
        str(questions.correct),
        str(questions.graded),
        _rate(questions.rate),
        str(slots.correct),
        str(slots.graded),
        _rate(slots.rate),
    ]


def _points(book: Gradebook, grades: StudentGrades) -> list[str]:
    found = [grades.points.get(work.key) for work in book.works]
    return ["" if points is None else _number(points.earned) for points in found]


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def _number(value: float) -> str:
    """Points as a gradebook reads them: ``7``, ``7.5``."""
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}".rstrip("0")
