"""The persister on the seed's own example answer, verbatim, checked field by field."""

from __future__ import annotations

import json

from sqlalchemy import select, update
from support.batches import record_finished_task

from pipeline.adapters.db.models import Artifact, Page, Question, Slot
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.settings import Settings
from pipeline.stages.persist import persist_task


def _page_with_finished_task(name: str, answer: bytes) -> tuple[int, int]:
    finished = record_finished_task(
        answer,
        api="correct_edu",
        rel_path="a.pdf",
        task_id=f"1996199501805445169-{name}",
        batch_name=name,
    )
    return finished.page_id, finished.task_row_id


def test_seed_example_lands_field_by_field(env: Settings, seed_answer: bytes) -> None:
    page_id, task_id = _page_with_finished_task("seed-example", seed_answer)
    assert persist_task(task_id, get_store())
    raw = json.loads(seed_answer)["imageResults"][0]
    with session_scope() as session:
        (question,) = session.scalars(select(Question).where(Question.page_id == page_id))
        slots = list(
            session.scalars(
                select(Slot).where(Slot.question_id == question.id).order_by(Slot.sequence)
            )
        )
        page = session.get_one(Page, page_id)
        artifacts = list(
            session.scalars(select(Artifact).where(Artifact.provider_task_id == task_id))
        )
    source = raw["result"][0]
    assert question.sequence == source["seqence"] == 0
    assert question.question_uid == source["questionId"]
    assert question.question_text == ""
    assert question.type == 4
    assert question.correct_result == 1
    assert question.is_finished is True
    assert question.subject == "english"
    assert question.area == source["questionArea"]
    assert question.extra["image"]["imageId"] == raw["imageId"]
    assert len(slots) == len(source["slot"]) == 10
    for slot, expected in zip(slots, source["slot"], strict=True):
        assert slot.sequence == expected["seqence"]
        assert slot.slot_uid == expected["slotId"]
        assert slot.correct_result == expected["correctResult"]
        assert slot.reason == expected["reason"]
        assert slot.handwriting_area == expected["handwritingArea"]
        assert slot.page_id == page_id
    assert page.state in {"archiving", "done"}
    assert {a.kind for a in artifacts} == {"crop", "result_image"}
    crop = next(a for a in artifacts if a.kind == "crop")
    assert crop.source_url is not None and "?" not in crop.source_url
    assert crop.source_expires_at is not None
    assert crop.source_expires_at.isoformat().startswith("2025-12-04T12:47:06")


def test_persisting_twice_adds_no_row(env: Settings, seed_answer: bytes) -> None:
    page_id, task_id = _page_with_finished_task("seed-twice", seed_answer)
    assert persist_task(task_id, get_store())
    assert not persist_task(task_id, get_store()), "a duplicate nudge must do nothing"
    with session_scope() as session:
        session.execute(update(Page).where(Page.id == page_id).values(state="persisting"))
    assert persist_task(task_id, get_store())
    with session_scope() as session:
        questions = session.scalars(select(Question.id).where(Question.page_id == page_id)).all()
        slots = session.scalars(select(Slot.id).where(Slot.page_id == page_id)).all()
    assert len(questions) == 1 and len(slots) == 10


def test_a_question_given_twice_keeps_its_last_values(env: Settings, seed_answer: bytes) -> None:
    """The rows of one answer go in one statement each: a question the answer repeats (same
    image, same sequence) must not break it, and ends up as row-by-row upserts would leave it."""
    answer = json.loads(seed_answer)
    results = answer["imageResults"][0]["result"]
    again = json.loads(json.dumps(results[0]))
    again["correctResult"] = 2
    again["slot"] = again["slot"][:3]
    for slot in again["slot"]:
        slot["reason"] = "second"
    results.append(again)
    page_id, task_id = _page_with_finished_task("seed-repeated", json.dumps(answer).encode())
    assert persist_task(task_id, get_store())
    with session_scope() as session:
        (question,) = session.scalars(select(Question).where(Question.page_id == page_id))
        reasons = session.scalars(
            select(Slot.reason).where(Slot.question_id == question.id).order_by(Slot.sequence)
        ).all()
    assert question.correct_result == 2
    first = [slot["reason"] for slot in results[0]["slot"]]
    assert list(reasons) == ["second"] * 3 + first[3:]
