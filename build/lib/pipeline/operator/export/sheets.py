"""The school's spreadsheets of a batch: the wide sheet and the Canvas and Moodle gradebooks.

Each is one row per student of the roster (``gradebook``), students without work in the batch
included with empty cells, so a gradebook import finds every student it knows. Grades are the
effective ones (a teacher's override in force, else the provider's):

- **wide**: class, student, the school's id, one column per question named as the report
  names it (``p1 Q2``, ``homework.pdf p1 Q2``) holding the question's grade in words
  (``correct``, ``partial``, ``wrong``, ``unanswered``, ``not graded``), with ``*`` when a
  teacher's override sets it or one of its slots', then the student's counts and their
  correct rate per question and per slot (``pipeline.domain.grades``; fractions, 4 decimals);
- **canvas**: Canvas' gradebook import (``Student,ID,SIS User ID,SIS Login ID,Section``, then
  one column per assignment, and a ``Points Possible`` row second); the school's id is the
  SIS User ID and the class the section, Canvas' own ids being unknown here;
- **moodle**: Moodle's grade import (``ID number`` to map to the users' ID number, the name
  and class for people, then one column per grade item).

A gradebook cell is the points the student earned on the assignment (a correct slot one, a
partial one half); it is empty when they have no graded answer on it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Final

from pipeline.domain.grades import Counted, Tally
from pipeline.operator.export.gradebook import Gradebook, StudentGrades, overridden
from pipeline.operator.export.slots import replaced_atomically
from pipeline.operator.report.graded import GradedQuestion

OVERRIDDEN: Final = "*"  # after a wide cell's grade: a teacher's override sets it
WIDE_STUDENT: Final = ("Class", "Student", "Student ID")
WIDE_TOTALS: Final = (
    "Questions correct",
    "Questions partial",
    "Questions graded",
    Tally(Counted.QUESTIONS).label.capitalize(),
    "Slots correct",
    "Slots partial",
    "Slots graded",
    Tally(Counted.SLOTS).label.capitalize(),
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


def _grade(marks: list[GradedQuestion]) -> str:
    """A question's grade in words; both, when two of the student's sheets hold it."""
    return " / ".join(mark.grade.word + (OVERRIDDEN if overridden(mark) else "") for mark in marks)


def _totals(grades: StudentGrades) -> list[str]:
    return [*_counts(grades.questions), *_counts(grades.slots)]


def _counts(tally: Tally) -> list[str]:
    return [str(tally.correct), str(tally.partial), str(tally.graded), _rate(tally.rate)]


def _points(book: Gradebook, grades: StudentGrades) -> list[str]:
    found = [grades.works.get(work.key) for work in book.works]
    return [_number(work.slots.earned) if work and work.slots.graded else "" for work in found]


def _rate(rate: Decimal | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def _number(value: Fraction) -> str:
    """Points as a gradebook reads them: ``7``, ``7.5``."""
    return str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
