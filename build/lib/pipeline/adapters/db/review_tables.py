r"""The teachers' review tables: accounts, the classes they see, and their grade overrides.

``grade_overrides`` is an append-only history (a trigger refuses UPDATE and DELETE): one row
per change a teacher made, keyed by the natural keys of the question or slot, never by
``questions.id`` or ``slots.id``, so that an override outlives ``scangrade replay``, which
writes the result rows again with new ids. The provider's rows are never changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.adapters.db.base import Base, created_column, fk_column, id_column

ROLES: Final = ("admin", "teacher")
"""``users.role``: an admin sees and grades every class, a teacher those of user_classes."""

TEACHER_GRADES: Final = ("correct", "wrong", "partial")
"""``grade_overrides.grade``, besides NULL (the override withdrawn)."""


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class User(Base):
    """An account of the review app: a teacher, or an admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", ROLES), name="ck_users_role"),
        {"comment": "Accounts of the teachers' review app (scangrade users add|list|disable)."},
    )

    id: Mapped[int] = id_column()
    username: Mapped[str] = mapped_column(
        Text,
        unique=True,
        comment="The name the person signs in with (unique, disabled accounts included).",
    )
    password_hash: Mapped[str] = mapped_column(
        Text,
        comment="argon2id hash of the password (PHC string), never the password itself; "
        "analysts may not read it.",
    )
    role: Mapped[str] = mapped_column(
        Text,
        comment="admin (sees and grades every class) or teacher (the classes of user_classes).",
    )
    created_at: Mapped[datetime] = created_column()
    disabled_at: Mapped[datetime | None] = mapped_column(
        comment="When the account was disabled: it can no longer sign in or grade, and its "
        "overrides stay; NULL while active."
    )


class UserClass(Base):
    """A class a teacher may see and grade."""

    __tablename__ = "user_classes"
    __table_args__ = (
        {"comment": "The classes each teacher may see and grade; admins see every class."},
    )

    user_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        comment="The teacher (users.id).",
    )
    class_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("classes.id", ondelete="CASCADE"),
        primary_key=True,
        comment="A class the teacher may see and grade (classes.id).",
    )


class GradeOverride(Base):
    """One change of a grade by a teacher: a question's or a slot's, or its withdrawal."""

    __tablename__ = "grade_overrides"
    __table_args__ = (
        CheckConstraint(_one_of("grade", TEACHER_GRADES), name="ck_grade_overrides_grade"),
        Index("ix_grade_overrides_key", "page_id", "image_index", "question_seq", "slot_seq", "id"),
        {
            "comment": "Teachers' changes to grades, one row per change, never updated or "
            "deleted: the latest row of a (page_id, image_index, question_seq, slot_seq) is in "
            "force (v_grade_overrides_current)."
        },
    )

    id: Mapped[int] = id_column()
    page_id: Mapped[int] = fk_column("pages.id", "The graded page (pages.id).")
    image_index: Mapped[int] = mapped_column(
        Integer, comment="The question's questions.image_index on the page."
    )
    question_seq: Mapped[int] = mapped_column(
        Integer, comment="The question's questions.sequence on the page (0-based)."
    )
    slot_seq: Mapped[int | None] = mapped_column(
        Integer,
        comment="The slot's slots.sequence in the question (1-based); NULL: the whole "
        "question (its grade, and that of each slot without an override of its own).",
    )
    grade: Mapped[str | None] = mapped_column(
        Text,
        comment="The teacher's grade: correct, wrong or partial; NULL withdraws the override "
        "(back to the provider's grade).",
    )
    comment: Mapped[str | None] = mapped_column(Text, comment="Why, in the teacher's words.")
    user_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("users.id", ondelete="RESTRICT"),
        index=True,
        comment="Who made the change (users.id).",
    )
    created_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), comment="When the change was made."
    )
