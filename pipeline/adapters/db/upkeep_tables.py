r"""The bookkeeping tables: what is archived to S3, and what the reconciler repaired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.adapters.db.base import Base, created_column, fk_column, id_column, state_column
from pipeline.adapters.db.states import ArtifactState


class Artifact(Base):
    """An object that must be, or is, in S3: originals, pages, raw answers, result images."""

    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_page", "page_id"),
        Index("ix_artifacts_task", "provider_task_id"),
        Index(
            "ix_artifacts_pending", "source_expires_at", postgresql_where=text("state='pending'")
        ),
        {"comment": "Everything archived to S3, and result images still to be copied."},
    )

    id: Mapped[int] = id_column()
    batch_id: Mapped[int] = fk_column("batches.id", "The batch the object belongs to.")
    document_id: Mapped[int | None] = fk_column(
        "documents.id", "Its document, if any.", nullable=True
    )
    page_id: Mapped[int | None] = fk_column("pages.id", "Its page, if any.", nullable=True)
    provider_task_id: Mapped[int | None] = fk_column(
        "provider_tasks.id", "The task whose answer it comes from, if any.", nullable=True
    )
    kind: Mapped[str] = mapped_column(
        Text,
        comment="original, page_image, raw_result, result_image, crop or enhanced_image.",
    )
    s3_key: Mapped[str] = mapped_column(Text, unique=True, comment="Object key in the bucket.")
    state: Mapped[str] = state_column(ArtifactState.PENDING, "pending, archived or lost.")
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
    created_at: Mapped[datetime] = created_column()
    archived_at: Mapped[datetime | None] = mapped_column(comment="When it reached S3.")


class Repair(Base):
    """How many rows of a batch the reconciler repaired, by kind (``scangrade check``)."""

    __tablename__ = "repairs"
    __table_args__ = (
        {
            "comment": "Rows the reconciler repaired because their state was not backed by "
            "their other rows, by batch and kind."
        },
    )

    batch_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("batches.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The batch whose rows were repaired.",
    )
    kind: Mapped[str] = mapped_column(
        Text,
        primary_key=True,
        comment="The repair: resubmitted, repersisted, persist_nudged, page_failed, "
        "reingested or batch_closed (docs/operating.md).",
    )
    count: Mapped[int] = mapped_column(Integer, comment="Rows repaired so far.")
    last_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="When the last one was repaired."
    )
