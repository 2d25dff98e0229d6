"""Adaptive polling: when a task was last seen unfinished, and due polls found per key.

``last_pending_at`` makes every get_result answer an observation of processing times (with
``finished_at``); the due index leads with (api, key_id) because the dispatcher tops up each
API key's polls separately.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 14:02:51.114208
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "provider_tasks",
        sa.Column(
            "last_pending_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When get_result last answered that the task was still running.",
        ),
    )
    op.alter_column(
        "provider_tasks",
        "polls",
        existing_type=sa.Integer(),
        existing_nullable=False,
        existing_server_default="0",
        comment="get_result answers received (quota refusals not counted).",
        existing_comment="get_result calls made.",
    )
    op.drop_index("ix_provider_tasks_due", table_name="provider_tasks")
    op.create_index(
        "ix_provider_tasks_due",
        "provider_tasks",
        ["api", "key_id", "next_poll_at"],
        postgresql_where=sa.text("state = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("ix_provider_tasks_due", table_name="provider_tasks")
    op.create_index(
        "ix_provider_tasks_due",
        "provider_tasks",
        ["next_poll_at"],
        postgresql_where=sa.text("state = 'running'"),
    )
    op.alter_column(
        "provider_tasks",
        "polls",
        existing_type=sa.Integer(),
        existing_nullable=False,
        existing_server_default="0",
        comment="get_result calls made.",
        existing_comment="get_result answers received (quota refusals not counted).",
    )
    op.drop_column("provider_tasks", "last_pending_at")
