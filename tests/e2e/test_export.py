"""``scangrade export`` in every format over a batch graded by the real pipeline.

Real workers, the simulator, Postgres and moto's S3. The night has two classes of its own
(named for this module, so no other module's students join their rosters), assignments
named by a manifest, a two-page PDF, a student whose folder is empty (on the roster, with no
submission) and a loose file nobody owns; a teacher then grades one question partial and
one slot correct. Every number the files hold is checked against the analysts' views
(``v_student_totals``, ``v_question_results``, ``v_slot_results``), which give the effective
grades too, and against the teachers' report.
"""

from __future__ import annotations

import contextlib
import csv
import zipfile
from collections import defaultdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from support.analysts import select
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image, make_scanned_pdf
from devkit.standins import Service
from pipeline.adapters.db.accounts import add_user
from pipeline.adapters.db.overrides import record_override
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.domain.students import read_students
from pipeline.operator.cli import main
from pipeline.operator.report.charts import percent
from pipeline.operator.report.data import ReportData, load_report
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory

BATCH = "export-night"
A, B = "Export-7A", "Export-7B"
TEACHER = "ms-export"
MANIFEST = f"""file,student_id,name,class,assignment
li/homework.jpg,S701,Li Lei,{A},Homework 3
li/quiz.pdf,S701,Li Lei,{A},Quiz 1
wang/homework.pdf,S702,Wang Fang,{A},Homework 3
zhao/homework.pdf,S703,Zhao Min,{B},Homework 3
"""
ROSTER = {  # school id: (class, name)
    "S701": (A, "Li Lei"),
    "S702": (A, "Wang Fang"),
    "S703": (B, "Zhao Min"),
    "absent-kid": (B, "absent-kid"),  # an empty folder: on the roster, nothing handed in
}
PAGES = {"S701": 2, "S702": 2, "S703": 1, "absent-kid": 0}
WORKS = ["Homework 3", "Quiz 1"]
GRADED = (1, 2, 3, 4)  # correct, wrong, unanswered, partial


