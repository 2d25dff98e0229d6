"""Reading each API's answers into rows: one module per API, one :class:`Handler` each."""

from __future__ import annotations

from typing import Any

from pipeline.domain.rows import composition, correct_edu, ocr, paper_cut
from pipeline.domain.rows.base import Answer, Handler, ResultImage
from pipeline.settings import Api

HANDLERS: dict[Api, Handler[Any]] = {
    "correct_edu": correct_edu.HANDLER,
    "paper_cut": paper_cut.HANDLER,
    "composition": composition.HANDLER,
    "formula": ocr.HANDLER,
    "custom_ocr": ocr.HANDLER,
}


def handler(api: str) -> Handler[Any]:
    """The handler of an API by its ``--api`` name."""
    return HANDLERS[api]  # type: ignore[index]


__all__ = ["HANDLERS", "Answer", "Handler", "ResultImage", "handler"]
