"""Indexes on documents' states, so that a night's size does not set what a lookup costs.

``ix_documents_batch_state`` serves "is any document of this batch still pending or being
ingested?", asked each time a page ends (``finish_batch_if_done``); without it the question
read every document of the batch, so a night of N documents cost N² lookups.
``ix_documents_state_updated`` serves the reconciler's look at documents by state and age
(claims of lost workers, documents left pending, its window of recently changed rows).

Revision ID: 0014_document_state_indexes
Revises: 0013_labels
Create Date: 2026-12-08 00:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014_document_state_indexes"
down_revision = "0013_labels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_documents_batch_state", "documents", ["batch_id", "state"])
    op.create_index("ix_documents_state_updated", "documents", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_documents_state_updated", table_name="documents")
    op.drop_index("ix_documents_batch_state", table_name="documents")
