r"""The work's tables: batches, classes and students, documents, pages and provider tasks.

One row per thing the pipeline moves through its states; the states themselves live in
``states.py``. Imported through ``models.py``, which registers every table in order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.adapters.db.base import Base, created_column, fk_column, id_column, state_column
from pipeline.adapters.db.states import BatchState, DocumentState, PageState, TaskState


class Batch(Base):
    """One run of ``scangrade enqueue`` over a directory."""

    __tablename__ = "batches"
    __table_args__ = ({"comment": "One night's directory of scans, enqueued together."},)

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(Text, unique=True, comment="Operator-given or dated name.")
    root_dir: Mapped[str] = mapped_column(Text, comment="The scanned directory, as given.")
    api: Mapped[str] = mapped_column(Text, comment="Provider API the pages go to.")
    options: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"), comment="API options the pages are sent with."
    )
    state: Mapped[str] = state_column(BatchState.RUNNING, "running, or done once every page ended.")
    created_at: Mapped[datetime] = created_column()
    finished_at: Mapped[datetime | None] = mapped_column(
        comment="When the last page reached done or failed."
    )
    cancelled_at: Mapped[datetime | None] = mapped_column(
        comment="When the operator cancelled the batch: pages not yet sent are failed "
        "(error_code cancelled); pages already sent finish."
    )
    notify_url: Mapped[str | None] = mapped_column(
        Text, comment="Where the batch's summary is POSTed (JSON) when it ends."
    )
    notified_at: Mapped[datetime | None] = mapped_column(
        comment="When notify_url accepted the summary."
    )


class SchoolClass(Base):
    """A school class: the students' group in reports and views."""

    __tablename__ = "classes"
    __table_args__ = ({"comment": "School classes the students belong to."},)

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(Text, unique=True, comment="e.g. 7A.")
    created_at: Mapped[datetime] = created_column()


class Student(Base):
    """A student, as a manifest, a roster or a ``<class>/<student>/`` folder names them."""

    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("class_id", "code"),
        {"comment": "Students, from manifests, rosters and the <class>/<student>/ folders."},
    )

    id: Mapped[int] = id_column()
    class_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("classes.id", ondelete="RESTRICT"),
        comment="The class (classes.id).",
    )
    code: Mapped[str] = mapped_column(
        Text,
        comment="The school's student id (manifest, roster), or the student's folder name.",
    )
    name: Mapped[str] = mapped_column(Text, comment="The name teachers read.")
    created_at: Mapped[datetime] = created_column()


