"""correct_edu answers → ``questions`` and ``slots``; marked page and crops to archive.

Rows are upserted on their natural keys (page, image, sequence), so a re-delivered or
replayed answer rewrites the same rows instead of adding new ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Question, Slot
from pipeline.adapters.provider.responses.correct_edu import CorrectEduResult, ImageResult
from pipeline.adapters.provider.responses.correct_edu import Question as QuestionAnswer
from pipeline.adapters.provider.responses.correct_edu import Slot as SlotAnswer
from pipeline.domain.rows.base import ENVELOPE, Answer, Handler, ResultImage, result_dir


def crop_key(raw_key: str, image_index: int, sequence: int) -> str:
    """Where a question's graded crop is archived (beside the raw answer)."""
    return f"{result_dir(raw_key)}/crops/{image_index}-{sequence:03d}.png"


def image_key(raw_key: str, image_index: int) -> str:
    """Where the graded page image is archived."""
    return f"{result_dir(raw_key)}/image-{image_index}.png"


def _task_fields(answer: Answer) -> dict[str, Any]:
    meta = {k: v for k, v in answer.items() if k not in ENVELOPE | {"imageResults"}}
    return {"result_meta": meta}


def _images(raw_key: str, result: CorrectEduResult) -> dict[str, ResultImage]:
    urls: dict[str, ResultImage] = {}
    for index, image in enumerate(result.images):
        if image.image_url:
            urls[image_key(raw_key, index)] = ResultImage(image.image_url, "result_image", index)
        for question in image.questions:
            if question.crop_url:
                key = crop_key(raw_key, index, question.sequence)
                urls[key] = ResultImage(question.crop_url, "crop", index, question.sequence)
    return urls


_QUESTION_FIELDS = (
    "provider_task_id",
    "question_uid",
    "question_text",
    "type",
    "correct_result",
    "is_finished",
    "subject",
    "area",
    "extra",
)
_SLOT_FIELDS = ("page_id", "slot_uid", "correct_result", "reason", "handwriting_area", "extra")
_QuestionKey = tuple[int, int]
"""(image index, sequence): a question's place on its page."""


def _write(session: Session, page_id: int, task_row_id: int, result: CorrectEduResult) -> None:
    """Every question, then every slot, in one upsert each (a page has a few dozen rows).

    A question or slot given twice keeps the last of its values, as row-by-row upserts would.
    """
    session.execute(
        delete(Question).where(
            Question.page_id == page_id, Question.provider_task_id != task_row_id
        )
    )
    questions: dict[_QuestionKey, dict[str, Any]] = {}
    slots: dict[_QuestionKey, dict[int, dict[str, Any]]] = {}
    for index, image in enumerate(result.images):
        image_fields = {"imageId": image.image_id, **image.extra()}
        for question in image.questions:
            key = (index, question.sequence)
            questions[key] = {
                "page_id": page_id,
                "image_index": index,
                "sequence": question.sequence,
                "provider_task_id": task_row_id,
                **_question_values(image, image_fields, question),
            }
            by_sequence = slots.setdefault(key, {})
            for slot in question.slots:
                by_sequence[slot.sequence] = _slot_values(page_id, slot)
    if not questions:
        return
    ids = _upsert_questions(session, list(questions.values()))
    rows = [
        {"question_id": ids[key], "sequence": sequence, **values}
        for key, by_sequence in slots.items()
        for sequence, values in by_sequence.items()
    ]
    if rows:
        stmt = insert(Slot)
        upsert = stmt.on_conflict_do_update(
            index_elements=["question_id", "sequence"],
            set_={name: stmt.excluded[name] for name in _SLOT_FIELDS},
        )
        session.connection().execute(upsert, rows)


def _question_values(
    image: ImageResult, image_fields: dict[str, Any], question: QuestionAnswer
) -> dict[str, Any]:
    return {
        "question_uid": question.question_id,
        "question_text": question.question,
        "type": question.type,
        "correct_result": question.correct_result,
        "is_finished": question.is_finish,
        "subject": image.subject,
        "area": [box.model_dump() for box in question.area],
        "extra": question.extra() | {"image": image_fields},
    }


def _slot_values(page_id: int, slot: SlotAnswer) -> dict[str, Any]:
    return {
        "page_id": page_id,
        "slot_uid": slot.slot_id,
        "correct_result": slot.correct_result,
        "reason": slot.reason,
        "handwriting_area": slot.handwriting_area.model_dump() if slot.handwriting_area else None,
        "extra": slot.extra(),
    }


def _upsert_questions(session: Session, rows: list[dict[str, Any]]) -> dict[_QuestionKey, int]:
    """Insert or update the questions; each one's id by its place on the page."""
    stmt = insert(Question)
    upsert = stmt.on_conflict_do_update(
        index_elements=["page_id", "image_index", "sequence"],
        set_={name: stmt.excluded[name] for name in _QUESTION_FIELDS},
    ).returning(Question.id, Question.image_index, Question.sequence)
    result = session.connection().execute(upsert, rows)
    return {(index, sequence): row_id for row_id, index, sequence in result}


HANDLER = Handler(
    parse=CorrectEduResult.model_validate, task_fields=_task_fields, write=_write, images=_images
)
