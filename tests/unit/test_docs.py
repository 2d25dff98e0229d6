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

from support.docs import QUERIES, ROW_CHECKS


def test_the_doc_has_worked_queries_under_headings() -> None:
    assert len(QUERIES) >= 10
    for query in QUERIES:
        assert query.heading.startswith("#"), f"no heading above:\n{query.sql}"
    headings = [query.heading.lstrip("# ") for query in QUERIES]
    for prefix in ROW_CHECKS:
        assert any(heading.startswith(prefix) for heading in headings), prefix
