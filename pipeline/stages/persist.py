"""Persist: turn a finished task's raw answer (read back from S3) into question and slot rows.

Rows are upserted on their natural keys (page, image, sequence), so a re-delivered or
replayed answer rewrites the same rows instead of adding new ones. Result images are recorded
as pending artifacts here and copied by the archive stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from pipeline import nudges
from pipeline.db.models import Artifact, Page, ProviderTask, Question, Slot
from pipeline.db.session import session_scope
from pipeline.db.states import PageState
from pipeline.db.transitions import move
from pipeline.provider.client import strip_query
from pipeline.provider.models import CorrectEduResult, ImageResult, signed_url_expiry
from pipeline.storage import ObjectStore


@dataclass(frozen=True)
class ResultImage:
    """A signed result URL, and the question it belongs to (None: the whole page)."""

    url: str
    image_index: int
    sequence: int | None


def crop_key(raw_key: str, image_index: int, sequence: int) -> str:
    """Where a question's graded crop is archived (beside the raw answer)."""
    return f"{raw_key.rsplit('/', 1)[0]}/crops/{image_index}-{sequence:03d}.png"


def image_key(raw_key: str, image_index: int) -> str:
    """Where the graded page image is archived."""
    return f"{raw_key.rsplit('/', 1)[0]}/image-{image_index}.png"


def result_urls(raw_key: str, result: CorrectEduResult) -> dict[str, ResultImage]:
    """S3 key -> where to copy it from, for every result image in an answer."""
    urls: dict[str, ResultImage] = {}
    for index, image in enumerate(result.images):
        if image.image_url:
            urls[image_key(raw_key, index)] = ResultImage(image.image_url, index, None)
        for question in image.questions:
            if question.crop_url:
                key = crop_key(raw_key, index, question.sequence)
                urls[key] = ResultImage(question.crop_url, index, question.sequence)
    return urls


def persist_task(task_row_id: int, store: ObjectStore) -> bool:
    """Write the rows of a finished task; False if its page is not waiting for that."""
    with session_scope() as session:
        task = session.get_one(ProviderTask, task_row_id)
        page = session.get_one(Page, task.page_id)
        if page.state != PageState.PERSISTING or task.raw_key is None:
            return False
        raw_key = task.raw_key
    result = CorrectEduResult.model_validate(json.loads(store.get(raw_key)))
    with session_scope() as session:
        page = session.get_one(Page, task.page_id, with_for_update=True)
        if page.state != PageState.PERSISTING:
            return False
        session.execute(
            delete(Question).where(
                Question.page_id == page.id, Question.provider_task_id != task_row_id
            )
        )
        for index, image in enumerate(result.images):
            _write_image(session, page, task_row_id, index, image)
        _record_result_images(session, page, task_row_id, raw_key, result)
        move(session, Page, page.id, PageState.PERSISTING, PageState.ARCHIVING)
    nudges.send("archive", [task_row_id])
    return True


def _write_image(
    session: Session, page: Page, task_row_id: int, index: int, image: ImageResult
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
            page_id=page.id, image_index=index, sequence=question.sequence, **values
        )
        question_id = session.scalar(
            stmt.on_conflict_do_update(
                index_elements=["page_id", "image_index", "sequence"], set_=values
            ).returning(Question.id)
        )
        for slot in question.slots:
            slot_values: dict[str, Any] = {
                "page_id": page.id,
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


def _record_result_images(
    session: Session, page: Page, task_row_id: int, raw_key: str, result: CorrectEduResult
) -> None:
    known = set(
        session.scalars(select(Artifact.s3_key).where(Artifact.provider_task_id == task_row_id))
    )
    for key, image in result_urls(raw_key, result).items():
        if key in known:
            continue
        session.execute(
            insert(Artifact)
            .values(
                batch_id=page.batch_id,
                document_id=page.document_id,
                page_id=page.id,
                provider_task_id=task_row_id,
                kind="result_image" if image.sequence is None else "crop",
                s3_key=key,
                source_url=strip_query(image.url),
                source_expires_at=signed_url_expiry(image.url),
                content_type="image/png",
            )
            .on_conflict_do_nothing(index_elements=["s3_key"])
        )
