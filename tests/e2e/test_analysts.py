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

import csv
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from support.analysts import (
    ANALYST,
    CHECKS,
    CLASS,
    QUERIES,
    RATE_PLACES,
    STUDENT,
    Night,
    Query,
    _rate,
    run_export,
    select,
)
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.session import get_engine
from pipeline.adapters.objectstore import get_store
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory
from simulator.grading import grade

TITLE = "Analysts' night"


def bind(sql: str, values: dict[str, Any]) -> str:
    """What psql does with ``\\set``: ``:name`` becomes the value, ``:'name'`` a literal."""

    def quoted(match: re.Match[str]) -> str:
        return "'" + str(values[match.group(1)]).replace("'", "''") + "'"

    sql = re.sub(r"(?<![:\w]):'(\w+)'", quoted, sql)
    return re.sub(r"(?<![:\w]):(\w+)\b", lambda m: str(values[m.group(1)]), sql)


def run_as_analyst(sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` run as scangrade_analyst in a read-only transaction, rolled back."""
    raw = get_engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(f"SET LOCAL ROLE {ANALYST}")
        cursor.execute(sql)  # no parameters: '::' and quotes as psql sends them
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        raw.rollback()
        raw.close()


def _page(seed: int) -> bytes:
    return jpeg_bytes(make_page_image(seed, text=TITLE))


def _slot_rate(data: bytes) -> float:
    verdicts = [slot.correct_result for q in grade(data).questions for slot in q.slots]
    return sum(v == 1 for v in verdicts) / len(verdicts)


def _pick(seeds: Iterator[int], wanted: Callable[[float], bool]) -> bytes:
    """The first page the simulator will grade with a slot rate that ``wanted`` accepts."""
    for seed in seeds:
        data = _page(seed)
        if wanted(_slot_rate(data)):
            return data
    raise AssertionError("no seed gives such a page")


SLOTS_OF_BATCH = """
    SELECT s.id AS slot_id, s.sequence AS slot_sequence, s.correct_result, s.reason,
           q.id AS question_id, q.image_index, q.sequence,
           q.correct_result AS question_correct_result, p.id AS page_id, p.page_no,
           d.rel_path, d.kind
    FROM slots s
    JOIN questions q ON q.id = s.question_id
    JOIN pages p ON p.id = q.page_id
    JOIN documents d ON d.id = p.document_id
    WHERE p.batch_id = :batch_id
"""


@pytest.fixture(scope="module")
def night(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> Night:
    root = tmp_path_factory.mktemp("analysts") / "night"
    seeds = iter(range(9100, 9500))
    low = _pick(seeds, lambda rate: rate < 0.45)
    files = {
        "3A/li-lei/page.jpg": low,
        "3A/han-meimei/page1.jpg": _pick(seeds, lambda rate: rate >= 0.75),
        "3A/han-meimei/page2.jpg": _pick(seeds, lambda rate: rate >= 0.75),
        "3A/answer-key.jpg": _page(next(seeds)),  # outside the layout: no class, no student
        "3B/wang-fang/page1.jpg": _page(next(seeds)),
        "3B/wang-fang/page2.jpg": jpeg_bytes(make_page_image(next(seeds), 40, 40)),  # too small
        "3B/liu-yang/homework.jpg": _page(next(seeds)),
        "3B/liu-yang/notes.txt": b"not a scan",
        "3B/zhao-lei/page.jpg": low,  # the same scan as li-lei's: skipped
    }
    for rel_path, data in files.items():
        (root / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (root / rel_path).write_bytes(data)
    name = f"analysts-{uuid.uuid4().hex[:8]}"
    report = enqueue_directory(root, get_store(), batch_name=name)
    wait_until_done(report.batch_id)
    return Night(report.batch_id, name, select(SLOTS_OF_BATCH, batch_id=report.batch_id))


def _number(value: Any) -> float | None:
    """A rate read from Postgres (numeric: a Decimal) as a float."""
    return None if value is None else float(value)


def test_slot_results_are_the_batch_slots_with_owner_and_position(night: Night) -> None:
    rows = select("SELECT * FROM v_slot_results WHERE batch_id = :b", b=night.batch_id)
    by_slot = {row["slot_id"]: row for row in rows}
    assert len(rows) == len(by_slot) == len(night.slots) > 0
    for slot in night.slots:
        row = by_slot[slot["slot_id"]]
        assert (row["class_name"], row["student"]) == night.owner(slot)
        assert (row["assignment"], row["page_no"], row["image_index"]) == night.position(slot)[:3]
        assert row["correct_result"] == slot["correct_result"]
        assert row["result"] == {1: "correct", 2: "wrong", 3: "unanswered"}[row["correct_result"]]
        # The simulator always reads an answer, except where there is none.
        assert (row["answer"] is None) == (row["correct_result"] == 3), row["reason"]
    owners = {(row["rel_path"], row["class_name"], row["student"]) for row in rows}
    assert ("3A/li-lei", "3A", "li-lei") in owners
    assert ("3A/answer-key.jpg", None, None) in owners
    assert {row["assignment"] for row in rows} == {None, "homework.jpg"}
    assert all(row["batch"] == night.name for row in rows)


def test_question_stats_add_up_to_the_slots(night: Night) -> None:
    rows = select("SELECT * FROM v_question_stats WHERE batch_id = :b", b=night.batch_id)
    expected: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for slot in night.slots:
        expected[night.position(slot)].append(slot)
    got = {
        (row["assignment"], row["page_no"], row["image_index"], row["question_sequence"]): row
        for row in rows
    }
    assert got.keys() == expected.keys()
    for position, slots in expected.items():
        row = got[position]
        results = [slot["correct_result"] for slot in slots]
        assert row["slots"] == len(slots)
        assert row["questions"] == len({slot["question_id"] for slot in slots})
        assert (row["correct"], row["wrong"], row["unanswered"]) == tuple(
            results.count(code) for code in (1, 2, 3)
        )
        assert row["answered"] == row["correct"] + row["wrong"]
        assert row["not_graded"] == 0
        assert _number(row["correct_rate"]) == pytest.approx(_rate(results), abs=RATE_PLACES)
    assert max(row["questions"] for row in rows) >= 3  # the doc's "hardest" query has rows


def test_student_totals_add_up_to_the_batch(night: Night) -> None:
    rows = select("SELECT * FROM v_student_totals WHERE batch_id = :b", b=night.batch_id)
    by_student = {(row["class_name"], row["student"]): row for row in rows}
    assert by_student.keys() == {
        ("3A", "li-lei"),
        ("3A", "han-meimei"),
        ("3B", "wang-fang"),
        ("3B", "liu-yang"),
        (None, None),
    }
    pages = select("SELECT count(*) AS n FROM pages WHERE batch_id = :b", b=night.batch_id)
    assert sum(row["pages"] for row in rows) == pages[0]["n"] == 7
    assert sum(row["slots"] for row in rows) == len(night.slots)
    assert (
        by_student[("3B", "wang-fang")]["pages"],
        by_student[("3B", "wang-fang")]["pages_failed"],
    ) == (2, 1)
    assert by_student[("3A", "han-meimei")]["pages_done"] == 2
    expected: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for slot in night.slots:
        expected[night.owner(slot)].append(slot["correct_result"])
    for owner, results in expected.items():
        row = by_student[owner]
        assert row["slots"] == len(results)
        assert (row["correct"], row["wrong"], row["unanswered"]) == tuple(
            results.count(code) for code in (1, 2, 3)
        )
        assert _number(row["correct_rate"]) == pytest.approx(_rate(results), abs=RATE_PLACES)
    assert (
        by_student[("3A", "li-lei")]["correct_rate"]
        < 0.6
        <= by_student[("3A", "han-meimei")]["correct_rate"]
    )


def test_batch_progress_counts_documents_and_pages(night: Night) -> None:
    (row,) = select("SELECT * FROM v_batch_progress WHERE batch_id = :b", b=night.batch_id)
    assert row["batch"] == night.name and row["state"] == "done"
    assert row["finished_at"] is not None and row["elapsed"].total_seconds() > 0
    assert row["documents"] == 7
    assert (row["documents_ingested"], row["documents_failed"], row["documents_skipped"]) == (
        5,
        1,
        1,
    )
    assert (row["pages"], row["pages_done"], row["pages_failed"], row["pages_in_flight"]) == (
        7,
        6,
        1,
        0,
    )
    assert float(row["done_share"]) == pytest.approx(6 / 7, abs=1e-4)
    assert row["ended_share"] == 1
    (ambiguous,) = select(
        "SELECT coalesce(sum(ambiguous_submits), 0) AS n FROM pages WHERE batch_id = :b",
        b=night.batch_id,
    )
    assert row["ambiguous_submits"] == ambiguous["n"]


def test_failures_name_every_file_and_page_that_did_not_make_it(night: Night) -> None:
    rows = select("SELECT * FROM v_failures WHERE batch_id = :b", b=night.batch_id)
    got = {(r["level"], r["state"], r["rel_path"], r["page_no"], r["error_code"]) for r in rows}
    assert got == {
        ("document", "failed", "3B/liu-yang/notes.txt", None, "unsupported_type"),
        ("document", "skipped", "3B/zhao-lei", None, "duplicate"),
        ("page", "failed", "3B/wang-fang", 2, "image_too_small"),
    }
    assert all(row["error"] for row in rows)
    (skipped,) = [row for row in rows if row["state"] == "skipped"]
    (earlier,) = select(
        "SELECT id FROM documents WHERE batch_id = :b AND rel_path = '3A/li-lei'", b=night.batch_id
    )
    assert skipped["duplicate_of"] == earlier["id"]


@pytest.mark.parametrize("query", QUERIES, ids=[query.heading for query in QUERIES])
def test_every_worked_query_answers_as_the_analyst(night: Night, query: Query) -> None:
    sql = bind(query.sql, {"batch_id": night.batch_id, "class_name": CLASS, "student": STUDENT})
    rows = run_as_analyst(sql)
    assert rows, f"no rows from: {query.heading}"
    CHECKS[query.heading](night, rows)


def _view_columns() -> list[str]:
    rows = select(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'v_slot_results' ORDER BY ordinal_position"
    )
    return [row["column_name"] for row in rows]


def test_export_csv_has_one_row_per_slot(night: Night, tmp_path: Path) -> None:
    out = tmp_path / "night.csv"
    result = run_export(night.name, "--format", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert f"{len(night.slots)} slots" in result.output
    with out.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == _view_columns()
        rows = list(reader)
    assert len(rows) == len(night.slots)
    assert {int(row["slot_id"]) for row in rows} == {slot["slot_id"] for slot in night.slots}
    assert {row["batch"] for row in rows} == {night.name}
    li_lei = [row for row in rows if row["student"] == STUDENT]
    assert li_lei and all(row["class_name"] == CLASS for row in li_lei)
    assert all(row["answer"] == "" for row in rows if row["result"] == "unanswered")


def test_export_parquet_keeps_types(night: Night, tmp_path: Path) -> None:
    out = tmp_path / "night.parquet"
    result = run_export(str(night.batch_id), "--format", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == _view_columns()
    assert table.num_rows == len(night.slots)
    types = {field.name: str(field.type) for field in table.schema}
    assert (types["batch_id"], types["page_no"], types["student"]) == ("int64", "int32", "string")
    rows = table.to_pylist()
    assert {row["slot_id"] for row in rows} == {slot["slot_id"] for slot in night.slots}
    assert {row["class_name"] for row in rows} == {"3A", "3B", None}
    assert Counter(row["result"] for row in rows) == Counter(
        {1: "correct", 2: "wrong", 3: "unanswered"}[slot["correct_result"]] for slot in night.slots
    )
