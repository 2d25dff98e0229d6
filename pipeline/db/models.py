r"""The tables: typed SQLAlchemy 2 models, with the comments analysts read in ``\d+``.

The migrations in ``migrations/versions`` are the source of the schema; these models mirror
them for the code. A test checks that the two agree.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pipeline.db.states import ArtifactState, BatchState, DocumentState, PageState, TaskState


class Base(DeclarativeBase):
    """Declarative base: JSON columns are JSONB, timestamps carry their zone."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        datetime: DateTime(timezone=True),
    }


def _id() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(), primary_key=True)


def _created() -> Mapped[datetime]:
    return mapped_column(server_default=func.now(), comment="When the row was inserted.")


def _state(default: str, comment: str) -> Mapped[str]:
    return mapped_column(Text, server_default=default, comment=comment)


class Batch(Base):
    """One run of ``scangrade enqueue`` over a directory."""

    __tablename__ = "batches"
    __table_args__ = ({"comment": "One night's directory of scans, enqueued together."},)

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(Text, unique=True, comment="Operator-given or dated name.")
    root_dir: Mapped[str] = mapped_column(Text, comment="The scanned directory, as given.")
    api: Mapped[str] = mapped_column(Text, comment="Provider API the pages go to.")
    options: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"), comment="API options the pages are sent with."
    )
    state: Mapped[str] = _state(BatchState.RUNNING, "running, or done once every page ended.")
    created_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(
        comment="When the last page reached done or failed."
    )


class Document(Base):
    """A scanned file (PDF, image) or a folder of images that belong together."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("batch_id", "rel_path"),
        {"comment": "Each file or image-set folder found in a batch's directory."},
    )

    id: Mapped[int] = _id()
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    rel_path: Mapped[str] = mapped_column(
        Text, comment="Path relative to the batch directory (POSIX separators)."
    )
    kind: Mapped[str] = mapped_column(Text, comment="pdf, image, image_set or rejected.")
    sha256: Mapped[str | None] = mapped_column(
        Text, comment="Hex SHA-256 of the file (image sets: of their members' digests)."
    )
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, comment="Size on disk.")
    original_keys: Mapped[list[Any]] = mapped_column(
        server_default=text("'[]'::jsonb"), comment="S3 keys of the original file(s), in order."
    )
    state: Mapped[str] = _state(DocumentState.PENDING, "pending, ingesting, ingested or failed.")
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed, for the operator.")
    error_code: Mapped[str | None] = mapped_column(Text, comment="Stable slug of the failure.")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", comment="Ingest attempts.")
    page_count: Mapped[int | None] = mapped_column(Integer, comment="Pages found when ingested.")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="Last state change."
    )


class Page(Base):
    """One page image as sent to the provider."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("document_id", "page_no"),
        Index("ix_pages_batch_state", "batch_id", "state"),
        Index("ix_pages_state_updated", "state", "updated_at"),
        {"comment": "Each page of each document, normalised to the provider's limits."},
    )

    id: Mapped[int] = _id()
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_no: Mapped[int] = mapped_column(Integer, comment="1-based page number in the document.")
    sha256: Mapped[str | None] = mapped_column(Text, comment="Hex SHA-256 of the page image.")
    width: Mapped[int | None] = mapped_column(Integer, comment="Pixels, as sent.")
    height: Mapped[int | None] = mapped_column(Integer, comment="Pixels, as sent.")
    image_key: Mapped[str | None] = mapped_column(Text, comment="S3 key of the page image.")
    source: Mapped[str | None] = mapped_column(
        Text, comment="original, embedded (scan taken from the PDF), rendered or reencoded."
    )
    notes: Mapped[list[Any]] = mapped_column(
        server_default=text("'[]'::jsonb"), comment="What normalising changed."
    )
    state: Mapped[str] = _state(PageState.READY, "ready, submitting, submitted, persisting, …")
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed, for the operator.")
    error_code: Mapped[str | None] = mapped_column(Text, comment="Provider error code or our slug.")
    submit_attempts: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="create_task calls made for this page."
    )
    retries: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="Transient failures met at the current stage."
    )
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="Last state change."
    )


