r"""correct_edu's result tables: the questions graded on a page and their answer slots.

The other APIs' result tables live in ``api_tables.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.adapters.db.base import Base, fk_column, id_column


class Question(Base):
    """One question the provider found on a page, with its grade."""

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("page_id", "image_index", "sequence"),
        {"comment": "Questions found on a page (correct_edu imageResults[].result[])."},
    )

    id: Mapped[int] = id_column()
    page_id: Mapped[int] = fk_column("pages.id", "The graded page.")
    provider_task_id: Mapped[int] = fk_column(
        "provider_tasks.id", "The task whose answer this row comes from.", index=True
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

    id: Mapped[int] = id_column()
    question_id: Mapped[int] = fk_column("questions.id", "The question the slot belongs to.")
    page_id: Mapped[int] = fk_column("pages.id", "The graded page (saves a join).")
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
