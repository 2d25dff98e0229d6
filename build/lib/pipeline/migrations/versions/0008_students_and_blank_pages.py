"""Students and classes, blank pages skipped before the call, and end-of-batch notices.

``classes`` and ``students`` hold who the pages belong to. A document gets its student from
the enqueue manifest (a CSV row naming the file), from the directory convention
``<class>/<student>/…``, or, for a class scanned as one PDF, page by page from a roster
split every N pages (``documents.roster`` and ``pages_per_student``); ``pages.student_id``
is the answer for each page. A page nobody could be matched to keeps NULL: never guessed.

``pages.ink_ratio`` is the share of the page that is ink, measured at ingest; a page below
the blank threshold ends as ``skipped`` (error_code ``blank``) without a provider call.

``batches.notify_url`` is where the batch's summary is POSTed when it ends;
``notified_at`` when that succeeded.

``v_page_owners`` now reads the student tables (same first columns, new ones at the end),
and ``v_slot_results``, ``v_student_totals`` and ``v_batch_progress`` gain student ids and
the skipped pages, all with ``CREATE OR REPLACE VIEW`` (columns only appended).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 15:00:00.000000
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"
_PAGE_STATE_COMMENT = (
    "ready, submitting, submitted, persisting, archiving, done, failed, or skipped "
    "(blank: never sent)."
)

PAGE_OWNERS = """
    SELECT p.id AS page_id,
           c.name AS class_name,
           s.name AS student,
           s.id AS student_id,
           s.code AS student_code,
           d.assignment,
           d.owner_source
    FROM pages p
    JOIN documents d ON d.id = p.document_id
    LEFT JOIN students s ON s.id = p.student_id
    LEFT JOIN classes c ON c.id = coalesce(s.class_id, d.class_id)
