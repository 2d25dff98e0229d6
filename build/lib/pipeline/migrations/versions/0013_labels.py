"""Labels: a page's QR code says whose page it is, of which assignment, which page of how many.

``pages.label_code`` is the checked text of the page's label (``SG1|…``); ``label_assignment``,
``label_page`` and ``label_pages`` what it says; ``label_turn`` the clockwise turn that made
the page upright before it was stored and sent; ``label_replaced_by`` the later scan of the
same label that replaces the page (kept, left out of the views, not sent if it had not been).
A labelled page's student (``pages.student_id``) is its label's, ahead of the manifest, the
folders and the roster.

``v_page_owners`` takes a labelled page's assignment from its label (``owner_source``
``label``) and leaves replaced pages out, and so every view that joins it; its columns are
unchanged. ``v_label_gaps`` lists, per batch, each student's assignment's missing pages, the
pages without a label among labelled ones (extra) and the pages a later scan replaced
(duplicate).

Revision ID: 0013_labels
Revises: 0012_teacher_review
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013_labels"
down_revision = "0012_teacher_review"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"

_COLUMNS: dict[str, tuple[sa.types.TypeEngine[Any], str]] = {
    "label_code": (
        sa.Text(),
        "The text of the page's label code as read (SG1|class|student|assignment|page/pages|"
        "crc), checked; its student is the page's, ahead of the manifest, the folders and the "
        "roster. NULL when no valid label was found.",
    ),
    "label_assignment": (
        sa.Text(),
        "The assignment the page's label names; NULL without a label.",
    ),
    "label_page": (
        sa.Integer(),
        "Which page of the student's assignment the label says it is (1-based): the page's "
        "place, whatever order it was scanned in.",
    ),
    "label_pages": (
        sa.Integer(),
        "How many pages the label says the student's assignment has.",
    ),
    "label_turn": (
        sa.Integer(),
        "Degrees the page was turned clockwise before it was stored and sent, so that its "
        "label (and so the page) is upright: 0, 90, 180 or 270; NULL without a label.",
    ),
}
_REPLACED_COMMENT = (
    "A later scan (pages.id) with the same label: it replaces this page, which is kept, left "
    "out of the views, and not sent if it had not been yet (error_code label_replaced)."
)

_OWNERS_SELECT = """
    SELECT p.id AS page_id,
           c.name AS class_name,
           s.name AS student,
           s.id AS student_id,
           s.code AS student_code,
           {assignment} AS assignment,
           {owner_source} AS owner_source
    FROM pages p
    JOIN documents d ON d.id = p.document_id
    LEFT JOIN students s ON s.id = p.student_id
    LEFT JOIN classes c ON c.id = coalesce(s.class_id, d.class_id)
    WHERE d.superseded_at IS NULL{replaced}
"""
PAGE_OWNERS = _OWNERS_SELECT.format(
    assignment="coalesce(p.label_assignment, d.assignment)",
    owner_source="CASE WHEN p.label_code IS NOT NULL THEN 'label' ELSE d.owner_source END",
    replaced=" AND p.label_replaced_by IS NULL",
)
PAGE_OWNERS_0009 = _OWNERS_SELECT.format(
    assignment="d.assignment", owner_source="d.owner_source", replaced=""
)
_OWNER_COMMENTS = {
    "assignment": "The work: the page's label's assignment, else the manifest's assignment "
    "column; NULL when neither gives one.",
    "owner_source": "How the student was found: label (the page's code), manifest, directory "
    "or roster; NULL when unmatched.",
}
_OWNER_COMMENTS_0008 = {
    "assignment": "The work, from the manifest's assignment column; NULL when not given.",
    "owner_source": "How the student was found: manifest, directory or roster; NULL when "
    "unmatched.",
}
_OWNERS_VIEW_COMMENT = (
    "The class and student of each page of the current version of its document (a rescan's "
    "earlier version, and a page a later scan of its label replaced, are left out), from the "
    "student tables. The other v_ views join this one."
)
_OWNERS_VIEW_COMMENT_0009 = (
    "The class and student of each page of the current version of its document (a rescan's "
    "earlier version is left out: documents.superseded_at), from the student tables. The "
    "other v_ views join this one."
)

LABEL_GAPS = """
    WITH current_pages AS (
        SELECT p.*, d.rel_path, d.class_id AS document_class_id
        FROM pages p JOIN documents d ON d.id = p.document_id
        WHERE d.superseded_at IS NULL
    ),
    kept AS (
        SELECT * FROM current_pages
        WHERE label_page IS NOT NULL AND label_replaced_by IS NULL
    ),
    expected AS (
        SELECT batch_id, student_id, label_assignment, max(label_pages) AS pages
        FROM kept GROUP BY batch_id, student_id, label_assignment
    ),
    gaps AS (
        SELECT e.batch_id, e.student_id, NULL::bigint AS class_id,
               e.label_assignment AS assignment, n.page AS label_page,
               'missing'::text AS kind, NULL::bigint AS page_id, NULL::bigint AS document_id,
               NULL::text AS rel_path, NULL::integer AS page_no, NULL::bigint AS replaced_by
        FROM expected e CROSS JOIN LATERAL generate_series(1, e.pages) AS n(page)
        WHERE NOT EXISTS (
            SELECT 1 FROM kept k
            WHERE k.batch_id = e.batch_id AND k.student_id IS NOT DISTINCT FROM e.student_id
              AND k.label_assignment = e.label_assignment AND k.label_page = n.page)
        UNION ALL
        SELECT batch_id, student_id, NULL, label_assignment, label_page, 'duplicate', id,
               document_id, rel_path, page_no, label_replaced_by
        FROM current_pages WHERE label_replaced_by IS NOT NULL
        UNION ALL
        SELECT p.batch_id, p.student_id, p.document_class_id,
               (SELECT CASE WHEN count(DISTINCT l.label_assignment) = 1
                            THEN min(l.label_assignment) END
                FROM current_pages l WHERE l.document_id = p.document_id),
               NULL, 'extra', p.id, p.document_id, p.rel_path, p.page_no, NULL
        FROM current_pages p
        WHERE p.label_page IS NULL AND p.state <> 'failed'
          AND p.error_code IS DISTINCT FROM 'blank'
          AND EXISTS (SELECT 1 FROM current_pages l
                      WHERE l.document_id = p.document_id AND l.label_page IS NOT NULL)
    )
    SELECT g.batch_id,
           c.name AS class_name,
           s.name AS student,
           g.student_id,
           s.code AS student_code,
           g.assignment,
           g.label_page,
           g.kind,
           g.page_id,
           g.document_id,
           g.rel_path,
           g.page_no,
           g.replaced_by
    FROM gaps g
    LEFT JOIN students s ON s.id = g.student_id
    LEFT JOIN classes c ON c.id = coalesce(s.class_id, g.class_id)
