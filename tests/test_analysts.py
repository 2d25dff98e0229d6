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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from alembic import command
from batches import wait_until_done
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from devkit.testdb import drop_database
from pipeline.adapters.db.session import get_engine
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.services import alembic_config, migrate
from pipeline.domain.students import Students
from pipeline.operator.cli import main
from pipeline.operator.report.data import assignment
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory
from simulator.grading import grade

DOC = Path(__file__).resolve().parent.parent / "docs" / "analysts.md"
DOC_TEXT = DOC.read_text(encoding="utf-8")
ANALYST = "scangrade_analyst"
CLASS, STUDENT = "3A", "li-lei"  # the class and student the doc's queries are run for
TITLE = "Analysts' night"
RATE_PLACES = 5e-5  # the views round rates to 4 decimals


# ---- the doc ---------------------------------------------------------------------------


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


def view_sections(doc: str) -> dict[str, str]:
    """The text under each ``### `v_…` `` heading."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in doc.splitlines():
        if line.startswith("#"):
            named = re.fullmatch(r"### `(v_\w+)`\s*", line)
            current = named.group(1) if named else None
            if current:
                sections[current] = ""
        elif current:
            sections[current] += line + "\n"
    return sections


QUERIES = sql_blocks(DOC_TEXT)


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


def select(sql: str, **params: Any) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(sql), params)]


# ---- the night -------------------------------------------------------------------------


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


def _rate(results: Sequence[int | None]) -> float | None:
    graded = [r for r in results if r in (1, 2, 3)]
    return sum(r == 1 for r in graded) / len(graded) if graded else None


# ---- the views -------------------------------------------------------------------------


def test_every_view_is_commented_and_documented(env: Settings) -> None:
    columns = select("""
        SELECT c.relname AS view, a.attname AS column,
               obj_description(c.oid, 'pg_class') AS view_comment,
               col_description(c.oid, a.attnum) AS column_comment,
               has_table_privilege('scangrade_analyst', c.oid, 'SELECT') AS readable
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace
          AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY c.relname, a.attnum
    """)
    views = {row["view"] for row in columns}
    assert views == {
        "v_page_owners",
        "v_slot_results",
        "v_question_stats",
        "v_student_totals",
        "v_batch_progress",
        "v_failures",
    }
    assert all(row["view_comment"] and row["column_comment"] for row in columns)
    assert all(row["readable"] for row in columns)
    sections = view_sections(DOC_TEXT)
    assert sections.keys() == views
    undocumented = [
        f"{row['view']}.{row['column']}"
        for row in columns
        if f"`{row['column']}`" not in sections[row["view"]]
    ]
    assert undocumented == []


def test_downgrade_drops_the_views_and_upgrade_restores_them(env: Settings) -> None:
    url = make_url(env.database_url)
    scratch_name = f"{url.database}_views"
    scratch = env.model_copy(
        update={"database_url": url.set(database=scratch_name).render_as_string(False)}
    )
    config = alembic_config(scratch.database_url)
    dsn = url.set(drivername="postgresql", database=scratch_name).render_as_string(False)
    views = "SELECT count(*) FROM pg_views WHERE schemaname = 'public' AND viewname LIKE 'v\\_%'"
    try:
        migrate(scratch)
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute(views).fetchone() == (6,)
            command.downgrade(config, "0006")
            assert conn.execute(views).fetchone() == (0,)
            command.upgrade(config, "head")
            assert conn.execute(views).fetchone() == (6,)
            conn.execute(f"SET ROLE {ANALYST}")
            assert conn.execute("SELECT count(*) FROM v_slot_results").fetchone() == (0,)
    finally:
        drop_database(scratch)


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


# ---- the worked queries ----------------------------------------------------------------


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
    assert [float(row["correct_rate"]) for row in rows] == pytest.approx(
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


def test_the_doc_has_a_checked_query_under_each_heading() -> None:
    assert 6 <= len(QUERIES) <= 10
    assert [query.heading for query in QUERIES] == list(CHECKS)
    for query in QUERIES:
        assert re.search(r"\bv_\w+", query.sql), f"{query.heading}: reads no view"


@pytest.mark.parametrize("query", QUERIES, ids=[query.heading for query in QUERIES])
def test_every_worked_query_answers_as_the_analyst(night: Night, query: Query) -> None:
    sql = bind(query.sql, {"batch_id": night.batch_id, "class_name": CLASS, "student": STUDENT})
    rows = run_as_analyst(sql)
    assert rows, f"no rows from: {query.heading}"
    CHECKS[query.heading](night, rows)


# ---- scangrade export ------------------------------------------------------------------


def _view_columns() -> list[str]:
    rows = select(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'v_slot_results' ORDER BY ordinal_position"
    )
    return [row["column_name"] for row in rows]


def _export(*args: str) -> Any:
    return CliRunner().invoke(main, ["export", *args])


def test_export_csv_has_one_row_per_slot(night: Night, tmp_path: Path) -> None:
    out = tmp_path / "night.csv"
    result = _export(night.name, "--format", "csv", "--output", str(out))
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
    result = _export(str(night.batch_id), "--format", "parquet", "-o", str(out))
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


def test_export_of_an_unknown_batch_is_a_usage_error(env: Settings, tmp_path: Path) -> None:
    out = tmp_path / "nothing.csv"
    result = _export("no-such-batch", "--output", str(out))
    assert result.exit_code == 2
    assert "no batch named 'no-such-batch'" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
