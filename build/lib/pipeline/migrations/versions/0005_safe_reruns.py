"""Safe re-runs: resubmissions the pipeline could not avoid, and documents already sent.

``pages.ambiguous_submits`` counts the create_task calls repeated because the pipeline could
not know whether the provider had accepted the page (a crash or a lost answer between the
call and the commit of its task id): the only way a page is ever paid for twice.

``batches.cancelled_at`` marks a batch the operator cancelled.

``documents.duplicate_of`` links a document skipped because the same content was already
sent to the same API with the same options; the index finds such earlier documents.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 12:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "pages",
        sa.Column(
            "ambiguous_submits",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="create_task calls repeated because the provider may have accepted the "
            "page already (a lost answer or a crash before its task id was committed).",
        ),
    )
    op.add_column(
        "documents",
        sa.Column(
            "duplicate_of",
            sa.BigInteger(),
            sa.ForeignKey("documents.id", ondelete="SET NULL"),
            nullable=True,
            comment="The earlier document with the same content, API and options, when this "
            "one was skipped (state skipped) rather than sent again.",
        ),
    )
    op.create_index("ix_documents_content", "documents", ["sha256", "api"])
    op.add_column(
        "batches",
        sa.Column(
            "cancelled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the operator cancelled the batch: pages not yet sent are failed "
            "(error_code cancelled); pages already sent finish.",
        ),
    )
    op.alter_column(
        "documents",
        "state",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment="pending, ingesting, ingested, failed, or skipped (already sent: duplicate_of).",
    )


def downgrade() -> None:
    op.alter_column(
        "documents",
        "state",
        existing_type=sa.Text(),
        existing_nullable=False,
        comment="pending, ingesting, ingested or failed.",
    )
    op.drop_column("batches", "cancelled_at")
    op.drop_index("ix_documents_content", table_name="documents")
    op.drop_column("documents", "duplicate_of")
    op.drop_column("pages", "ambiguous_submits")
