"""paper_cut answers → ``paper_questions`` and ``paper_answers``; the enhanced page to archive.

A page's rows are replaced as a whole (the page is locked while persisting), so a replayed
answer leaves exactly the rows the first one did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import PaperAnswer, PaperQuestion
from pipeline.adapters.provider.responses.paper_cut import Cut, PaperCutAnswer, Question
from pipeline.domain.rows.base import (
    Answer,
    Handler,
    ResultImage,
    result_dir,
    task_info_fields,
)

_CUT_FIELDS = frozenset({"enhance_url", "qus_result", "qus_results"})


def enhanced_key(raw_key: str) -> str:
    """Where the provider's corrected ("enhanced") page image is archived."""
    return f"{result_dir(raw_key)}/enhanced.png"


def _task_fields(answer: Answer) -> dict[str, Any]:
    return task_info_fields(answer, _CUT_FIELDS)


def _images(raw_key: str, answer: PaperCutAnswer) -> dict[str, ResultImage]:
    url = answer.cut.enhance_url
    return {enhanced_key(raw_key): ResultImage(url, "enhanced_image")} if url else {}


def _write(session: Session, page_id: int, task_row_id: int, answer: PaperCutAnswer) -> None:
    cut: Cut = answer.cut
    session.execute(delete(PaperQuestion).where(PaperQuestion.page_id == page_id))
    for sequence, question in enumerate(cut.questions):
        question_id = session.scalar(
            insert(PaperQuestion)
            .values(_question_row(page_id, task_row_id, sequence, question))
            .returning(PaperQuestion.id)
        )
        answers = question.elements.answers if question.elements else []
        if answers:
            session.execute(
                insert(PaperAnswer),
                [
                    {
                        "question_id": question_id,
                        "page_id": page_id,
                        "sequence": index,
                        "number": answer.number,
                        "answer": answer.answer,
                        "extra": answer.extra(),
                    }
                    for index, answer in enumerate(answers)
                ],
            )


def _question_row(
    page_id: int, task_row_id: int, sequence: int, question: Question
) -> dict[str, Any]:
    elements = question.elements
    extra = question.extra() | {"location": question.location.extra()}
    if elements is not None:
        extra["elements"] = elements.extra()
    return {
        "page_id": page_id,
        "provider_task_id": task_row_id,
        "sequence": sequence,
        "number": None if question.number is None else str(question.number),
        "question_type": elements.type if elements else None,
        "question_text": elements.words if elements else None,
        "choices": elements.choices if elements else [],
        "question_boxes": [box.model_dump() for box in question.location.question],
        "picture_boxes": [box.model_dump() for box in question.location.picture],
        "answer_boxes": [box.model_dump() for box in question.location.answer],
        "extra": {k: v for k, v in extra.items() if v},
    }


HANDLER = Handler(
    parse=PaperCutAnswer.model_validate, task_fields=_task_fields, write=_write, images=_images
)
