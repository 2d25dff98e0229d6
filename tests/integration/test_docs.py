"""docs/schema.md against the live schema: every column documented, every query runs.

The columns come from ``information_schema.columns`` of the migrated test database, and each
must be named (as ```` `column` ````) in the section under its table's heading. The SQL
blocks are run as an analyst would run them in psql, ``:batch_id`` being the psql variable,
against a small batch built by persisting the provider's documented example answers through
the real persister and archive stage: correct_edu homework of three students in two classes
(one with a wrong and an unanswered slot), an essay, an answer sheet, a formula page, a page
that failed and a rejected document. Each block must succeed and return at least one row.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from support.batches import FinishedTask, record_finished_task, wait_for_page
from support.docs import DOC_TEXT, QUERIES, ROW_CHECKS, Query
from support.seed_examples import load_example

from pipeline.adapters.db.artifacts import record_archived
from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import get_engine, session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_client
from pipeline.settings import Settings
from pipeline.stages.archive import archive_task
from pipeline.stages.persist import persist_task


def table_sections(doc: str) -> dict[str, str]:
    """The text under each ``### `table` `` heading, up to the next heading of level <= 3."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in doc.splitlines():
        heading = re.match(r"^(#{1,3}) ", line)
        if heading:
            named = re.fullmatch(r"### `(\w+)`\s*", line)
            current = named.group(1) if named else None
            if current is not None:
                sections[current] = ""
            continue
        if current is not None:
            sections[current] += line + "\n"
    return sections


def _bind(sql: str, batch_id: int) -> str:
    """What psql does with ``\\set batch_id N``: the variable replaced by its value."""
    return re.sub(r"(?<![:\w]):batch_id\b", str(batch_id), sql)


def _record_raw_artifact(batch_id: int, finished: FinishedTask) -> None:
    with session_scope() as session:
        record_archived(
            session,
            finished.stored,
            "raw_result",
            batch_id=batch_id,
            document_id=finished.document_id,
            page_id=finished.page_id,
            provider_task_id=finished.task_row_id,
        )


def persist_at(
    batch_id: int,
    api: str,
    answer: dict[str, Any],
    rel_path: str,
    *,
    mode: str = "async",
    options: dict[str, Any] | None = None,
) -> int:
    """Like ``test_results.persist``, for a document at ``rel_path`` of an existing batch.

    Also records the raw answer's artifact and plausible submit/finish times, then lets the
    archive stage close the page (result images whose signed URLs expired become lost).
    """
    store = get_store()
    now = datetime.now(UTC)
    finished = record_finished_task(
        json.dumps(answer, ensure_ascii=False).encode(),
        api=api,
        rel_path=rel_path,
        task_id=f"docs-{uuid.uuid4().hex[:12]}",
        batch_id=batch_id,
        document={"options": options or {}, "page_count": 1, "size_bytes": 1000},
        page={
            "width": 1600,
            "height": 1200,
            "content_type": "image/png",
            "source": "original",
            "submit_attempts": 1,
        },
        task={
            "mode": mode,
            "polls": 0 if mode == "sync" else 3,
            "submitted_at": now - timedelta(seconds=0 if mode == "sync" else 42),
            "finished_at": now,
        },
    )
    _record_raw_artifact(batch_id, finished)
    page_id, task_row_id = finished.page_id, finished.task_row_id
    assert persist_task(task_row_id, store)
    # Archive here; when the session's workers run, one of them may take the nudge first.
    archive_task(task_row_id, get_client(), store)
    wait_for_page(page_id)
    return page_id


def _graded_with_mistakes() -> dict[str, Any]:
    """Seed 000's answer, with slot 2 wrong and slot 3 unanswered (so the question is wrong)."""
    answer = copy.deepcopy(load_example("000_correct_edu_get_result_ok"))
    question = answer["imageResults"][0]["result"][0]
    question["correctResult"] = 2
    slots = {slot["seqence"]: slot for slot in question["slot"]}
    slots[2]["correctResult"] = 2
    slots[2]["reason"] = "[PRESENCE: YES][TYPE: FILL_BLANK][NORM: published] 答案错误"
    slots[3]["correctResult"] = 3
    slots[3]["reason"] = "[PRESENCE: NO][TYPE: FILL_BLANK] 未作答"
    return answer