class Document(Base):
    """A scanned file (PDF, image) or a folder of images that belong together."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("batch_id", "rel_path", "version"),
        Index("ix_documents_content", "sha256", "api"),
        Index("ix_documents_batch_state", "batch_id", "state"),
        Index("ix_documents_state_updated", "state", "updated_at"),
        Index(
            "ix_documents_current",
            "batch_id",
            "rel_path",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
        {"comment": "Each file or image-set folder found in a batch's directory."},
    )

    id: Mapped[int] = id_column()
    batch_id: Mapped[int] = fk_column("batches.id", "The batch it was found in.")
    rel_path: Mapped[str] = mapped_column(
        Text, comment="Path relative to the batch directory (POSIX separators)."
    )
    kind: Mapped[str] = mapped_column(
        Text,
        comment="pdf, image, image_set, rejected (never taken from the directory) or missing "
        "(a folder holding no scans: error_code empty_folder).",
    )
    api: Mapped[str] = mapped_column(
        Text, comment="Provider API its pages go to (batch default, or the manifest's rule)."
    )
    options: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"),
        comment="Provider options its pages are sent with, as the provider spells them.",
    )
    sha256: Mapped[str | None] = mapped_column(
        Text, comment="Hex SHA-256 of the file (image sets: of their members' digests)."
    )
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, comment="Size on disk.")
    original_keys: Mapped[list[Any]] = mapped_column(
        server_default=text("'[]'::jsonb"), comment="S3 keys of the original file(s), in order."
    )
    state: Mapped[str] = state_column(
        DocumentState.PENDING,
        "pending, ingesting, ingested, failed, or skipped (already sent: duplicate_of).",
    )
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed, for the operator.")
    error_code: Mapped[str | None] = mapped_column(Text, comment="Stable slug of the failure.")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0", comment="Ingest attempts.")
    page_count: Mapped[int | None] = mapped_column(Integer, comment="Pages found when ingested.")
    duplicate_of: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("documents.id", ondelete="SET NULL"),
        comment="The earlier document with the same content, API and options, when this "
        "one was skipped (state skipped) rather than sent again.",
    )
    class_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("classes.id", ondelete="SET NULL"),
        comment="The class of the whole document, when known (its student's, or the "
        "roster's for a class scanned as one PDF).",
    )
    student_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("students.id", ondelete="SET NULL"),
        comment="The student of the whole document; NULL for a roster split or no match.",
    )
    assignment: Mapped[str | None] = mapped_column(Text, comment="The work, from the manifest.")
    owner_source: Mapped[str | None] = mapped_column(
        Text,
        comment="How its student(s) were found: manifest, directory or roster; NULL "
        "when unmatched.",
    )
    pages_per_student: Mapped[int | None] = mapped_column(
        Integer, comment="A class scanned as one file: pages per student, in roster order."
    )
    roster: Mapped[list[Any]] = mapped_column(
        server_default=text("'[]'::jsonb"),
        comment="students.id in scan order, for pages_per_student.",
    )
    skip_blank: Mapped[bool] = mapped_column(
        server_default=text("true"), comment="Whether blank pages are skipped rather than sent."
    )
    version: Mapped[int] = mapped_column(
        Integer,
        server_default="1",
        comment="1 for the first file found at rel_path in the batch; a rescan (new "
        "content at the same path) is the next version.",
    )
    superseded_by: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("documents.id", ondelete="SET NULL"),
        comment="The newer version (documents.id) that replaced this one: a rescan at the "
        "same path. Its pages are kept but left out of the views, the report and status.",
    )
    superseded_at: Mapped[datetime | None] = mapped_column(
        comment="When a rescan replaced this version; NULL for the current version."
    )
    created_at: Mapped[datetime] = created_column()
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
        # A student's labelled pages of an assignment: their order, gaps and duplicates.
        Index(
            "ix_pages_label",
            "batch_id",
            "student_id",
            "label_assignment",
            "label_page",
            postgresql_where=text("label_page IS NOT NULL"),
        ),
        {"comment": "Each page of each document, normalised to the provider's limits."},
    )

    id: Mapped[int] = id_column()
    batch_id: Mapped[int] = fk_column("batches.id", "The batch the page belongs to.")
    document_id: Mapped[int] = fk_column("documents.id", "The scanned file the page comes from.")
    page_no: Mapped[int] = mapped_column(Integer, comment="1-based page number in the document.")
    sha256: Mapped[str | None] = mapped_column(Text, comment="Hex SHA-256 of the page image.")
    width: Mapped[int | None] = mapped_column(Integer, comment="Pixels, as sent.")
    height: Mapped[int | None] = mapped_column(Integer, comment="Pixels, as sent.")
    image_key: Mapped[str | None] = mapped_column(
        Text, comment="S3 key of the page as sent (an image, or a one-page PDF)."
    )
    content_type: Mapped[str | None] = mapped_column(
        Text, comment="MIME type of the page as sent: image/jpeg, image/png, application/pdf…"
    )
    source: Mapped[str | None] = mapped_column(
        Text,
        comment="original, embedded (scan taken from the PDF), rendered, reencoded, "
        "or pdf_page (a one-page PDF cut from the scan, not rasterised).",
    )
    notes: Mapped[list[Any]] = mapped_column(
        server_default=text("'[]'::jsonb"), comment="What normalising changed."
    )
    state: Mapped[str] = state_column(
        PageState.READY,
        "ready, submitting, submitted, persisting, archiving, done, failed, or skipped "
        "(blank: never sent).",
    )
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed, for the operator.")
    error_code: Mapped[str | None] = mapped_column(Text, comment="Provider error code or our slug.")
    submit_attempts: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="create_task calls made for this page."
    )
    retries: Mapped[int] = mapped_column(
        Integer, server_default="0", comment="Transient failures met at the current stage."
    )
    ambiguous_submits: Mapped[int] = mapped_column(
        Integer,
        server_default="0",
        comment="create_task calls repeated because the provider may have accepted the "
        "page already (a lost answer or a crash before its task id was committed).",
    )
    student_id: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("students.id", ondelete="SET NULL"),
        index=True,
        comment="Whose page it is; NULL when no student matched (listed, never guessed).",
    )
    ink_ratio: Mapped[float | None] = mapped_column(
        comment="Share of the page that is ink, measured at ingest; under the blank "
        "threshold the page is skipped (error_code blank) and never sent."
    )
    label_code: Mapped[str | None] = mapped_column(
        Text,
        comment="The text of the page's label code as read (SG1|class|student|assignment|"
        "page/pages|crc), checked; its student is the page's, ahead of the manifest, the "
        "folders and the roster. NULL when no valid label was found.",
    )
    label_assignment: Mapped[str | None] = mapped_column(
        Text, comment="The assignment the page's label names; NULL without a label."
    )
    label_page: Mapped[int | None] = mapped_column(
        Integer,
        comment="Which page of the student's assignment the label says it is (1-based): "
        "the page's place, whatever order it was scanned in.",
    )
    label_pages: Mapped[int | None] = mapped_column(
        Integer, comment="How many pages the label says the student's assignment has."
    )
    label_turn: Mapped[int | None] = mapped_column(
        Integer,
        comment="Degrees the page was turned clockwise before it was stored and sent, so "
        "that its label (and so the page) is upright: 0, 90, 180 or 270; NULL without a label.",
    )
    label_replaced_by: Mapped[int | None] = mapped_column(
        BigInteger,
        ForeignKey("pages.id", ondelete="SET NULL"),
        comment="A later scan (pages.id) with the same label: it replaces this page, which "
        "is kept, left out of the views, and not sent if it had not been yet "
        "(error_code label_replaced).",
    )
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="Last state change."
    )


class ProviderTask(Base):
    """A task created at the provider for a page, and how it was polled."""

    __tablename__ = "provider_tasks"
    __table_args__ = (
        # A task is its key, API and the provider's id; a row whose id the provider handed
        # out again (id_reused_at) keeps its results but no longer holds the identity.
        Index(
            "ux_provider_tasks_identity",
            "api",
            "key_id",
            "task_id",
            unique=True,
            postgresql_where=text("id_reused_at IS NULL"),
        ),
        # A page's latest task is one probe (page_id, then the newest id).
        Index("ix_provider_tasks_page_latest", "page_id", "id"),
        Index(
            "ix_provider_tasks_due",
            "api",
            "key_id",
            "next_poll_at",
            postgresql_where=text("state = 'running'"),
        ),
        {"comment": "create_task answers: one row per task id the provider gave us."},
    )

    id: Mapped[int] = id_column()
    page_id: Mapped[int] = fk_column("pages.id", "The page sent.")
    api: Mapped[str] = mapped_column(Text, comment="Provider API, e.g. correct_edu.")
    mode: Mapped[str] = mapped_column(
        Text,
        server_default="async",
        comment="async (create_task, then get_result) or sync (one call answered).",
    )
    key_id: Mapped[str] = mapped_column(
        Text, comment="Which API key created it: a fingerprint, never the key itself."
    )
    task_id: Mapped[str] = mapped_column(Text, comment="The provider's task id.")
    log_id: Mapped[str | None] = mapped_column(
        Text, comment="Provider log id of the create_task answer (digits; up to 32 of them)."
    )
    state: Mapped[str] = state_column(TaskState.RUNNING, "running, finished or failed.")
    submitted_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="When create_task answered."
    )
    next_poll_at: Mapped[datetime | None] = mapped_column(comment="When to ask get_result next.")
    lease_until: Mapped[datetime | None] = mapped_column(
        comment="A poll was dispatched; dispatch again only after this."
    )
    polls: Mapped[int] = mapped_column(
        Integer,
        server_default="0",
        comment="get_result answers received (quota refusals not counted).",
    )
    last_pending_at: Mapped[datetime | None] = mapped_column(
        comment="When get_result last answered that the task was still running."
    )
    finished_at: Mapped[datetime | None] = mapped_column(
        comment="When get_result first showed it finished."
    )
    raw_key: Mapped[str | None] = mapped_column(Text, comment="S3 key of the final raw answer.")
    status: Mapped[str | None] = mapped_column(
        Text, comment="Last status the provider gave, as spelt (pending, running, Success…)."
    )
    provider_created_at: Mapped[datetime | None] = mapped_column(
        comment="created_time of the task, by the provider's clock."
    )
    provider_started_at: Mapped[datetime | None] = mapped_column(
        comment="started_time of the task, by the provider's clock."
    )
    provider_finished_at: Mapped[datetime | None] = mapped_column(
        comment="finished_time of the task, by the provider's clock."
    )
    duration_ms: Mapped[int | None] = mapped_column(
        BigInteger, comment="duration of the task as the provider reports it, milliseconds."
    )
    result_meta: Mapped[dict[str, Any]] = mapped_column(
        server_default=text("'{}'::jsonb"),
        comment="Answer-level fields with no column (stat_result, counts, direction, …).",
    )
    error: Mapped[str | None] = mapped_column(Text, comment="Why it failed.")
    error_code: Mapped[str | None] = mapped_column(Text, comment="Provider error code.")
    id_reused_at: Mapped[datetime | None] = mapped_column(
        comment="When the provider handed this task's id to another create_task: the row "
        "keeps its results but no longer names the task at the provider."
    )
    result_rows: Mapped[int | None] = mapped_column(
        Integer,
        comment="Result rows persist wrote from its answer (questions, paper_questions, "
        "essays, ocr_words); NULL until persisted. 0: the answer held none.",
    )
