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
from pathlib import Path

import psycopg
from alembic import command
from sqlalchemy.engine import make_url
from support.analysts import ANALYST, DOC_TEXT, run_export, select

from devkit.testdb import drop_database
from pipeline.adapters.schema import alembic_config, migrate
from pipeline.settings import Settings


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
        "v_question_results",
        "v_grade_overrides_current",
        "v_overrides_to_review",
        "v_label_gaps",
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
            assert conn.execute(views).fetchone() == (10,)
            command.downgrade(config, "0006")
            assert conn.execute(views).fetchone() == (0,)
            command.upgrade(config, "head")
            assert conn.execute(views).fetchone() == (10,)
            conn.execute(f"SET ROLE {ANALYST}")
            assert conn.execute("SELECT count(*) FROM v_slot_results").fetchone() == (0,)
    finally:
        drop_database(scratch)


def test_export_of_an_unknown_batch_is_a_usage_error(env: Settings, tmp_path: Path) -> None:
    out = tmp_path / "nothing.csv"
    result = run_export("no-such-batch", "--output", str(out))
    assert result.exit_code == 2
    assert "no batch named 'no-such-batch'" in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []
