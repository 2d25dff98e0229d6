"""docs/analysts.md and its views against a batch graded by the real pipeline.

One night's directory in the ``<class>/<student>/…`` layout goes through real workers, the
simulator, Postgres and S3: two classes, a student whose rate is below 60 % and one well
above, a file outside the layout, a page too small to grade, a file that is not a scan, and
a scan sent twice (skipped). Every ```sql block of the doc then runs as
``scangrade_analyst``, and the views' numbers are checked against counts taken from the base
tables, with class, student and assignment derived by the teachers' report's own functions.
``scangrade export`` is run on the same batch.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from pipeline.adapters.db.session import get_engine
from pipeline.domain.students import Students
from pipeline.operator.cli import main
from pipeline.operator.report.graded import assignment

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"


DOC_TEXT = DOC.read_text(encoding="utf-8")


ANALYST = "scangrade_analyst"


CLASS, STUDENT = "3A", "li-lei"  # the class and student the doc's queries are run for


RATE_PLACES = 5e-5  # the views round rates to 4 decimals


@dataclass(frozen=True)
class Query:
    heading: str
    sql: str


def sql_blocks(doc: str) -> list[Query]:
    """Every ```sql block, with the nearest heading above it."""
    queries, heading = [], ""
    lines = doc.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("#"):
            heading = lines[index].lstrip("# ").strip()
        elif lines[index].strip() == "```sql":
            end = lines.index("```", index + 1)
            queries.append(Query(heading, "\n".join(lines[index + 1 : end])))
            index = end
        index += 1
    return queries


QUERIES = sql_blocks(DOC_TEXT)


def select(sql: str, **params: Any) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(sql), params)]


@dataclass(frozen=True)
class Night:
    batch_id: int
    name: str
    slots: list[dict[str, Any]]  # every slot of the batch, from the base tables

    def owner(self, slot: dict[str, Any]) -> tuple[str | None, str | None]:
        found = Students().owner(slot["rel_path"], slot["kind"])
        return (None, None) if found.student is None else (found.class_name, found.student.name)

    def position(self, slot: dict[str, Any]) -> tuple[Any, ...]:
        work = assignment(slot["rel_path"], image_set=slot["kind"] == "image_set")
        return (work or None, slot["page_no"], slot["image_index"], slot["sequence"])


def _rate(results: Sequence[int | None]) -> float | None:
    graded = [r for r in results if r in (1, 2, 3)]
    return sum(r == 1 for r in graded) / len(graded) if graded else None


def _expected_failures(night: Night) -> Counter[tuple[str, str | None]]:
    rows = select(
        """
        SELECT 'document' AS level, error_code FROM documents
        WHERE batch_id = :b AND state IN ('failed', 'skipped')
        UNION ALL
        SELECT 'page', error_code FROM pages WHERE batch_id = :b AND state = 'failed'
        """,
        b=night.batch_id,
    )
    return Counter((row["level"], row["error_code"]) for row in rows)


def _student_rates(night: Night) -> dict[tuple[str | None, str | None], float | None]:
    results: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for slot in night.slots:
        results[night.owner(slot)].append(slot["correct_result"])
    return {owner: _rate(values) for owner, values in results.items()}


def _check_latest(night: Night, rows: list[dict[str, Any]]) -> None:
    (latest,) = select(
        "SELECT b.name, count(p.id) AS pages FROM batches b LEFT JOIN pages p ON p.batch_id = b.id "
        "GROUP BY b.id ORDER BY b.created_at DESC LIMIT 1"
    )
    assert [(row["batch"], row["pages"]) for row in rows] == [(latest["name"], latest["pages"])]


def _check_week(night: Night, rows: list[dict[str, Any]]) -> None:
    assert night.name in {row["batch"] for row in rows}


