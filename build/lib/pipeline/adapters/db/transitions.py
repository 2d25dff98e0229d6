"""Compare-and-set state changes: the guard that makes every task idempotent."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import CursorResult, func, update
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Document, Page


def move(
    session: Session,
    model: type[Page] | type[Document],
    row_id: int,
    expected: str | Collection[str],
    new: str,
    **values: Any,
) -> bool:
    """Set ``new`` state if the row is in ``expected``; False means someone else acted."""
    states = [expected] if isinstance(expected, str) else list(expected)
    stmt = (
        update(model)
        .where(model.id == row_id, model.state.in_(states))
        .values(state=new, updated_at=func.now(), **values)
    )
    result: CursorResult[Any] = session.execute(stmt)  # type: ignore[assignment]
    return result.rowcount == 1
