"""Initial schema: batches, documents, pages, provider tasks, questions, slots, artifacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 09:48:07.345903
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False, comment="Operator-given or dated name."),
        sa.Column(
            "root_dir", sa.Text(), nullable=False, comment="The scanned directory, as given."
        ),
        sa.Column("api", sa.Text(), nullable=False, comment="Provider API the pages go to."),
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="API options the pages are sent with.",
        ),
        sa.Column(
            "state",
            sa.Text(),
            server_default="running",
            nullable=False,
            comment="running, or done once every page ended.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was inserted.",
        ),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the last page reached done or failed.",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        comment="One night's directory of scans, enqueued together.",
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "rel_path",
            sa.Text(),
            nullable=False,
            comment="Path relative to the batch directory (POSIX separators).",
        ),
        sa.Column("kind", sa.Text(), nullable=False, comment="pdf, image, image_set or rejected."),
        sa.Column(
            "sha256",
            sa.Text(),
            nullable=True,
            comment="Hex SHA-256 of the file (image sets: of their members' digests).",
        ),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True, comment="Size on disk."),
        sa.Column(
            "original_keys",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="S3 keys of the original file(s), in order.",
        ),
        sa.Column(
            "state",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment="pending, ingesting, ingested or failed.",
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it failed, for the operator."),
        sa.Column("error_code", sa.Text(), nullable=True, comment="Stable slug of the failure."),
        sa.Column(
            "attempts", sa.Integer(), server_default="0", nullable=False, comment="Ingest attempts."
        ),
        sa.Column("page_count", sa.Integer(), nullable=True, comment="Pages found when ingested."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was inserted.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Last state change.",
        ),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("batch_id", "rel_path"),
        comment="Each file or image-set folder found in a batch's directory.",
    )
    op.create_table(
        "pages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("document_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "page_no", sa.Integer(), nullable=False, comment="1-based page number in the document."
        ),
        sa.Column("sha256", sa.Text(), nullable=True, comment="Hex SHA-256 of the page image."),
        sa.Column("width", sa.Integer(), nullable=True, comment="Pixels, as sent."),
        sa.Column("height", sa.Integer(), nullable=True, comment="Pixels, as sent."),
        sa.Column("image_key", sa.Text(), nullable=True, comment="S3 key of the page image."),
        sa.Column(
            "source",
            sa.Text(),
            nullable=True,
            comment="original, embedded (scan taken from the PDF), rendered or reencoded.",
        ),
        sa.Column(
            "notes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="What normalising changed.",
        ),
        sa.Column(
            "state",
            sa.Text(),
            server_default="ready",
            nullable=False,
            comment="ready, submitting, submitted, persisting, …",
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it failed, for the operator."),
        sa.Column(
            "error_code", sa.Text(), nullable=True, comment="Provider error code or our slug."
        ),
        sa.Column(
            "submit_attempts",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="create_task calls made for this page.",
        ),
        sa.Column(
            "retries",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Transient failures met at the current stage.",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was inserted.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Last state change.",
        ),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "page_no"),
        comment="Each page of each document, normalised to the provider's limits.",
    )
    op.create_index("ix_pages_batch_state", "pages", ["batch_id", "state"], unique=False)
    op.create_index("ix_pages_state_updated", "pages", ["state", "updated_at"], unique=False)
    op.create_table(
        "provider_tasks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("page_id", sa.BigInteger(), nullable=False),
        sa.Column("api", sa.Text(), nullable=False, comment="Provider API, e.g. correct_edu."),
        sa.Column(
            "key_id",
            sa.Text(),
            nullable=False,
            comment="Which API key created it: a fingerprint, never the key itself.",
        ),
        sa.Column("task_id", sa.Text(), nullable=False, comment="The provider's task id."),
        sa.Column(
            "log_id",
            sa.Numeric(precision=20, scale=0),
            nullable=True,
            comment="Provider log id of the create_task answer.",
        ),
        sa.Column(
            "state",
            sa.Text(),
            server_default="running",
            nullable=False,
            comment="running, finished or failed.",
        ),
        sa.Column(
            "submitted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When create_task answered.",
        ),
        sa.Column(
            "next_poll_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When to ask get_result next.",
        ),
        sa.Column(
            "lease_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="A poll was dispatched; dispatch again only after this.",
        ),
        sa.Column(
            "polls",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="get_result calls made.",
        ),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When get_result first showed it finished.",
        ),
        sa.Column("raw_key", sa.Text(), nullable=True, comment="S3 key of the final raw answer."),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it failed."),
        sa.Column("error_code", sa.Text(), nullable=True, comment="Provider error code."),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api", "task_id"),
        comment="create_task answers: one row per task id the provider gave us.",
    )
    op.create_index(
        "ix_provider_tasks_due",
        "provider_tasks",
        ["next_poll_at"],
        unique=False,
        postgresql_where=sa.text("state = 'running'"),
    )
    op.create_index(op.f("ix_provider_tasks_page_id"), "provider_tasks", ["page_id"], unique=False)
    op.create_table(
        "artifacts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("document_id", sa.BigInteger(), nullable=True),
        sa.Column("page_id", sa.BigInteger(), nullable=True),
        sa.Column("provider_task_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "kind",
            sa.Text(),
            nullable=False,
            comment="original, page_image, raw_result, result_image or crop.",
        ),
        sa.Column("s3_key", sa.Text(), nullable=False, comment="Object key in the bucket."),
        sa.Column(
            "state",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment="pending, archived or lost.",
        ),
        sa.Column("sha256", sa.Text(), nullable=True, comment="Hex SHA-256 of the object."),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True, comment="Object size."),
        sa.Column("content_type", sa.Text(), nullable=True, comment="MIME type."),
        sa.Column(
            "source_url",
            sa.Text(),
            nullable=True,
            comment="Where it was copied from, without the signature.",
        ),
        sa.Column(
            "source_expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the provider's signed URL stops working.",
        ),
        sa.Column(
            "attempts", sa.Integer(), server_default="0", nullable=False, comment="Copy attempts."
        ),
        sa.Column("error", sa.Text(), nullable=True, comment="Why it is lost or still pending."),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was inserted.",
        ),
        sa.Column(
            "archived_at", sa.DateTime(timezone=True), nullable=True, comment="When it reached S3."
        ),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_task_id"], ["provider_tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("s3_key"),
        comment="Everything archived to S3, and result images still to be copied.",
    )
    op.create_index("ix_artifacts_page", "artifacts", ["page_id"], unique=False)
    op.create_index(
        "ix_artifacts_pending",
        "artifacts",
        ["source_expires_at"],
        unique=False,
        postgresql_where=sa.text("state='pending'"),
    )
    op.create_table(
        "questions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("page_id", sa.BigInteger(), nullable=False),
        sa.Column("provider_task_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "image_index",
            sa.Integer(),
            server_default="0",
            nullable=False,
            comment="Index in imageResults (0 for one image a page).",
        ),
        sa.Column(
            "sequence",
            sa.Integer(),
            nullable=False,
            comment="Order on the page, 0-based (provider's seqence).",
        ),
        sa.Column("question_uid", sa.Text(), nullable=True, comment="Provider's questionId."),
        sa.Column("question_text", sa.Text(), nullable=True, comment="Question text; often empty."),
        sa.Column(
            "type", sa.Integer(), nullable=True, comment="Question type code; see question_types."
        ),
        sa.Column(
            "correct_result",
            sa.Integer(),
            nullable=True,
            comment="0 not graded, 1 correct, 2 wrong, 3 unanswered; see correct_results.",
        ),
        sa.Column("is_finished", sa.Boolean(), nullable=True, comment="Provider's isFinish."),
        sa.Column(
            "subject",
            sa.Text(),
            nullable=True,
            comment="Page subject (paperSubject): math, english, chinese, …",
        ),
        sa.Column(
            "area",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="questionArea: list of {left_x,left_y,right_x,right_y} boxes, pixels.",
        ),
        sa.Column(
            "crop_key",
            sa.Text(),
            nullable=True,
            comment="S3 key of the graded question image (cropUrl), once archived.",
        ),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider fields with no column yet.",
        ),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["provider_task_id"], ["provider_tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("page_id", "image_index", "sequence"),
        comment="Questions found on a page (correct_edu imageResults[].result[]).",
    )
    op.create_index(
        op.f("ix_questions_provider_task_id"), "questions", ["provider_task_id"], unique=False
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("question_id", sa.BigInteger(), nullable=False),
        sa.Column("page_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "sequence", sa.Integer(), nullable=False, comment="Order in the question, 1-based."
        ),
        sa.Column("slot_uid", sa.Text(), nullable=True, comment="Provider's slotId."),
        sa.Column(
            "correct_result",
            sa.Integer(),
            nullable=True,
            comment="0 not graded, 1 correct, 2 wrong, 3 unanswered.",
        ),
        sa.Column("reason", sa.Text(), nullable=True, comment="Provider's grading explanation."),
        sa.Column(
            "handwriting_area",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="handwritingArea: one {left_x,left_y,right_x,right_y} box, pixels.",
        ),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider fields with no column yet.",
        ),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["questions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_id", "sequence"),
        comment="Answer slots of each question (result[].slot[]).",
    )
    op.create_index("ix_slots_page", "slots", ["page_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slots_page", table_name="slots")
    op.drop_table("slots")
    op.drop_index(op.f("ix_questions_provider_task_id"), table_name="questions")
    op.drop_table("questions")
    op.drop_index(
        "ix_artifacts_pending", table_name="artifacts", postgresql_where=sa.text("state='pending'")
    )
    op.drop_index("ix_artifacts_page", table_name="artifacts")
    op.drop_table("artifacts")
    op.drop_index(op.f("ix_provider_tasks_page_id"), table_name="provider_tasks")
    op.drop_index(
        "ix_provider_tasks_due",
        table_name="provider_tasks",
        postgresql_where=sa.text("state = 'running'"),
    )
    op.drop_table("provider_tasks")
    op.drop_index("ix_pages_state_updated", table_name="pages")
    op.drop_index("ix_pages_batch_state", table_name="pages")
    op.drop_table("pages")
    op.drop_table("documents")
    op.drop_table("batches")
