"""Rescans are new versions of their document; folders holding no scans are listed as missing.

A file whose content changed at the same path of a batch (a broken ``homework.pdf`` replaced
by a good scan) is recorded as the next ``documents.version`` at that path. The earlier
version is kept, marked ``superseded_at`` and ``superseded_by`` (the new version), and its
pages are left out of every view, the report, ``status`` and the batch's completion. One
version per path is current (``superseded_at IS NULL``): a unique index says so.

A folder holding no scans (an empty ``7A/zhang/``, or one with only a ``.txt``) is a document
of kind ``missing``, state ``failed``, error_code ``empty_folder``, with the student its
folder names: it shows in ``v_failures`` (which gains ``class_name`` and ``student``).

Revision ID: 0009_rescans
Revises: 0008
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision = "0009_rescans"
down_revision = "0008"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"
CURRENT = "superseded_at IS NULL"
_KIND_COMMENT = (
    "pdf, image, image_set, rejected (never taken from the directory) or missing "
    "(a folder holding no scans: error_code empty_folder)."
)
_OLD_KIND_COMMENT = "pdf, image, image_set or rejected."


def _load(filename: str, name: str) -> ModuleType:
    path = Path(__file__).with_name(filename)
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _quoted(comment: str) -> str:
    return "'" + comment.replace("'", "''") + "'"


def upgrade() -> None:
    op.add_column(
        "documents",
        sa.Column(
            "version",
            sa.Integer(),
            server_default="1",
            nullable=False,
            comment="1 for the first file found at rel_path in the batch; a rescan (new "
            "content at the same path) is the next version.",
        ),
    )
    op.add_column(
        "documents",
        sa.Column(
            "superseded_by",
            sa.BigInteger(),
            sa.ForeignKey("documents.id", ondelete="SET NULL"),
            nullable=True,
            comment="The newer version (documents.id) that replaced this one: a rescan at the "
            "same path. Its pages are kept but left out of the views, the report and status.",
        ),
    )
    op.add_column(
        "documents",
        sa.Column(
            "superseded_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When a rescan replaced this version; NULL for the current version.",
        ),
    )
    op.alter_column(
        "documents", "kind", existing_type=sa.Text(), existing_nullable=False, comment=_KIND_COMMENT
    )
    op.drop_constraint("documents_batch_id_rel_path_key", "documents", type_="unique")
    op.create_unique_constraint(
        "documents_batch_id_rel_path_version_key", "documents", ["batch_id", "rel_path", "version"]
    )
    op.create_index(
        "ix_documents_current",
        "documents",
        ["batch_id", "rel_path"],
        unique=True,
        postgresql_where=sa.text(CURRENT),
    )
    _views()


def _views() -> None:
    v8 = _load("0008_students_and_blank_pages.py", "scangrade_migration_0008")
    v7 = v8._previous()
    replaced = {
        "v_page_owners": v8.PAGE_OWNERS + f"    WHERE d.{CURRENT}\n",
        "v_batch_progress": _progress(v8, v7),
        "v_failures": _failures(v8, v7),
    }
    for name, sql in replaced.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
        op.execute(f"GRANT SELECT ON {name} TO {ROLE}")
    comments = {
        "v_page_owners": "The class and student of each page of the current version of its "
        "document (a rescan's earlier version is left out: documents.superseded_at), from "
        "the student tables. The other v_ views join this one.",
        "v_failures": "Every document and page that did not make it: documents failed "
        "(rejected when found, unreadable, or a folder holding no scans: kind missing), or "
        "skipped (already sent), and pages failed, with the reason. Versions replaced by a "
        "rescan are left out.",
    }
    for view, comment in comments.items():
        op.execute(f"COMMENT ON VIEW {view} IS {_quoted(comment)}")
    columns = {
        "v_batch_progress.documents_superseded": "Earlier versions replaced by a rescan: "
        "kept, and left out of every other count here.",
        "v_failures.document_kind": "pdf, image, image_set, rejected (never taken from the "
        "directory) or missing (a folder holding no scans: a missing submission?).",
        "v_failures.class_name": "The document's class (its student's), when known.",
        "v_failures.student": "The document's student, when known: for kind missing, the "
        "student whose folder holds no scans.",
    }
    for column, comment in columns.items():
        op.execute(f"COMMENT ON COLUMN {column} IS {_quoted(comment)}")


def _progress(v8: ModuleType, v7: ModuleType) -> str:
    swapped: str = v8._swap(
        v8.batch_progress_sql(v7),
        (
            "FROM documents WHERE batch_id = b.id",
            f"FROM documents WHERE batch_id = b.id AND {CURRENT}",
        ),
        (
            "FROM pages WHERE batch_id = b.id",
            "FROM pages WHERE batch_id = b.id AND NOT EXISTS (\n"
            "            SELECT 1 FROM documents old\n"
            "            WHERE old.id = pages.document_id AND old.superseded_at IS NOT NULL)",
        ),
        (
            "           p.pages_skipped\n",
            "           p.pages_skipped,\n"
            "           (SELECT count(*) FROM documents\n"
            "            WHERE batch_id = b.id AND superseded_at IS NOT NULL)\n"
            "               AS documents_superseded\n",
        ),
    )
    return swapped


_OWNER_JOIN = (
    "    LEFT JOIN students s ON s.id = d.student_id\n"
    "    LEFT JOIN classes c ON c.id = coalesce(s.class_id, d.class_id)\n"
)


def _failures(v8: ModuleType, v7: ModuleType) -> str:
    swapped: str = v8._swap(
        v7.FAILURES.sql,
        ("           d.updated_at AS at\n", _with_owner("d.updated_at AS at")),
        (
            "    JOIN batches b ON b.id = d.batch_id\n    WHERE d.state IN ('failed', 'skipped')\n",
            "    JOIN batches b ON b.id = d.batch_id\n"
            + _OWNER_JOIN
            + f"    WHERE d.state IN ('failed', 'skipped') AND d.{CURRENT}\n",
        ),
        ("           p.updated_at\n", _with_owner("p.updated_at")),
        (
            "    JOIN batches b ON b.id = p.batch_id\n    WHERE p.state = 'failed'\n",
            "    JOIN batches b ON b.id = p.batch_id\n"
            + _OWNER_JOIN
            + f"    WHERE p.state = 'failed' AND d.{CURRENT}\n",
        ),
    )
    return swapped


def _with_owner(last: str) -> str:
    return f"           {last},\n           c.name AS class_name,\n           s.name AS student\n"


def downgrade() -> None:
    bind = op.get_bind()
    versions = bind.execute(sa.text("SELECT count(*) FROM documents WHERE version > 1")).scalar()
    if versions:
        raise RuntimeError(
            f"{versions} documents are rescans (version > 1): 0008 allows one document per "
            "path of a batch; delete them (or their batches) before downgrading"
        )
    v8 = _load("0008_students_and_blank_pages.py", "scangrade_migration_0008")
    v7 = v8._previous()
    for name in ("v_failures", "v_batch_progress"):  # appended columns: build them again
        op.execute(f"DROP VIEW {name}")
    for view in (v7.BATCH_PROGRESS, v7.FAILURES):
        sql = v8.batch_progress_sql(v7) if view.name == "v_batch_progress" else view.sql
        op.execute(f"CREATE VIEW {view.name} AS {sql}")
        op.execute(f"COMMENT ON VIEW {view.name} IS {_quoted(view.comment)}")
        for column, comment in view.columns.items():
            op.execute(f"COMMENT ON COLUMN {view.name}.{column} IS {_quoted(comment)}")
        op.execute(f"GRANT SELECT ON {view.name} TO {ROLE}")
    op.execute(f"CREATE OR REPLACE VIEW v_page_owners AS {v8.PAGE_OWNERS}")
    op.execute("DELETE FROM documents WHERE kind = 'missing'")
    op.drop_index("ix_documents_current", table_name="documents")
    op.drop_constraint("documents_batch_id_rel_path_version_key", "documents", type_="unique")
    op.create_unique_constraint(
        "documents_batch_id_rel_path_key", "documents", ["batch_id", "rel_path"]
    )
    op.alter_column(
        "documents",
        "kind",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment=_OLD_KIND_COMMENT,
    )
    for name in ("superseded_at", "superseded_by", "version"):
        op.drop_column("documents", name)
