"""Grades and correct rates: the one definition the report, the analysts' views and the app use.

**Grade codes** (``correct_results``): the provider grades each question and each of its
answer slots 1 correct, 2 wrong or 3 unanswered, and 0 (or NULL) when it did not grade it; a
teacher may grade ``correct``, ``wrong`` or ``partial`` (code 4, a teacher's only). A code
the provider adds later counts as not graded until it is described.

**Effective grade**: a slot's is its own override in force, else its question's
whole-question override, else the provider's; a question's is its whole-question override,
else the provider's (a slot's override does not change its question's grade).

**Rates**: the share of graded ones that are correct, a partial counting half::

    (correct + partial / 2) / (correct + partial + wrong + unanswered)

Unanswered counts as not correct; not graded is left out; with nothing graded there is no
rate (None, NULL in SQL). It is given to 4 decimals, rounded half up, as the views'
``round(numeric, 4)``. The **slot rate** counts answer slots, the **question rate** counts
questions by their own grades; a :class:`Tally` says which it counts. The SQL of migration
0012 computes the same numbers (docs/schema.md, *Grades and rates*).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum, StrEnum
from fractions import Fraction
from typing import Final

from pipeline.adapters.db.review_tables import TEACHER_GRADES
from pipeline.errors import BadGrade

PLACES: Final = 4
"""Decimals a rate is given to (the views' ``round(…, 4)``)."""


class Grade(IntEnum):
    """A grade code, as ``correct_results`` and the views' ``correct_result`` hold it."""

    NOT_GRADED = 0
    CORRECT = 1
    WRONG = 2
    UNANSWERED = 3
    PARTIAL = 4  # a teacher's grade only

    @property
    def word(self) -> str:
        """The grade in words, as ``correct_results.meaning`` says it."""
        return self.name.lower().replace("_", " ")


GRADED: Final = frozenset({Grade.CORRECT, Grade.WRONG, Grade.UNANSWERED, Grade.PARTIAL})
"""The grades a rate counts; the rest are not graded."""

TEACHER: Final = {name: Grade[name.upper()] for name in TEACHER_GRADES}
"""The grades a teacher gives (``grade_overrides.grade``, its CHECK's words), as codes."""


def grade_of(code: int | None) -> Grade:
    """A stored code as a grade: NULL, 0 and codes not described are not graded."""
    if code is None:
        return Grade.NOT_GRADED
    try:
        return Grade(code)
    except ValueError:
        return Grade.NOT_GRADED


def teacher_grade(name: str) -> Grade:
    """A teacher's grade (``correct``, ``wrong``, ``partial``) as its code."""
    try:
        return TEACHER[name]
    except KeyError:
        raise BadGrade(f"grade {name!r}: one of {', '.join(TEACHER)}") from None


def question_grade(provider: int | None, override: str | None = None) -> Grade:
    """A question's effective grade: its whole-question override, else the provider's."""
    return teacher_grade(override) if override is not None else grade_of(provider)


def slot_grade(
    provider: int | None, override: str | None = None, question_override: str | None = None
) -> Grade:
    """A slot's effective grade: its own override, else its question's, else the provider's."""
    if override is not None:
        return teacher_grade(override)
    return question_grade(provider, question_override)


class Counted(StrEnum):
    """What a rate counts: answer slots, or questions by their own grades."""

    SLOTS = "slots"
    QUESTIONS = "questions"


_LABELS: Final = {
    Counted.SLOTS: "correct rate per slot",
    Counted.QUESTIONS: "correct rate per question",
}

RULE: Final = "a partial counts half; unanswered counts as wrong; not graded is left out"
"""How a rate is made, in a few words for a reader (the report's legend)."""


@dataclass
class Tally:
    """Slots or questions (:attr:`counted`) by effective grade, and the rate they make."""

    counted: Counted
    correct: int = 0
    partial: int = 0
    wrong: int = 0
    unanswered: int = 0
    not_graded: int = 0
    overridden: int = 0  # of those counted, how many a teacher's override grades

    def add(self, grade: Grade, *, overridden: bool = False) -> None:
        """Count one slot's or question's effective grade."""
        field = grade.name.lower() if grade in GRADED else "not_graded"
        setattr(self, field, getattr(self, field) + 1)
        self.overridden += overridden

    def merge(self, other: Tally) -> None:
        """Count ``other``'s too (both must count the same thing)."""
        if other.counted != self.counted:
            raise ValueError(f"cannot add {other.counted} to {self.counted}")
        for field in ("correct", "partial", "wrong", "unanswered", "not_graded", "overridden"):
            setattr(self, field, getattr(self, field) + getattr(other, field))

    @property
    def graded(self) -> int:
        """Those with a grade: the denominator of the rate."""
        return self.correct + self.partial + self.wrong + self.unanswered

    @property
    def total(self) -> int:
        """Every one counted, graded or not."""
        return self.graded + self.not_graded

    @property
    def earned(self) -> Fraction:
        """Points earned: one for each correct, half for each partial (the rate's numerator).

        Of :attr:`graded` points possible: a gradebook's score (``scangrade export``).
        """
        return Fraction(2 * self.correct + self.partial, 2)

    @property
    def rate(self) -> Decimal | None:
        """(correct + partial / 2) / graded to 4 decimals, half up; None when none is graded."""
        if not self.graded:
            return None
        return rounded(self.earned / self.graded)

    @property
    def label(self) -> str:
        """Which rate this is: ``correct rate per slot`` or ``correct rate per question``."""
        return _LABELS[self.counted]


def rounded(value: Fraction) -> Decimal:
    """``value`` to :data:`PLACES` decimals, halves away from zero (Postgres' ``round``)."""
    scale = 10**PLACES
    scaled = abs(value) * scale
    whole = int(scaled + Fraction(1, 2))
    sign = -1 if value < 0 else 1
    return Decimal(sign * whole).scaleb(-PLACES)