"""
_GAPS_COMMENT = (
    "What a labelled assignment lacks or has too much of, per batch: each student's missing "
    "pages (kind missing: no scan carries that page's label), pages without a label among "
    "labelled ones (extra), and pages a later scan of the same label replaced (duplicate)."
)
_GAPS_COLUMNS = {
    "batch_id": "The batch (batches.id).",
    "class_name": "The student's class; for an extra page without a student, its document's.",
    "student": "The student's name; NULL for an extra page nobody was matched to.",
    "student_id": "The student (students.id).",
    "student_code": "The school's id of the student.",
    "assignment": "The assignment the labels name; for an extra page, the one its document's "
    "labels name (NULL when they name several).",
    "label_page": "The page of the assignment that is missing or was scanned twice; NULL "
    "for an extra page.",
    "kind": "missing, extra or duplicate.",
    "page_id": "The page concerned (pages.id); NULL for a missing page.",
    "document_id": "Its document (documents.id); NULL for a missing page.",
    "rel_path": "Its document's path in the batch directory; NULL for a missing page.",
    "page_no": "Its place in its document (1-based); NULL for a missing page.",
    "replaced_by": "For a duplicate, the later scan that replaced it (pages.id).",
}


def _quoted(comment: str) -> str:
    return "'" + comment.replace("'", "''") + "'"


def _owners(sql: str, view_comment: str, columns: dict[str, str]) -> None:
    op.execute(f"CREATE OR REPLACE VIEW v_page_owners AS {sql}")
    op.execute(f"COMMENT ON VIEW v_page_owners IS {_quoted(view_comment)}")
    for column, comment in columns.items():
        op.execute(f"COMMENT ON COLUMN v_page_owners.{column} IS {_quoted(comment)}")


def upgrade() -> None:
    """Add the label columns, their index, the owners' label precedence and v_label_gaps."""
    for name, (type_, comment) in _COLUMNS.items():
        op.add_column("pages", sa.Column(name, type_, nullable=True, comment=comment))
    op.add_column(
        "pages",
        sa.Column(
            "label_replaced_by",
            sa.BigInteger(),
            sa.ForeignKey("pages.id", ondelete="SET NULL"),
            nullable=True,
            comment=_REPLACED_COMMENT,
        ),
    )
    op.create_index(
        "ix_pages_label",
        "pages",
        ["batch_id", "student_id", "label_assignment", "label_page"],
        postgresql_where=sa.text("label_page IS NOT NULL"),
    )
    _owners(PAGE_OWNERS, _OWNERS_VIEW_COMMENT, _OWNER_COMMENTS)
    op.execute(f"CREATE VIEW v_label_gaps AS {LABEL_GAPS}")
    op.execute(f"COMMENT ON VIEW v_label_gaps IS {_quoted(_GAPS_COMMENT)}")
    for column, comment in _GAPS_COLUMNS.items():
        op.execute(f"COMMENT ON COLUMN v_label_gaps.{column} IS {_quoted(comment)}")
    op.execute(f"GRANT SELECT ON v_label_gaps TO {ROLE}")


def downgrade() -> None:
    """Drop them again; pages keep the students their labels gave them."""
    op.execute("DROP VIEW v_label_gaps")
    _owners(PAGE_OWNERS_0009, _OWNERS_VIEW_COMMENT_0009, _OWNER_COMMENTS_0008)
    op.drop_index("ix_pages_label", table_name="pages")
    op.drop_column("pages", "label_replaced_by")
    for name in reversed(_COLUMNS):
        op.drop_column("pages", name)
