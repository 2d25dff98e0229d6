"""Results of every API: cut-out questions, essays, OCR words; per-document API and options.

Also comments every key column, and widens provider_tasks.log_id to text (composition
answers 32-digit log ids).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:14:12.801317
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SOURCE_COMMENT = (
    "original, embedded (scan taken from the PDF), rendered, reencoded, "
    "or pdf_page (a one-page PDF cut from the scan, not rasterised)."
)


def upgrade() -> None:
    # The code tables' keys are the provider's codes: no sequence may invent new ones.
    for table in ("correct_results", "question_types"):
        op.execute(f"ALTER TABLE {table} ALTER COLUMN code DROP DEFAULT")
        op.execute(f"DROP SEQUENCE IF EXISTS {table}_code_seq")
    op.alter_column(
        "pages",
        "state",
        existing_type=sa.Text(),
        comment="ready, submitting, submitted, persisting, archiving, done or failed.",
        existing_comment="ready, submitting, submitted, persisting, …",
        existing_nullable=False,
        existing_server_default="ready",
    )
    op.create_table(
        "essays",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column("page_id", sa.BigInteger(), nullable=False, comment="The page the essay is on."),
        sa.Column(
            "provider_task_id",
            sa.BigInteger(),
            nullable=False,
            comment="The task whose answer this row comes from.",
        ),
        sa.Column(
            "granularity",
            sa.Text(),
            nullable=True,
            comment="recognize_granularity answered: none, line or word.",
        ),
        sa.Column(
            "title",
            sa.Text(),
            nullable=True,
            comment="Title (essayOverall.titleText, else title.text).",
        ),
        sa.Column(
            "title_boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="title.bbox: [{x,y,w,h}] (line and word only).",
        ),
        sa.Column(
            "title_chars",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="title.chars: [{char,index,bbox,is_punctuation}] (word only).",
        ),
        sa.Column(
            "content_text",
            sa.Text(),
            nullable=True,
            comment="essayOverall.contentText: the body, lines separated by newlines.",
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
        sa.UniqueConstraint("page_id"),
        comment="Essays read by handwriting_composition, one per page.",
    )
    op.create_index(
        op.f("ix_essays_provider_task_id"), "essays", ["provider_task_id"], unique=False
    )
    op.create_table(
        "ocr_words",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column("page_id", sa.BigInteger(), nullable=False, comment="The page read."),
        sa.Column(
            "provider_task_id",
            sa.BigInteger(),
            nullable=False,
            comment="The call whose answer this row comes from.",
        ),
        sa.Column(
            "kind",
            sa.Text(),
            nullable=False,
            comment="word (words_result: text and LaTeX mixed) or formula (formula_result).",
        ),
        sa.Column("sequence", sa.Integer(), nullable=False, comment="Order in its list, 0-based."),
        sa.Column("text", sa.Text(), nullable=True, comment="words: the text, or LaTeX."),
        sa.Column("left", sa.Integer(), nullable=True, comment="location.left, pixels."),
        sa.Column("top", sa.Integer(), nullable=True, comment="location.top, pixels."),
        sa.Column("width", sa.Integer(), nullable=True, comment="location.width, pixels."),
        sa.Column("height", sa.Integer(), nullable=True, comment="location.height, pixels."),
        sa.Column("score", sa.Float(), nullable=True, comment="Confidence (custom_ocr's score)."),
        sa.Column(
            "chars",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="Per-character boxes, when asked for.",
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
        sa.UniqueConstraint("page_id", "kind", "sequence"),
        comment="Words and formulas read by formula and custom_ocr.",
    )
    op.create_index("ix_ocr_words_task", "ocr_words", ["provider_task_id"], unique=False)
    op.create_table(
        "paper_questions",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column(
            "page_id", sa.BigInteger(), nullable=False, comment="The page the question is on."
        ),
        sa.Column(
            "provider_task_id",
            sa.BigInteger(),
            nullable=False,
            comment="The task whose answer this row comes from.",
        ),
        sa.Column(
            "sequence", sa.Integer(), nullable=False, comment="Order in qus_result, 0-based."
        ),
        sa.Column(
            "number",
            sa.Text(),
            nullable=True,
            comment="The provider's question number (qus_id, or que_id on answer sheets).",
        ),
        sa.Column(
            "question_type",
            sa.Text(),
            nullable=True,
            comment="qus_type as given (选择题, 填空题, 问答题…); empty on answer sheets.",
        ),
        sa.Column(
            "question_text",
            sa.Text(),
            nullable=True,
            comment="question_words (qus_words): the question as read; paper scene only.",
        ),
        sa.Column(
            "choices",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="Choices of a multiple-choice question.",
        ),
        sa.Column(
            "question_boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="qus_location: [{x,y,w,h}] of the question.",
        ),
        sa.Column(
            "picture_boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="pic_location: [{x,y,w,h}] of its pictures.",
        ),
        sa.Column(
            "answer_boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="ans_location: [{x,y,w,h}] of its handwriting (only_split answers only).",
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
        sa.UniqueConstraint("page_id", "sequence"),
        comment="Questions found by paper_cut_edu_vlm (result.result.qus_result[]).",
    )
    op.create_index(
        op.f("ix_paper_questions_provider_task_id"),
        "paper_questions",
        ["provider_task_id"],
        unique=False,
    )
    op.create_table(
        "essay_paragraphs",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column("essay_id", sa.BigInteger(), nullable=False, comment="The essay."),
        sa.Column("sequence", sa.Integer(), nullable=False, comment="Order in the essay, 0-based."),
        sa.Column("paragraph_uid", sa.Text(), nullable=True, comment="paragraphId, e.g. p1."),
        sa.Column("text", sa.Text(), nullable=True, comment="The paragraph's full text."),
        sa.Column(
            "boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="bbox: [{x,y,w,h}] outline, maybe several boxes.",
        ),
        sa.Column(
            "is_column",
            sa.Boolean(),
            nullable=True,
            comment="isColumn: written in columns (line and word only).",
        ),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider fields with no column yet.",
        ),
        sa.ForeignKeyConstraint(["essay_id"], ["essays.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("essay_id", "sequence"),
        comment="Paragraphs of essays (content.paragraphs[]).",
    )
    op.create_table(
        "paper_answers",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column("question_id", sa.BigInteger(), nullable=False, comment="The question answered."),
        sa.Column("page_id", sa.BigInteger(), nullable=False, comment="The page (saves a join)."),
        sa.Column(
            "sequence", sa.Integer(), nullable=False, comment="Order in answer_words, 0-based."
        ),
        sa.Column(
            "number",
            sa.Text(),
            nullable=True,
            comment="Sub-question number as printed (answer sheets' {number}); else null.",
        ),
        sa.Column("answer", sa.Text(), nullable=True, comment="The handwritten answer, as read."),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider fields with no column yet.",
        ),
        sa.ForeignKeyConstraint(["page_id"], ["pages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["paper_questions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("question_id", "sequence"),
        comment="Handwritten answers of paper_questions (qus_elements.answer_words[]).",
    )
    op.create_index("ix_paper_answers_page", "paper_answers", ["page_id"], unique=False)
    op.create_table(
        "essay_lines",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column("essay_id", sa.BigInteger(), nullable=False, comment="The essay."),
        sa.Column(
            "paragraph_id",
            sa.BigInteger(),
            nullable=True,
            comment="The paragraph the line belongs to, if named.",
        ),
        sa.Column("sequence", sa.Integer(), nullable=False, comment="Order in the essay, 0-based."),
        sa.Column("line_uid", sa.Text(), nullable=True, comment="lineId, e.g. l1."),
        sa.Column("paragraph_uid", sa.Text(), nullable=True, comment="paragraphId, as given."),
        sa.Column("text", sa.Text(), nullable=True, comment="The line's text."),
        sa.Column(
            "boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="bbox: [{x,y,w,h}] of the line.",
        ),
        sa.Column(
            "chars",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="chars: [{char,index,bbox,is_punctuation}] (word granularity only).",
        ),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider fields with no column yet.",
        ),
        sa.ForeignKeyConstraint(["essay_id"], ["essays.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paragraph_id"], ["essay_paragraphs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("essay_id", "sequence"),
        comment="Lines of essays (content.lines[]; line and word granularity).",
    )
    op.create_table(
        "essay_sentences",
        sa.Column(
            "id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate key.",
        ),
        sa.Column("paragraph_id", sa.BigInteger(), nullable=False, comment="The paragraph."),
        sa.Column("essay_id", sa.BigInteger(), nullable=False, comment="The essay (saves a join)."),
        sa.Column(
            "sequence", sa.Integer(), nullable=False, comment="Order in the paragraph, 0-based."
        ),
        sa.Column("sentence_uid", sa.Text(), nullable=True, comment="sentenceId, e.g. s1-p1."),
        sa.Column("text", sa.Text(), nullable=True, comment="The sentence."),
        sa.Column(
            "boxes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="bbox: [{x,y,w,h}] outline (line and word only).",
        ),
        sa.Column(
            "line_segments",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
            comment="lineSegments: [{line_uid,start,end}]; join essay_lines on line_uid; "
            "start/end index the line's text, inclusive.",
        ),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider fields with no column yet.",
        ),
        sa.ForeignKeyConstraint(["essay_id"], ["essays.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paragraph_id"], ["essay_paragraphs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("paragraph_id", "sequence"),
        comment="Sentences of essay paragraphs (paragraphs[].sentences[]).",
    )
    op.create_index("ix_essay_sentences_essay", "essay_sentences", ["essay_id"], unique=False)
    op.alter_column(
        "artifacts",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "artifacts",
        "batch_id",
        existing_type=sa.BIGINT(),
        comment="The batch the object belongs to.",
        existing_nullable=False,
    )
    op.alter_column(
        "artifacts",
        "document_id",
        existing_type=sa.BIGINT(),
        comment="Its document, if any.",
        existing_nullable=True,
    )
    op.alter_column(
        "artifacts",
        "page_id",
        existing_type=sa.BIGINT(),
        comment="Its page, if any.",
        existing_nullable=True,
    )
    op.alter_column(
        "artifacts",
        "provider_task_id",
        existing_type=sa.BIGINT(),
        comment="The task whose answer it comes from, if any.",
        existing_nullable=True,
    )
    op.alter_column(
        "artifacts",
        "kind",
        existing_type=sa.TEXT(),
        comment="original, page_image, raw_result, result_image, crop or enhanced_image.",
        existing_comment="original, page_image, raw_result, result_image or crop.",
        existing_nullable=False,
    )
    op.alter_column(
        "batches",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.add_column(
        "documents",
        sa.Column(
            "api",
            sa.Text(),
            nullable=True,
            comment="Provider API its pages go to (batch default, or the manifest's rule).",
        ),
    )
    op.add_column(
        "documents",
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Provider options its pages are sent with, as the provider spells them.",
        ),
    )
    op.execute(
        "UPDATE documents d SET api = b.api, options = b.options "
        "FROM batches b WHERE b.id = d.batch_id"
    )
    op.alter_column("documents", "api", nullable=False)
    op.alter_column(
        "documents",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "documents",
        "batch_id",
        existing_type=sa.BIGINT(),
        comment="The batch it was found in.",
        existing_nullable=False,
    )
    op.add_column(
        "pages",
        sa.Column(
            "content_type",
            sa.Text(),
            nullable=True,
            comment="MIME type of the page as sent: image/jpeg, image/png, application/pdf…",
        ),
    )
    op.alter_column(
        "pages",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "pages",
        "batch_id",
        existing_type=sa.BIGINT(),
        comment="The batch the page belongs to.",
        existing_nullable=False,
    )
    op.alter_column(
        "pages",
        "document_id",
        existing_type=sa.BIGINT(),
        comment="The scanned file the page comes from.",
        existing_nullable=False,
    )
    op.alter_column(
        "pages",
        "image_key",
        existing_type=sa.TEXT(),
        comment="S3 key of the page as sent (an image, or a one-page PDF).",
        existing_comment="S3 key of the page image.",
        existing_nullable=True,
    )
    op.alter_column(
        "pages",
        "source",
        existing_type=sa.TEXT(),
        comment=SOURCE_COMMENT,
        existing_comment="original, embedded (scan taken from the PDF), rendered or reencoded.",
        existing_nullable=True,
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "mode",
            sa.Text(),
            server_default="async",
            nullable=False,
            comment="async (create_task, then get_result) or sync (one call answered).",
        ),
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "status",
            sa.Text(),
            nullable=True,
            comment="Last status the provider gave, as spelt (pending, running, Success…).",
        ),
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "provider_created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="created_time of the task, by the provider's clock.",
        ),
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "provider_started_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="started_time of the task, by the provider's clock.",
        ),
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "provider_finished_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="finished_time of the task, by the provider's clock.",
        ),
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "duration_ms",
            sa.BigInteger(),
            nullable=True,
            comment="duration of the task as the provider reports it, milliseconds.",
        ),
    )
    op.add_column(
        "provider_tasks",
        sa.Column(
            "result_meta",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="Answer-level fields with no column (stat_result, counts, direction, …).",
        ),
    )
    op.alter_column(
        "provider_tasks",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "provider_tasks",
        "page_id",
        existing_type=sa.BIGINT(),
        comment="The page sent.",
        existing_nullable=False,
    )
    op.alter_column(
        "provider_tasks",
        "log_id",
        existing_type=sa.NUMERIC(precision=20, scale=0),
        type_=sa.Text(),
        comment="Provider log id of the create_task answer (digits; up to 32 of them).",
        existing_comment="Provider log id of the create_task answer.",
        existing_nullable=True,
        postgresql_using="log_id::text",
    )
    op.alter_column(
        "questions",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "questions",
        "page_id",
        existing_type=sa.BIGINT(),
        comment="The graded page.",
        existing_nullable=False,
    )
    op.alter_column(
        "questions",
        "provider_task_id",
        existing_type=sa.BIGINT(),
        comment="The task whose answer this row comes from.",
        existing_nullable=False,
    )
    op.alter_column(
        "slots",
        "id",
        existing_type=sa.BIGINT(),
        comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "slots",
        "question_id",
        existing_type=sa.BIGINT(),
        comment="The question the slot belongs to.",
        existing_nullable=False,
    )
    op.alter_column(
        "slots",
        "page_id",
        existing_type=sa.BIGINT(),
        comment="The graded page (saves a join).",
        existing_nullable=False,
    )


def downgrade() -> None:
    op.alter_column(
        "pages",
        "state",
        existing_type=sa.Text(),
        comment="ready, submitting, submitted, persisting, …",
        existing_nullable=False,
        existing_server_default="ready",
    )
    op.alter_column(
        "slots",
        "page_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The graded page (saves a join).",
        existing_nullable=False,
    )
    op.alter_column(
        "slots",
        "question_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The question the slot belongs to.",
        existing_nullable=False,
    )
    op.alter_column(
        "slots",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "questions",
        "provider_task_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The task whose answer this row comes from.",
        existing_nullable=False,
    )
    op.alter_column(
        "questions",
        "page_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The graded page.",
        existing_nullable=False,
    )
    op.alter_column(
        "questions",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "provider_tasks",
        "log_id",
        existing_type=sa.Text(),
        type_=sa.NUMERIC(precision=20, scale=0),
        postgresql_using="log_id::numeric(20, 0)",
        comment="Provider log id of the create_task answer.",
        existing_comment="Provider log id of the create_task answer (digits; up to 32 of them).",
        existing_nullable=True,
    )
    op.alter_column(
        "provider_tasks",
        "page_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The page sent.",
        existing_nullable=False,
    )
    op.alter_column(
        "provider_tasks",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.drop_column("provider_tasks", "result_meta")
    op.drop_column("provider_tasks", "duration_ms")
    op.drop_column("provider_tasks", "provider_finished_at")
    op.drop_column("provider_tasks", "provider_started_at")
    op.drop_column("provider_tasks", "provider_created_at")
    op.drop_column("provider_tasks", "status")
    op.drop_column("provider_tasks", "mode")
    op.alter_column(
        "pages",
        "source",
        existing_type=sa.TEXT(),
        comment="original, embedded (scan taken from the PDF), rendered or reencoded.",
        existing_comment=SOURCE_COMMENT,
        existing_nullable=True,
    )
    op.alter_column(
        "pages",
        "image_key",
        existing_type=sa.TEXT(),
        comment="S3 key of the page image.",
        existing_comment="S3 key of the page as sent (an image, or a one-page PDF).",
        existing_nullable=True,
    )
    op.alter_column(
        "pages",
        "document_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The scanned file the page comes from.",
        existing_nullable=False,
    )
    op.alter_column(
        "pages",
        "batch_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The batch the page belongs to.",
        existing_nullable=False,
    )
    op.alter_column(
        "pages",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.drop_column("pages", "content_type")
    op.alter_column(
        "documents",
        "batch_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The batch it was found in.",
        existing_nullable=False,
    )
    op.alter_column(
        "documents",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.drop_column("documents", "options")
    op.drop_column("documents", "api")
    op.alter_column(
        "batches",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    op.alter_column(
        "artifacts",
        "kind",
        existing_type=sa.TEXT(),
        comment="original, page_image, raw_result, result_image or crop.",
        existing_comment="original, page_image, raw_result, result_image, crop or enhanced_image.",
        existing_nullable=False,
    )
    op.alter_column(
        "artifacts",
        "provider_task_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The task whose answer it comes from, if any.",
        existing_nullable=True,
    )
    op.alter_column(
        "artifacts",
        "page_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Its page, if any.",
        existing_nullable=True,
    )
    op.alter_column(
        "artifacts",
        "document_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Its document, if any.",
        existing_nullable=True,
    )
    op.alter_column(
        "artifacts",
        "batch_id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="The batch the object belongs to.",
        existing_nullable=False,
    )
    op.alter_column(
        "artifacts",
        "id",
        existing_type=sa.BIGINT(),
        comment=None,
        existing_comment="Surrogate key.",
        existing_nullable=False,
        existing_server_default=sa.Identity(
            always=False,
            start=1,
            increment=1,
            minvalue=1,
            maxvalue=9223372036854775807,
            cycle=False,
            cache=1,
        ),
    )
    for table in (
        "essay_sentences",
        "essay_lines",
        "paper_answers",
        "essay_paragraphs",
        "paper_questions",
        "ocr_words",
        "essays",
    ):
        op.drop_table(table)
