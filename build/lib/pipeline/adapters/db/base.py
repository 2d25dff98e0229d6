"""The declarative base and the column helpers every table uses."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base: JSON columns are JSONB, timestamps carry their zone."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        datetime: DateTime(timezone=True),
    }


def id_column() -> Mapped[int]:
    """The surrogate key every table has."""
    return mapped_column(BigInteger, Identity(), primary_key=True, comment="Surrogate key.")


def fk_column(
    target: str, comment: str, *, nullable: bool = False, index: bool = False
) -> Mapped[Any]:
    """A reference to a parent row, deleted with it."""
    return mapped_column(
        ForeignKey(target, ondelete="CASCADE"), nullable=nullable, index=index, comment=comment
    )


def created_column() -> Mapped[datetime]:
    """When the row was inserted."""
    return mapped_column(server_default=func.now(), comment="When the row was inserted.")


def state_column(default: str, comment: str) -> Mapped[str]:
    """A life-cycle state, as text (the values live in ``states.py``)."""
    return mapped_column(Text, server_default=default, comment=comment)
