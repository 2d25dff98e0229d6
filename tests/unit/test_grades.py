"""The one definition of grades and rates (``pipeline.domain.grades``), without a database.

The SQL of migration 0012 must give the same numbers: tests/integration/test_review.py
compares the two on a graded batch. Here: the codes, the effective grade of a slot and of a
question, the rates (partial counts half, not graded is left out, halves round up) and the
label saying what a rate counts.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from pipeline.adapters.db.review_tables import TEACHER_GRADES
from pipeline.domain.grades import (
    GRADED,
    TEACHER,
    Counted,
    Grade,
    Tally,
    grade_of,
    question_grade,
    rounded,
    slot_grade,
    teacher_grade,
)
from pipeline.errors import BadGrade


def test_the_codes_are_the_providers_and_the_teachers() -> None:
    assert [(g.value, g.word) for g in Grade] == [
        (0, "not graded"),
        (1, "correct"),
        (2, "wrong"),
        (3, "unanswered"),
        (4, "partial"),
    ]
    assert TEACHER == {"correct": 1, "wrong": 2, "partial": 4}
    assert tuple(TEACHER) == TEACHER_GRADES  # the words grade_overrides' CHECK allows
    assert Grade.NOT_GRADED not in GRADED and len(GRADED) == 4


@pytest.mark.parametrize(("code", "grade"), [(None, 0), (0, 0), (1, 1), (3, 3), (4, 4), (9, 0)])
def test_a_stored_code_unknown_or_null_is_not_graded(code: int | None, grade: int) -> None:
    assert grade_of(code) == grade


def test_a_slot_takes_its_own_override_then_its_questions_then_the_providers() -> None:
    assert slot_grade(2) == Grade.WRONG
    assert slot_grade(2, "correct") == Grade.CORRECT
    assert slot_grade(2, None, "partial") == Grade.PARTIAL
    assert slot_grade(1, "wrong", "partial") == Grade.WRONG  # the more precise one wins
    assert slot_grade(None, None, "correct") == Grade.CORRECT


def test_a_question_takes_its_whole_question_override_then_the_providers() -> None:
    assert question_grade(3) == Grade.UNANSWERED
    assert question_grade(3, "partial") == Grade.PARTIAL
    assert question_grade(0, "wrong") == Grade.WRONG


def test_a_teacher_gives_three_grades() -> None:
    assert teacher_grade("partial") == Grade.PARTIAL
    with pytest.raises(BadGrade):
        teacher_grade("unanswered")
    with pytest.raises(BadGrade):
        slot_grade(1, "right")


def _tally(counted: Counted, *grades: Grade, overridden: int = 0) -> Tally:
    tally = Tally(counted)
    for index, grade in enumerate(grades):
        tally.add(grade, overridden=index < overridden)
    return tally


def test_a_rate_counts_partial_half_and_leaves_not_graded_out() -> None:
    c, p, w, u, n = Grade.CORRECT, Grade.PARTIAL, Grade.WRONG, Grade.UNANSWERED, Grade.NOT_GRADED
    tally = _tally(Counted.SLOTS, c, c, p, w, u, n, n, overridden=2)
    assert (tally.correct, tally.partial, tally.wrong, tally.unanswered) == (2, 1, 1, 1)
    assert (tally.not_graded, tally.graded, tally.total, tally.overridden) == (2, 5, 7, 2)
    assert tally.rate == Decimal("0.5000")  # (2 + 0.5) / 5
    assert _tally(Counted.SLOTS, p).rate == Decimal("0.5")
    assert _tally(Counted.SLOTS, u, u).rate == 0
    assert _tally(Counted.SLOTS, n).rate is None
    assert Tally(Counted.QUESTIONS).rate is None


def test_a_rate_has_four_decimals_rounded_half_up_as_postgres_does() -> None:
    c, w = Grade.CORRECT, Grade.WRONG
    assert _tally(Counted.SLOTS, c, w, w).rate == Decimal("0.3333")
    assert _tally(Counted.SLOTS, c, c, w).rate == Decimal("0.6667")
    assert rounded(Fraction(12345, 100000)) == Decimal("0.1235")  # a half goes up
    assert rounded(Fraction(-12345, 100000)) == Decimal("-0.1235")  # away from zero
    assert str(rounded(Fraction(1))) == "1.0000"


def test_each_tally_says_which_rate_it_is() -> None:
    assert Tally(Counted.SLOTS).label == "correct rate per slot"
    assert Tally(Counted.QUESTIONS).label == "correct rate per question"


def test_tallies_of_one_kind_merge() -> None:
    total = _tally(Counted.SLOTS, Grade.CORRECT)
    total.merge(_tally(Counted.SLOTS, Grade.PARTIAL, Grade.WRONG, overridden=1))
    assert (total.correct, total.partial, total.wrong, total.overridden) == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="cannot add"):
        total.merge(Tally(Counted.QUESTIONS))
