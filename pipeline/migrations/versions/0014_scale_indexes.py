"""Indexes so that what a lookup costs does not grow with the night (``make bench``'s scale study).

- ``ix_artifacts_task``: persist, archive and replay look up a task's objects by
  ``provider_task_id``, which had no index: each lookup read the whole ``artifacts`` table, so
  a night of N pages cost N² rows read (17 ms a lookup at 5,000 pages).
- ``ix_provider_tasks_page_latest`` (``page_id, id``) replaces ``ix_provider_tasks_page_id``:
  "the latest task of this page" is then one index probe. With the index on ``page_id`` alone,
  the planner, once its statistics saw a large table, walked the primary key backwards from
  the newest task for every page (a reconciler pass took 260 ms at 5,000 pages).
- ``ix_documents_batch_state`` serves "is any document of this batch still pending or being
  ingested?", asked each time a page ends (``finish_batch_if_done``); without it the question
  read every document of the batch.
- ``ix_documents_state_updated`` serves the reconciler's look at documents by state and age
  (claims of lost workers, documents left pending, its window of recently changed rows).

Revision ID: 0014_scale_indexes
Revises: 0013_labels
Create Date: 2026-12-08 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014_scale_indexes"
down_revision = "0013_labels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_artifacts_task", "artifacts", ["provider_task_id"])
    op.create_index("ix_provider_tasks_page_latest", "provider_tasks", ["page_id", "id"])
    op.drop_index("ix_provider_tasks_page_id", table_name="provider_tasks")
    op.create_index("ix_documents_batch_state", "documents", ["batch_id", "state"])
    op.create_index("ix_documents_state_updated", "documents", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_documents_state_updated", table_name="documents")
    op.drop_index("ix_documents_batch_state", table_name="documents")
    op.create_index("ix_provider_tasks_page_id", "provider_tasks", ["page_id"])
    op.drop_index("ix_provider_tasks_page_latest", table_name="provider_tasks")
    op.drop_index("ix_artifacts_task", table_name="artifacts")