"""

_PAGE_OWNER_COMMENTS = {
    "page_id": "The page (pages.id).",
    "class_name": "The student's class, or the document's when no student matched; NULL "
    "when neither is known.",
    "student": "The student's name (students.name); NULL when no student matched.",
    "student_id": "The student (students.id); NULL when no student matched.",
    "student_code": "The school's id of the student (students.code).",
    "assignment": "The work, from the manifest's assignment column; NULL when not given.",
    "owner_source": "How the student was found: manifest, directory or roster; NULL when "
    "unmatched.",
}


def _quoted(comment: str) -> str:
    return "'" + comment.replace("'", "''") + "'"


def _comment_columns(view: str, comments: dict[str, str]) -> None:
    for column, comment in comments.items():
        op.execute(f"COMMENT ON COLUMN {view}.{column} IS {_quoted(comment)}")


def upgrade() -> None:
    op.create_table(
        "classes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True, comment="Surrogate key."),
        sa.Column("name", sa.Text(), nullable=False, unique=True, comment="e.g. 7A."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row was inserted.",
        ),
        comment="School classes the students belong to.",
    )
    op.create_table(
        "students",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True, comment="Surrogate key."),
        sa.Column(
            "class_id",
            sa.BigInteger(),
            sa.ForeignKey("classes.id", ondelete="RESTRICT"),
            nullable=False,
            comment="The class (classes.id).",
        ),
        sa.Column(
            "code",
            sa.Text(),
            nullable=False,
            comment="The school's student id (manifest, roster), or the student's folder name.",
        ),
        sa.Column("name", sa.Text(), nullable=False, comment="The name teachers read."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the row was inserted.",
        ),
        sa.UniqueConstraint("class_id", "code"),
        comment="Students, from manifests, rosters and the <class>/<student>/ folders.",
    )
    _document_columns()
    op.add_column(
        "pages",
        sa.Column(
            "student_id",
            sa.BigInteger(),
            sa.ForeignKey("students.id", ondelete="SET NULL"),
            nullable=True,
            comment="Whose page it is; NULL when no student matched (listed, never guessed).",
        ),
    )
    op.create_index("ix_pages_student_id", "pages", ["student_id"])
    op.add_column(
        "pages",
        sa.Column(
            "ink_ratio",
            sa.Float(),
            nullable=True,
            comment="Share of the page that is ink, measured at ingest; under the blank "
            "threshold the page is skipped (error_code blank) and never sent.",
        ),
    )
    op.alter_column(
        "pages",
        "state",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment=_PAGE_STATE_COMMENT,
    )
    op.add_column(
        "batches",
        sa.Column(
            "notify_url",
            sa.Text(),
            nullable=True,
            comment="Where the batch's summary is POSTed (JSON) when it ends.",
        ),
    )
    op.add_column(
        "batches",
        sa.Column(
            "notified_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When notify_url accepted the summary.",
        ),
    )
    for table in ("classes", "students"):
        op.execute(f"GRANT SELECT ON {table} TO {ROLE}")
    _views()


def _document_columns() -> None:
    columns: list[sa.Column[Any]] = [
        sa.Column(
            "class_id",
            sa.BigInteger(),
            sa.ForeignKey("classes.id", ondelete="SET NULL"),
            nullable=True,
            comment="The class of the whole document, when known (its student's, or the "
            "roster's for a class scanned as one PDF).",
        ),
        sa.Column(
            "student_id",
            sa.BigInteger(),
            sa.ForeignKey("students.id", ondelete="SET NULL"),
            nullable=True,
            comment="The student of the whole document; NULL for a roster split or no match.",
        ),
        sa.Column("assignment", sa.Text(), nullable=True, comment="The work, from the manifest."),
        sa.Column(
            "owner_source",
            sa.Text(),
            nullable=True,
            comment="How its student(s) were found: manifest, directory or roster; NULL "
            "when unmatched.",
        ),
        sa.Column(
            "pages_per_student",
            sa.Integer(),
            nullable=True,
            comment="A class scanned as one file: pages per student, in roster order.",
        ),
        sa.Column(
            "roster",
            sa.dialects.postgresql.JSONB(),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="students.id in scan order, for pages_per_student.",
        ),
        sa.Column(
            "skip_blank",
            sa.Boolean(),
            server_default=sa.true(),
            nullable=False,
            comment="Whether blank pages are skipped rather than sent.",
        ),
    ]
    for column in columns:
        op.add_column("documents", column)


def _previous() -> ModuleType:
    """0007's view definitions, whose pieces the views replaced here are built from."""
    path = Path(__file__).with_name("0007_analyst_views.py")
    module_spec = importlib.util.spec_from_file_location("scangrade_migration_0007", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _swap(sql: str, *pairs: tuple[str, str]) -> str:
    """``sql`` with each ``old`` replaced once by ``new``; an ``old`` not found is a bug here."""
    for old, new in pairs:
        if old not in sql:
            raise AssertionError(f"0007's view SQL changed: {old!r} not found")
        sql = sql.replace(old, new, 1)
    return sql


def batch_progress_sql(v7: ModuleType) -> str:
    """v_batch_progress as replaced here (0009 builds on it)."""
    page_states = (*v7._PAGE_STATES, "skipped")
    return _swap(
        v7.BATCH_PROGRESS.sql,
        (v7._by_state("pages", v7._PAGE_STATES), v7._by_state("pages", page_states)),
        ("- p.pages_failed AS", "- p.pages_failed - p.pages_skipped AS"),
        ("(p.pages_done + p.pages_failed)", "(p.pages_done + p.pages_failed + p.pages_skipped)"),
        (
            "           p.ambiguous_submits\n",
            "           p.ambiguous_submits,\n           p.pages_skipped\n",
        ),
    )


def slot_results_sql(v7: ModuleType) -> str:
    """v_slot_results as replaced here (0012 builds it again when it is downgraded)."""
    return _swap(
        v7.SLOT_RESULTS.sql,
        ("CASE WHEN d.kind", "coalesce(o.assignment, CASE WHEN d.kind"),
        ("END::text AS assignment", "END)::text AS assignment"),
        (
            "           s.reason\n",
            "           s.reason,\n           o.student_id,\n           o.student_code\n",
        ),
    )


def student_totals_sql(v7: ModuleType) -> str:
    """v_student_totals as replaced here (0012 builds it again when it is downgraded)."""
    return _swap(
        v7.STUDENT_TOTALS.sql,
        ("o.student,\n", "o.student,\n               o.student_id,\n"),
        (
            "AS pages_failed\n",
            "AS pages_failed,\n"
            "               count(*) FILTER (WHERE p.state = 'skipped') AS pages_skipped\n",
        ),
        ("o.class_name, o.student\n", "o.class_name, o.student, o.student_id\n"),
        ("               student,\n", "               student,\n               student_id,\n"),
        ("class_name, student\n", "class_name, student, student_id\n"),
        (
            "ps.correct_rate\n",
            "ps.correct_rate,\n           pp.student_id,\n           pp.pages_skipped\n",
        ),
        (
            "ps.student IS NOT DISTINCT FROM pp.student",
            "ps.student_id IS NOT DISTINCT FROM pp.student_id",
        ),
    )


_OWNER = "from v_page_owners; NULL when no student matched."

#: The column comments this migration changed or added, by view (0012's downgrade too).
COLUMN_COMMENTS = {
    "v_slot_results": {
        "class_name": "Class, from v_page_owners; NULL when unknown.",
        "student": f"Student's name, {_OWNER}",
        "assignment": "The manifest's assignment, else the file name below the student's "
        "folder (homework.pdf); NULL for an image set or a file outside the layout, whose "
        "questions are matched by page and number alone.",
        "student_id": f"The student (students.id), {_OWNER}",
        "student_code": f"The school's id of the student, {_OWNER}",
    },
    "v_student_totals": {
        "class_name": "Class, from v_page_owners; NULL when unknown.",
        "student": f"Student's name, {_OWNER}",
        "student_id": f"The student (students.id), {_OWNER}",
        "pages_skipped": "Of those, skipped as blank (never sent).",
    },
    "v_batch_progress": {
        "pages_in_flight": "Pages neither done, failed nor skipped.",
        "ended_share": "(pages_done + pages_failed + pages_skipped) / pages; 1 once every "
        "known page ended.",
        "pages_skipped": "Pages skipped as blank: never sent, never billed.",
    },
}


def _views() -> None:
    v7 = _previous()
    slot_results = slot_results_sql(v7)
    student_totals = student_totals_sql(v7)
    progress = batch_progress_sql(v7)
    replaced = {
        "v_page_owners": PAGE_OWNERS,
        "v_slot_results": slot_results,
        "v_student_totals": student_totals,
        "v_batch_progress": progress,
    }
    for name, sql in replaced.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        op.execute(f"GRANT SELECT ON {name} TO {ROLE}")
    op.execute(
        "COMMENT ON VIEW v_page_owners IS "
        + _quoted(
            "The class and student each page belongs to, from the student tables (manifest, "
            "<class>/<student>/ folders, or a roster split). The other v_ views join this one."
        )
    )
    _comment_columns("v_page_owners", _PAGE_OWNER_COMMENTS)
    for view, comments in COLUMN_COMMENTS.items():
        _comment_columns(view, comments)


def downgrade() -> None:
    v7 = _previous()
    for view in reversed(v7.VIEWS):  # columns cannot be dropped from a view: build 0007's again
        op.execute(f"DROP VIEW {view.name}")
    v7.upgrade()
    op.drop_column("batches", "notified_at")
    op.drop_column("batches", "notify_url")
    op.alter_column(
        "pages",
        "state",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment="ready, submitting, submitted, persisting, archiving, done or failed.",
    )
    op.drop_column("pages", "ink_ratio")
    op.drop_index("ix_pages_student_id", table_name="pages")
    op.drop_column("pages", "student_id")
    for name in (
        "skip_blank",
        "roster",
        "pages_per_student",
        "owner_source",
        "assignment",
        "student_id",
        "class_id",
    ):
        op.drop_column("documents", name)
    op.drop_table("students")
    op.drop_table("classes")
