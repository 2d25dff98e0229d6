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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


DOC_TEXT = DOC.read_text(encoding="utf-8")


@dataclass(frozen=True)
class Query:
    heading: str
    sql: str


def sql_blocks(doc: str) -> list[Query]:
    """Every ```sql block, with the heading line right above it (blank lines skipped)."""
    queries: list[Query] = []
    lines = doc.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```sql":
            end = lines.index("```", index + 1)
            above = [line for line in lines[:index] if line.strip()]
            heading = above[-1] if above else ""
            queries.append(Query(heading, "\n".join(lines[index + 1 : end])))
            index = end
        index += 1
    return queries


QUERIES = sql_blocks(DOC_TEXT)


ROW_CHECKS: dict[str, Callable[[list[dict[str, Any]]], bool]] = {
    "Correct rate per student": lambda rows: (
        {(r["class"], r["student"]) for r in rows}
        == {("class-3a", "li-lei"), ("class-3a", "han-meimei"), ("class-3b", "wang-fang")}
    ),
    "Correct rate per class": lambda rows: (
        [(r["class"], r["students"]) for r in rows] == [("class-3a", 2), ("class-3b", 1)]
    ),
    "Unanswered slots": lambda rows: (
        [(r["rel_path"], r["slot"]) for r in rows] == [("class-3a/li-lei/homework.pdf", 3)]
    ),
    "Essay length per essay": lambda rows: (
        [(r["paragraphs"], r["sentences"], r["lines"]) for r in rows] == [(2, 3, 3)]
        and rows[0]["characters"] > 30
    ),
    "Failures per reason": lambda rows: {"216201", "empty_file"} <= {r["error_code"] for r in rows},
    "Handwritten answers": lambda rows: len(rows) == 5,
    "Formulas read": lambda rows: len(rows) == 3,
    "Anything lost": lambda rows: (
        {r["kind"] for r in rows} == {"crop", "result_image"}
        and all(r["state"] == "lost" for r in rows)
    ),
}
