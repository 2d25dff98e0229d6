"""A provider task is identified by its key, its API and the provider's id, among live rows.

A provider may hand out an id it gave before (a restart with a seeded id generator).
``provider_tasks.id_reused_at`` marks the older row when that happens: it keeps its results
(they reference ``provider_tasks.id``), and the unique index on ``(api, key_id, task_id)``
covers only the rows not marked, so the new page gets a row of its own.

Revision ID: 0010_task_identity
Revises: 0008
Create Date: 2026-12-02 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_task_identity"
down_revision = "0009_rescans"
branch_labels = None
depends_on = None

_REUSED_COMMENT = (
    "When the provider handed this task's id to another create_task: the row keeps its "
    "results but no longer names the task at the provider."
)


def upgrade() -> None:
    """Add the reuse mark and make the task identity (api, key_id, task_id) among live rows."""
    op.add_column(
        "provider_tasks",
        sa.Column("id_reused_at", sa.DateTime(timezone=True), comment=_REUSED_COMMENT),
    )
    op.drop_constraint("provider_tasks_api_task_id_key", "provider_tasks", type_="unique")
    op.create_index(
        "ux_provider_tasks_identity",
        "provider_tasks",
        ["api", "key_id", "task_id"],
        unique=True,
        postgresql_where=sa.text("id_reused_at IS NULL"),
    )


def downgrade() -> None:
    """Back to one row per (api, task_id); fails if a reused id left two rows."""
    op.drop_index("ux_provider_tasks_identity", table_name="provider_tasks")
    op.create_unique_constraint(
        "provider_tasks_api_task_id_key", "provider_tasks", ["api", "task_id"]
    )
    op.drop_column("provider_tasks", "id_reused_at")
