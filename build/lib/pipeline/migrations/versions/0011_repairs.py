"""The invariant audit: repairs the reconciler made, and the result rows each task wrote.

``repairs`` counts, per batch and kind, the rows the reconciler put right because their state
was not backed by their other rows (``scangrade check`` lists them; ``scangrade status``
shows the counts). ``provider_tasks.result_rows`` is how many result rows persist wrote from
the task's answer, so that a finished task whose rows went missing can be told from an answer
that held none; existing finished tasks are counted here.

Revision ID: 0011_repairs
Revises: 0008
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_repairs"
down_revision = "0010_task_identity"
branch_labels = None
depends_on = None

ROLE = "scangrade_analyst"
_RESULT_TABLES = ("questions", "paper_questions", "essays", "ocr_words")


def upgrade() -> None:
    """Add the repairs table and provider_tasks.result_rows, counted for finished tasks."""
    op.create_table(
        "repairs",
        sa.Column(
            "batch_id",
            sa.BigInteger(),
            sa.ForeignKey("batches.id", ondelete="CASCADE"),
            primary_key=True,
            comment="The batch whose rows were repaired.",
        ),
        sa.Column(
            "kind",
            sa.Text(),
            primary_key=True,
            comment="The repair: resubmitted, repersisted, persist_nudged, page_failed, "
            "reingested or batch_closed (docs/operating.md).",
        ),
        sa.Column("count", sa.Integer(), nullable=False, comment="Rows repaired so far."),
        sa.Column(
            "last_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
            comment="When the last one was repaired.",
        ),
        comment="Rows the reconciler repaired because their state was not backed by their "
        "other rows, by batch and kind.",
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "result_rows",
            sa.Integer(),
            nullable=True,
            comment="Result rows persist wrote from its answer (questions, paper_questions, "
            "essays, ocr_words); NULL until persisted. 0: the answer held none.",
        ),
    )
    counts = " + ".join(
        f"(SELECT count(*) FROM {table} r WHERE r.provider_task_id = t.id)"
        for table in _RESULT_TABLES
    )
    op.execute(f"UPDATE provider_tasks t SET result_rows = {counts} WHERE t.state = 'finished'")
    op.execute(f"GRANT SELECT ON repairs TO {ROLE}")


def downgrade() -> None:
    """Drop them again."""
    op.drop_column("provider_tasks", "result_rows")
    op.drop_table("repairs")
