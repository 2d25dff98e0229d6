"""correct_edu answers → ``questions`` and ``slots``; marked page and crops to archive.

Rows are upserted on their natural keys (page, image, sequence), so a re-delivered or
replayed answer rewrites the same rows instead of adding new ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline.db.models import Question, Slot
from pipeline.provider.answers.correct_edu import CorrectEduResult, ImageResult
from pipeline.results.base import ENVELOPE, Answer, Handler, ResultImage, result_dir


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


def _write(session: Session, page_id: int, task_row_id: int, result: CorrectEduResult) -> None:
    session.execute(
        delete(Question).where(
            Question.page_id == page_id, Question.provider_task_id != task_row_id
        )
    )
    for index, image in enumerate(result.images):
        _write_image(session, page_id, task_row_id, index, image)


def _write_image(
    session: Session, page_id: int, task_row_id: int, index: int, image: ImageResult
) -> None:
    image_fields = {"imageId": image.image_id, **image.extra()}
    for question in image.questions:
        values: dict[str, Any] = {
            "provider_task_id": task_row_id,
            "question_uid": question.question_id,
            "question_text": question.question,
            "type": question.type,
            "correct_result": question.correct_result,
            "is_finished": question.is_finish,
            "subject": image.subject,
            "area": [box.model_dump() for box in question.area],
            "extra": question.extra() | {"image": image_fields},
        }
        stmt = insert(Question).values(
            page_id=page_id, image_index=index, sequence=question.sequence, **values
        )
        question_id = session.scalar(
            stmt.on_conflict_do_update(
                index_elements=["page_id", "image_index", "sequence"], set_=values
            ).returning(Question.id)
        )
        for slot in question.slots:
            slot_values: dict[str, Any] = {
                "page_id": page_id,
                "slot_uid": slot.slot_id,
                "correct_result": slot.correct_result,
                "reason": slot.reason,
                "handwriting_area": slot.handwriting_area.model_dump()
                if slot.handwriting_area
                else None,
                "extra": slot.extra(),
            }
            session.execute(
                insert(Slot)
                .values(question_id=question_id, sequence=slot.sequence, **slot_values)
                .on_conflict_do_update(index_elements=["question_id", "sequence"], set_=slot_values)
            )


HANDLER = Handler(
    parse=CorrectEduResult.model_validate, task_fields=_task_fields, write=_write, images=_images
)