@pytest.fixture(scope="module")
def graded_batch(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> int:
    root = tmp_path_factory.mktemp("scans") / BATCH
    files = {
        "li/homework.jpg": jpeg_bytes(make_page_image(1801)),
        "li/quiz.pdf": make_scanned_pdf([1802]),  # a folder of images alone is one document
        "wang/homework.pdf": make_scanned_pdf([1803, 1804]),
        "zhao/homework.pdf": make_scanned_pdf([1805]),
        "loose.jpg": jpeg_bytes(make_page_image(1806)),
        "manifest.csv": MANIFEST.encode(),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / B / "absent-kid").mkdir(parents=True)
    students = read_students(root)  # manifest.csv, as `scangrade enqueue` reads it
    enqueued = enqueue_directory(root, get_store(), batch_name=BATCH, settle_s=0, students=students)
    wait_until_done(enqueued.batch_id)
    _teacher_grades(enqueued.batch_id)
    return enqueued.batch_id


def _teacher_grades(batch_id: int) -> None:
    """Li's first homework question graded partial as a whole; a wrong slot of Wang's correct."""
    first = "SELECT page_id, image_index, question_sequence{} FROM v_{} WHERE batch_id = :b AND {}"
    (li,) = select(
        first.format("", "question_results", "student_code = 'S701' AND assignment = 'Homework 3'")
        + " ORDER BY question_sequence LIMIT 1",
        b=batch_id,
    )
    wrong = select(
        first.format(", slot_sequence", "slot_results", "student_code = 'S702'")
        + " ORDER BY correct_result = 2 DESC, page_no, question_sequence LIMIT 1",
        b=batch_id,
    )[0]
    with session_scope() as session:
        user = add_user(session, TEACHER, "chalk", "teacher", [A]).id
        for key, slot, grade in ((li, None, "partial"), (wrong, wrong["slot_sequence"], "correct")):
            record_override(
                session,
                page_id=key["page_id"],
                image_index=key["image_index"],
                question_seq=key["question_sequence"],
                slot_seq=slot,
                grade=grade,
                comment=None,
                user_id=user,
            )


@pytest.fixture(scope="module")
def report(graded_batch: int) -> ReportData:
    with session_scope() as session:
        return load_report(session, graded_batch)


@pytest.fixture(scope="module")
def totals(graded_batch: int) -> dict[str, dict[str, Any]]:
    """``v_student_totals`` of the batch, by the school's id of the student."""
    rows = select(
        "SELECT t.*, s.code FROM v_student_totals t JOIN students s ON s.id = t.student_id "
        "WHERE t.batch_id = :b",
        b=graded_batch,
    )
    return {row["code"]: row for row in rows}


@pytest.fixture(scope="module")
def slots(graded_batch: int) -> list[dict[str, Any]]:
    """``v_slot_results`` of the batch's matched students: effective grades."""
    found = select(
        "SELECT * FROM v_slot_results WHERE batch_id = :b AND student_id IS NOT NULL",
        b=graded_batch,
    )
    assert {slot["correct_result"] for slot in found if slot["overridden"]} >= {1, 4}
    return found


@pytest.fixture(scope="module")
def questions(graded_batch: int) -> list[dict[str, Any]]:
    """``v_question_results`` of the batch's matched students: effective grades."""
    return select(
        "SELECT * FROM v_question_results WHERE batch_id = :b AND student_id IS NOT NULL",
        b=graded_batch,
    )


def _export(fmt: str, out: Path) -> str:
    result = CliRunner().invoke(main, ["export", BATCH, "--format", fmt, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result.output


def _csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.reader(f))


def _earned(slots: list[dict[str, Any]]) -> dict[tuple[str, str], Fraction]:
    """Points per (school id, assignment): a correct slot is one, a partial one half."""
    earned: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for slot in slots:
        if slot["correct_result"] in GRADED:
            points = {1: Fraction(1), 4: Fraction(1, 2)}.get(slot["correct_result"], Fraction(0))
            earned[(slot["student_code"], slot["assignment"])] += points
    return dict(earned)


def _points(value: Fraction | None) -> str:
    return "" if value is None else f"{float(value):g}"


def _possible(slots: list[dict[str, Any]]) -> dict[str, int]:
    """Graded slot positions per assignment, over every student's sheets."""
    found: dict[str, set[tuple[int, int, int, int]]] = defaultdict(set)
    for s in slots:
        if s["correct_result"] in GRADED:
            position = (s["page_no"], s["image_index"], s["question_sequence"], s["slot_sequence"])
            found[s["assignment"]].add(position)
    return {work: len(positions) for work, positions in found.items()}


def _graded(view: dict[str, Any]) -> int:
    return int(view["correct"] + view["partial"] + view["wrong"] + view["unanswered"])


def test_canvas_gradebook_holds_every_student_and_their_points(
    graded_batch: int,
    slots: list[dict[str, Any]],
    totals: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    output = _export("canvas", tmp_path / "canvas.csv")
    assert "4 students (1 without work in this batch), 2 assignments" in output
    assert "1 pages no student was matched to are left out" in output
    header, points_possible, *rows = _csv(tmp_path / "canvas.csv")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *WORKS]
    possible = _possible(slots)
    assert points_possible == [
        "Points Possible",
        "",
        "",
        "",
        "",
        *(str(possible[w]) for w in WORKS),
    ]
    by_code = {row[2]: row for row in rows}
    assert by_code.keys() == ROSTER.keys()
    earned = _earned(slots)
    for code, (klass, name) in ROSTER.items():
        row = by_code[code]
        assert (row[0], row[1], row[3], row[4]) == (name, "", "", klass)
        assert row[5:] == [_points(earned.get((code, work))) for work in WORKS], code
    assert by_code["absent-kid"][5:] == ["", ""]
    for code, view in totals.items():
        points = sum(Fraction(cell or 0) for cell in by_code[code][5:])
        assert points == view["correct"] + Fraction(view["partial"], 2), code


def test_moodle_gradebook_agrees_with_canvas(slots: list[dict[str, Any]], tmp_path: Path) -> None:
    _export("canvas", tmp_path / "canvas.csv")
    _export("moodle", tmp_path / "moodle.csv")
    header, *rows = _csv(tmp_path / "moodle.csv")
    assert header == ["ID number", "Full name", "Class", *WORKS]
    canvas = {row[2]: row[5:] for row in _csv(tmp_path / "canvas.csv")[2:]}
    assert {row[0]: row[3:] for row in rows} == canvas
    assert {row[0]: (row[2], row[1]) for row in rows} == ROSTER


def test_wide_sheet_rates_are_the_views_and_the_reports(
    report: ReportData,
    slots: list[dict[str, Any]],
    questions: list[dict[str, Any]],
    totals: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    output = _export("wide", tmp_path / "wide.csv")
    header, *rows = _csv(tmp_path / "wide.csv", encoding="utf-8-sig")
    labels = header[3:-8]
    assert f"{len(labels)} questions" in output
    assert header[:3] == ["Class", "Student", "Student ID"]
    assert header[-4:] == [
        "Slots correct",
        "Slots partial",
        "Slots graded",
        "Correct rate per slot",
    ]
    assert len(set(labels)) == len(labels)
    assert {label.rsplit(" p", 1)[0] for label in labels} == set(WORKS)
    reported = {(r.row.class_name, r.row.label): r.row for r in report.students}
    by_code = {row[2]: row for row in rows}
    assert by_code.keys() == ROSTER.keys()
    for code, row in by_code.items():
        cells, counts = row[3:-8], row[-8:]
        if code == "absent-kid":
            assert set(cells) == {""} and counts == ["0", "0", "0", "", "0", "0", "0", ""]
            continue
        view, own = totals[code], reported[ROSTER[code]]
        assert counts[:4] == [
            str(view["questions_correct"]),
            str(view["questions_partial"]),
            str(view["questions_graded"]),
            f"{view['question_correct_rate']}",
        ]
        assert counts[4:] == [
            str(view["correct"]),
            str(view["partial"]),
            str(_graded(view)),
            f"{view['slot_correct_rate']}",
        ]
        assert (counts[3], counts[7]) == (f"{own.questions.rate}", f"{own.slots.rate}")
        mine = [q for q in questions if q["student_code"] == code]
        _check_cells(labels, cells, mine, [s for s in slots if s["student_code"] == code])
    assert "partial*" in by_code["S701"][3:-8]


def _check_cells(
    labels: list[str], cells: list[str], questions: list[dict[str, Any]], slots: list[Any]
) -> None:
    """Each cell is its question's effective grade in words, starred when a teacher set it
    or one of its slots' grades."""
    changed = {s["question_id"] for s in slots if s["overridden"]}
    grades = {
        f"{q['assignment']} p{q['page_no']} Q{q['question_sequence'] + 1}": q["result"]
        + ("*" if q["overridden"] or q["question_id"] in changed else "")
        for q in questions
    }
    assert grades, "the student has graded questions"
    assert {label: cell for label, cell in zip(labels, cells, strict=True) if cell} == grades


def test_handback_has_a_pdf_per_student_with_work_zipped_per_class(
    totals: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    out = tmp_path / "handback"
    output = _export("handback", out)
    assert f"wrote {out}: 3 student PDFs, class zips {A}.zip, {B}.zip; 1 students" in output
    with zipfile.ZipFile(out / f"{A}.zip") as archive:
        assert sorted(archive.namelist()) == ["Li Lei.pdf", "Wang Fang.pdf"]
    with zipfile.ZipFile(out / f"{B}.zip") as archive:
        assert archive.namelist() == ["Zhao Min.pdf"]  # absent-kid handed nothing in
        zhao = archive.read("Zhao Min.pdf")
    summaries = {}
    for code, (klass, name) in ROSTER.items():
        if not PAGES[code]:
            assert not (out / klass / f"{name}.pdf").exists()
            continue
        reader = PdfReader(out / klass / f"{name}.pdf")
        summaries[code] = summary = " ".join(reader.pages[0].extract_text().split())
        view = totals[code]
        partial = f", {view['partial']} partial" if view["partial"] else ""
        rate = f"{percent(view['slot_correct_rate'])} ({view['correct']} correct{partial} of "
        assert f"Correct rate per slot: {rate}{_graded(view)} graded slots" in summary
        assert name in summary and f"Class {klass}, student id {code}" in summary
        pictures = sum(len(page.images) for page in reader.pages)
        assert pictures == PAGES[code], code
    assert zhao == (out / B / "Zhao Min.pdf").read_bytes()
    assert f"partial (changed by {TEACHER})" in summaries["S701"]
    assert f"(changed by {TEACHER})" in summaries["S702"]  # a slot of one of its questions
    assert f"(changed by {TEACHER})" not in summaries["S703"]


def test_default_file_names_are_written_here(tmp_path: Path) -> None:
    with contextlib.chdir(tmp_path):
        for fmt in ("wide", "canvas", "moodle", "handback"):
            result = CliRunner().invoke(main, ["export", BATCH, "--format", fmt])
            assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"canvas-{BATCH}.csv",
        f"handback-{BATCH}",
        f"moodle-{BATCH}.csv",
        f"wide-{BATCH}.csv",
    ]


def test_a_directory_is_no_sheet_and_a_file_no_handback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", BATCH, "--format", "wide", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "wide writes a file" in result.output
    taken = tmp_path / "taken.csv"
    taken.write_text("x")
    result = CliRunner().invoke(main, ["export", BATCH, "--format", "handback", "-o", str(taken)])
    assert result.exit_code == 2 and "handback writes a directory" in result.output
    assert taken.read_text() == "x"
