"""formula and custom_ocr answers → ``ocr_words`` (text lines and formulas, in order)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import OcrWord
from pipeline.adapters.provider.responses.ocr import OcrAnswer, Word
from pipeline.domain.rows.base import ENVELOPE, Answer, Handler, ResultImage

_LISTS = frozenset({"words_result", "words_results", "formula_result"})


def _task_fields(answer: Answer) -> dict[str, Any]:
    return {"result_meta": {k: v for k, v in answer.items() if k not in ENVELOPE | _LISTS}}


def _images(raw_key: str, answer: OcrAnswer) -> dict[str, ResultImage]:
    return {}


def _row(page_id: int, task_row_id: int, kind: str, sequence: int, word: Word) -> dict[str, Any]:
    location = word.location
    extra = word.extra()
    if location is not None and location.extra():
        extra["location"] = location.extra()
    return {
        "page_id": page_id,
        "provider_task_id": task_row_id,
        "kind": kind,
        "sequence": sequence,
        "text": word.words,
        "left": location.left if location else None,
        "top": location.top if location else None,
        "width": location.width if location else None,
        "height": location.height if location else None,
        "score": word.score,
        "chars": word.chars,
        "extra": extra,
    }


def _write(session: Session, page_id: int, task_row_id: int, parsed: OcrAnswer) -> None:
    session.execute(delete(OcrWord).where(OcrWord.page_id == page_id))
    rows = [_row(page_id, task_row_id, "word", i, w) for i, w in enumerate(parsed.words)]
    rows += [_row(page_id, task_row_id, "formula", i, w) for i, w in enumerate(parsed.formulas)]
    if rows:
        session.execute(insert(OcrWord), rows)


HANDLER = Handler(
    parse=OcrAnswer.model_validate, task_fields=_task_fields, write=_write, images=_images
)