class ProviderTask(Base):
    """A task created at the provider for a page, and how it was polled."""

    __tablename__ = "provider_tasks"
    __table_args__ = (
        UniqueConstraint("api", "task_id"),
        Index(
            "ix_provider_tasks_due",
            "next_poll_at",
            postgresql_where=text("state = 'running'"),
        ),
        {"comment": "create_task answers: one row per task id the provider gave us."},
    )

    id: Mapped[int] = _id()
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"), index=True)
    api: Mapped[str] = mapped_column(Text, comment="Provider API, e.g. correct_edu.")
    key_id: Mapped[str] = mapped_column(
        Text, comment="Which API key created it: a fingerprint, never the key itself."
    )
    task_id: Mapped[str] = mapped_column(Text, comment="The provider's task id.")
    log_id: Mapped[Decimal | None] = mapped_column(
        Numeric(20, 0), comment="Provider log id of the create_task answer."
    )
    state: Mapped[str] = _state(TaskState.RUNNING, "running, finished or failed.")
    submitted_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="When create_task answered."
    )
    next_poll_at: Mapped[datetime | None] = mapped_column(comment="When to ask get_result next.")
    lease_until: Mapped[datetime | None] = mapped_column(
        comment="A poll was dispatched; dispatch again only after this."
    )
    polls: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="get_result calls made."
    )
    finished_at: Mapped[datetime | None] = mapped_column(
        comment="When get_result first showed it finished."
    )
    raw_key: Mapped[str | None] = mapped_column(Text, comment="S3 key of the final raw answer.")
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed.")
    error_code: Mapped[str | None] = mapped_column(Text, comment="Provider error code.")


class Question(Base):
    """One question the provider found on a page, with its grade."""

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("page_id", "image_index", "sequence"),
        {"comment": "Questions found on a page (correct_edu imageResults[].result[])."},
    )

    id: Mapped[int] = _id()
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    provider_task_id: Mapped[int] = mapped_column(
        ForeignKey("provider_tasks.id", ondelete="CASCADE"), index=True
    )
    image_index: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="Index in imageResults (0 for one image a page)."
    )
    sequence: Mapped[int] = mapped_column(
        Integer, comment="Order on the page, 0-based (provider's seqence)."
    )
    question_uid: Mapped[str | None] = mapped_column(Text, comment="Provider's questionId.")
    question_text: Mapped[str | None] = mapped_column(Text, comment="Question text; often empty.")
    type: Mapped[int | None] = mapped_column(
        Integer, comment="Question type code; see question_types."
    )
    correct_result: Mapped[int | None] = mapped_column(
        Integer, comment="0 not graded, 1 correct, 2 wrong, 3 unanswered; see correct_results."
    )
    is_finished: Mapped[bool | None] = mapped_column(comment="Provider's isFinish.")
    subject: Mapped[str | None] = mapped_column(
        Text, comment="Page subject (paperSubject): math, english, chinese, …"
    )
    area: Mapped[list[Any] | None] = mapped_column(
        comment="questionArea: list of {left_x,left_y,right_x,right_y} boxes, pixels."
    )
    crop_key: Mapped[str | None] = mapped_column(
        Text, comment="S3 key of the graded question image (cropUrl), once archived."
    )
    extra: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"), comment="Provider fields with no column yet."
    )


class Slot(Base):
    """One answer slot of a question, with its grade and the reason given."""

    __tablename__ = "slots"
    __table_args__ = (
        UniqueConstraint("question_id", "sequence"),
        Index("ix_slots_page", "page_id"),
        {"comment": "Answer slots of each question (result[].slot[])."},
    )

    id: Mapped[int] = _id()
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"))
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in the question, 1-based.")
    slot_uid: Mapped[str | None] = mapped_column(Text, comment="Provider's slotId.")
    correct_result: Mapped[int | None] = mapped_column(
        Integer, comment="0 not graded, 1 correct, 2 wrong, 3 unanswered."
    )
    reason: Mapped[str | None] = mapped_column(Text, comment="Provider's grading explanation.")
    handwriting_area: Mapped[dict[str, Any] | None] = mapped_column(
        comment="handwritingArea: one {left_x,left_y,right_x,right_y} box, pixels."
    )
    extra: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"), comment="Provider fields with no column yet."
    )


class Artifact(Base):
    """An object that must be, or is, in S3: originals, pages, raw answers, result images."""

    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_page", "page_id"),
        Index(
            "ix_artifacts_pending", "source_expires_at", postgresql_where=text("state='pending'")
        ),
        {"comment": "Everything archived to S3, and result images still to be copied."},
    )

    id: Mapped[int] = _id()
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id", ondelete="CASCADE"))
    provider_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_tasks.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(
        Text, comment="original, page_image, raw_result, result_image or crop."
    )
    s3_key: Mapped[str] = mapped_column(Text, unique=True, comment="Object key in the bucket.")
    state: Mapped[str] = _state(ArtifactState.PENDING, "pending, archived or lost.")
    sha256: Mapped[str | None] = mapped_column(Text, comment="Hex SHA-256 of the object.")
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, comment="Object size.")
    content_type: Mapped[str | None] = mapped_column(Text, comment="MIME type.")
    source_url: Mapped[str | None] = mapped_column(
        Text, comment="Where it was copied from, without the signature."
    )
    source_expires_at: Mapped[datetime | None] = mapped_column(
        comment="When the provider's signed URL stops working."
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", comment="Copy attempts.")
    error: Mapped[str | None] = mapped_column(Text, comment="Why it is lost or still pending.")
    created_at: Mapped[datetime] = _created()
    archived_at: Mapped[datetime | None] = mapped_column(comment="When it reached S3.")