def _check_hardest(night: Night, rows: list[dict[str, Any]]) -> None:
    by_position: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for slot in night.slots:
        by_position[night.position(slot)].append(slot)
    rates = sorted(
        rate
        for slots in by_position.values()
        if len({slot["question_id"] for slot in slots}) >= 3
        and (rate := _rate([slot["correct_result"] for slot in slots])) is not None
    )
    assert [float(row["slot_correct_rate"]) for row in rows] == pytest.approx(
        rates[:10], abs=RATE_PLACES
    )


def _check_below_60(night: Night, rows: list[dict[str, Any]]) -> None:
    expected = {
        owner
        for owner, rate in _student_rates(night).items()
        if owner[1] is not None and rate is not None and rate < 0.6
    }
    assert {(row["class_name"], row["student"]) for row in rows} == expected
    assert (CLASS, STUDENT) in expected


def _check_per_class(night: Night, rows: list[dict[str, Any]]) -> None:
    slots: Counter[str | None] = Counter()
    correct: Counter[str | None] = Counter()
    for slot in night.slots:
        klass = night.owner(slot)[0]
        slots[klass] += 1
        correct[klass] += slot["correct_result"] == 1
    got = {row["class_name"]: (row["students"], row["slots"], row["correct"]) for row in rows}
    assert got == {
        "3A": (2, slots["3A"], correct["3A"]),
        "3B": (2, slots["3B"], correct["3B"]),
    }


def _check_one_class(night: Night, rows: list[dict[str, Any]]) -> None:
    in_class = [slot for slot in night.slots if night.owner(slot)[0] == CLASS]
    assert sum(row["slots"] for row in rows) == len(in_class)
    assert sum(row["correct"] for row in rows) == sum(s["correct_result"] == 1 for s in in_class)


def _check_one_student(night: Night, rows: list[dict[str, Any]]) -> None:
    mistakes = [
        slot
        for slot in night.slots
        if night.owner(slot) == (CLASS, STUDENT) and slot["correct_result"] in (2, 3)
    ]
    assert len(rows) == len(mistakes)
    assert {row["result"] for row in rows} <= {"wrong", "unanswered"}


def _check_wrong_answers(night: Night, rows: list[dict[str, Any]]) -> None:
    """Each row counts the students who wrote that wrong answer there; the top ones come."""
    given: Counter[tuple[Any, ...]] = Counter()
    for slot in night.slots:
        read = re.search(r"\[NORM:([^\]]*)\]", slot["reason"] or "")
        if slot["correct_result"] == 2 and read and read.group(1).strip():
            position = night.position(slot)
            key = (position[0], position[1], position[3], slot["slot_sequence"])
            given[(*key, read.group(1).strip())] += 1
    got = {
        (r["assignment"], r["page_no"], r["question_sequence"], r["slot_sequence"], r["answer"]): r[
            "students"
        ]
        for r in rows
    }
    assert len(got) == min(20, len(given))
    assert all(given[key] == count for key, count in got.items())
    assert max(got.values()) == max(given.values())


def _check_by_reason(night: Night, rows: list[dict[str, Any]]) -> None:
    got = Counter({(row["level"], row["error_code"]): row["how_many"] for row in rows})
    assert got == _expected_failures(night)


def _check_one_line_each(night: Night, rows: list[dict[str, Any]]) -> None:
    assert len(rows) == sum(_expected_failures(night).values()) == 3
    assert [row["rel_path"] for row in rows] == sorted(row["rel_path"] for row in rows)


CHECKS: dict[str, Callable[[Night, list[dict[str, Any]]], None]] = {
    "Progress of tonight's batch": _check_latest,
    "Batches of the last seven days": _check_week,
    "Hardest questions of a batch": _check_hardest,
    "Students below 60 %": _check_below_60,
    "Correct rate per class": _check_per_class,
    "One class's correct rate per question": _check_one_class,
    "One student's wrong and unanswered answers": _check_one_student,
    "The wrong answers given most often": _check_wrong_answers,
    "Failures by reason": _check_by_reason,
    "Failed and skipped files and pages of a batch, one line each": _check_one_line_each,
}


def run_export(*args: str) -> Any:
    return CliRunner().invoke(main, ["export", *args])
