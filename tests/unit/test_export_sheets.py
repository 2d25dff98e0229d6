"""The school's sheets of a batch: the wide sheet and the Canvas and Moodle gradebooks.

Built from report data made by hand (``support.gradebooks``): no database. The headers are
the importers' own: Canvas reads ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID`` and
``Section`` before the assignments and takes a row starting ``Points Possible`` as the
assignments' points; Moodle maps a column to the users' ``ID number``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from support.gradebooks import gradebook, page

from pipeline.operator.export.gradebook import Enrolled, Gradebook
from pipeline.operator.export.sheets import (
    canvas_rows,
    moodle_rows,
    wide_rows,
    write_sheet,
)

LI = Enrolled(1, "3A", "s-001", "Li Lei")
HAN = Enrolled(2, "3A", "s-002", "Han Meimei")
ZHAO = Enrolled(3, "3B", "s-003", "赵敏")  # handed nothing in this batch
ROSTER = [HAN, LI, ZHAO]

C, W, U, N, P = 1, 2, 3, 0, 4  # correct, wrong, unanswered, not graded, partial


def _book() -> Gradebook:
    return gradebook(
        [
            # Li: homework page 1 (3 questions, the second graded partial by a teacher), quiz
            # page 1; Han: homework page 1 only.
            page(10, LI, "homework.pdf", [(C, [C, C]), (P, [P]), (U, [U])], changed=[1]),
            page(11, LI, "quiz.pdf", [(C, [C])]),
            page(20, HAN, "homework.pdf", [(C, [C, C]), (C, [C, C]), (N, [N])]),
            page(30, None, "answer-key.jpg", [(C, [C])]),  # nobody's
        ],
        ROSTER,
    )


def test_canvas_header_points_possible_and_a_row_per_student() -> None:
    rows = list(canvas_rows(_book()))
    assert rows[0] == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "homework.pdf",
        "quiz.pdf",
    ]
    # homework: 5 graded slot positions (Han's Q2 has two slots, Li's one; Han's not graded
    # Q3 slot is Li's unanswered one); quiz: 1. A partial slot earns half a point.
    assert rows[1] == ["Points Possible", "", "", "", "", "5", "1"]
    assert rows[2:] == [
        ["Han Meimei", "", "s-002", "", "3A", "4", ""],
        ["Li Lei", "", "s-001", "", "3A", "2.5", "1"],
        ["赵敏", "", "s-003", "", "3B", "", ""],
    ]


def test_moodle_header_maps_the_id_number_and_a_column_per_grade_item() -> None:
    rows = list(moodle_rows(_book()))
    assert rows == [
        ["ID number", "Full name", "Class", "homework.pdf", "quiz.pdf"],
        ["s-002", "Han Meimei", "3A", "4", ""],
        ["s-001", "Li Lei", "3A", "2.5", "1"],
        ["s-003", "赵敏", "3B", "", ""],
    ]


def test_wide_sheet_has_a_column_per_question_and_the_rates() -> None:
    rows = list(wide_rows(_book()))
    assert rows[0] == [
        "Class",
        "Student",
        "Student ID",
        "homework.pdf p1 Q1",
        "homework.pdf p1 Q2",
        "homework.pdf p1 Q3",
        "quiz.pdf p1 Q1",
        "Questions correct",
        "Questions partial",
        "Questions graded",
        "Correct rate per question",
        "Slots correct",
        "Slots partial",
        "Slots graded",
        "Correct rate per slot",
    ]
    han, li, zhao = rows[1:]
    assert han[:7] == ["3A", "Han Meimei", "s-002", "correct", "correct", "not graded", ""]
    assert han[7:] == ["2", "0", "2", "1.0000", "4", "0", "4", "1.0000"]
    # a teacher's grade is marked; partial counts half: (2 + 0.5) / 4 and (3 + 0.5) / 5
    assert li[:7] == ["3A", "Li Lei", "s-001", "correct", "partial*", "unanswered", "correct"]
    assert li[7:] == ["2", "1", "4", "0.6250", "3", "1", "5", "0.7000"]
    assert zhao == ["3B", "赵敏", "s-003", "", "", "", "", "0", "0", "0", "", "0", "0", "0", ""]


def test_one_assignment_is_not_named_in_the_question_columns() -> None:
    book = gradebook([page(10, LI, "homework.pdf", [(C, [C]), (W, [W])])], [LI])
    assert next(wide_rows(book))[3:5] == ["p1 Q1", "p1 Q2"]


def test_an_image_set_is_named_after_the_batch_in_the_gradebooks() -> None:
    book = gradebook([page(10, LI, "", [(C, [C, W])])], [LI], name="2026-11-21")
    rows = list(canvas_rows(book))
    assert rows[0][5:] == ["2026-11-21"]
    assert rows[1][5:] == ["2"]
    assert rows[2][5:] == ["1"]


def test_files_are_utf8_the_wide_one_with_a_bom_for_excel(tmp_path: Path) -> None:
    book = _book()
    canvas, wide = tmp_path / "canvas.csv", tmp_path / "wide.csv"
    assert write_sheet(canvas, canvas_rows(book)) == 5
    write_sheet(wide, wide_rows(book), "utf-8-sig")
    assert canvas.read_bytes().startswith(b"Student,ID,SIS User ID,SIS Login ID,Section,")
    assert wide.read_bytes().startswith(b"\xef\xbb\xbfClass,Student,")
    with canvas.open(encoding="utf-8", newline="") as f:
        assert list(csv.reader(f))[-1] == ["赵敏", "", "s-003", "", "3B", "", ""]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canvas.csv", "wide.csv"]