def _essay() -> dict[str, Any]:
    """Seed 002's line-granularity fragment inside a finished task's envelope."""
    return {
        "error_code": "0",
        "error_msg": "",
        "log_id": 10138598131137362685273505665433,
        "result": {
            "task_id": "task-docs-essay",
            "status": "Success",
            "created_time": 1757417161000,
            "started_time": 1757417162000,
            "finished_time": 1757417171500,
            "duration": 9500,
            **load_example("002_composition_get_result_line"),
        },
    }


def _add_failures(batch_id: int) -> None:
    """A page the provider rejected and a file rejected before ingest."""
    with session_scope() as session:
        blurred = Document(
            batch_id=batch_id,
            rel_path="class-3a/han-meimei/blurred.jpg",
            kind="image",
            api="correct_edu",
            state="ingested",
            page_count=1,
        )
        session.add(blurred)
        session.flush()
        session.add(
            Page(
                batch_id=batch_id,
                document_id=blurred.id,
                page_no=1,
                state="failed",
                error="the provider rejected the page: image format error (216201)",
                error_code="216201",
                submit_attempts=1,
            )
        )
        session.add(
            Document(
                batch_id=batch_id,
                rel_path="class-3b/wang-fang/empty.jpg",
                kind="rejected",
                api="correct_edu",
                state="failed",
                error="file is empty (0 bytes)",
                error_code="empty_file",
            )
        )


@pytest.fixture(scope="module")
def batch_id(env: Settings) -> int:
    with session_scope() as session:
        batch = Batch(name=f"docs-{uuid.uuid4().hex[:10]}", root_dir="/scans", api="correct_edu")
        session.add(batch)
        session.flush()
        batch_id = batch.id
    seed_000 = load_example("000_correct_edu_get_result_ok")
    persist_at(batch_id, "correct_edu", _graded_with_mistakes(), "class-3a/li-lei/homework.pdf")
    persist_at(batch_id, "correct_edu", seed_000, "class-3a/han-meimei/homework.pdf")
    persist_at(batch_id, "correct_edu", seed_000, "class-3b/wang-fang/homework.pdf")
    persist_at(batch_id, "composition", _essay(), "class-3a/li-lei/essay.pdf")
    persist_at(
        batch_id,
        "paper_cut",
        load_example("001_paper_cut_get_result_answer_sheet"),
        "class-3a/li-lei/answer-sheet.pdf",
        options={"scene_type": "answer_sheet"},
    )
    persist_at(
        batch_id,
        "formula",
        load_example("003_formula_ok"),
        "class-3a/li-lei/maths.png",
        mode="sync",
    )
    _add_failures(batch_id)
    return batch_id


def test_every_column_is_documented_under_its_table(env: Settings) -> None:
    with get_engine().connect() as conn:
        rows = conn.execute(
            text(
                # Tables only: the analysts' views are documented in docs/analysts.md.
                "SELECT c.table_name, c.column_name FROM information_schema.columns c "
                "JOIN information_schema.tables t USING (table_schema, table_name) "
                "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
                "AND c.table_name <> 'alembic_version' "
                "ORDER BY c.table_name, c.ordinal_position"
            )
        ).all()
    assert rows, "no tables in the live schema"
    sections = table_sections(DOC_TEXT)
    undocumented_tables = sorted({table for table, _ in rows} - sections.keys())
    assert undocumented_tables == []
    missing = [
        f"{table}.{column}" for table, column in rows if f"`{column}`" not in sections[table]
    ]
    assert missing == []


@pytest.mark.parametrize("query", QUERIES, ids=[q.heading.lstrip("# ") for q in QUERIES])
def test_every_query_runs_and_answers(batch_id: int, query: Query) -> None:
    raw = get_engine().raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SET TRANSACTION READ ONLY")
        cursor.execute(_bind(query.sql, batch_id))  # no parameters: '%' and '::' as in psql
        names = [column[0] for column in cursor.description or ()]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        raw.rollback()
        raw.close()
    assert rows, f"no rows from: {query.heading}"
    for prefix, check in ROW_CHECKS.items():
        if query.heading.lstrip("# ").startswith(prefix):
            assert check(rows), rows
