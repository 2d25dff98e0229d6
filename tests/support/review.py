"""Graded pages for the teachers' review tests: correct_edu answers made to order, persisted.

A page's answer is built from grades (the question's code and its slots' codes), written to
S3 as a finished task's raw answer and persisted and archived by the real stages, so that its
rows are the ones the pipeline writes, and ``scangrade replay`` can write them again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text

from pipeline.adapters.db.models import Batch, SchoolClass, Student
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_client
from pipeline.stages.archive import archive_task
from pipeline.stages.persist import persist_task
from support.batches import record_finished_task

Graded = Sequence[tuple[int | None, Sequence[int | None]]]
"""A page's questions: (the question's code, its slots' codes), in order."""


def correct_edu_answer(questions: Graded) -> dict[str, Any]:
    """A finished correct_edu answer with these grades (no image URLs: nothing to fetch)."""
    result = []
    for number, (grade, slots) in enumerate(questions):
        result.append(
            {
                "correctResult": grade,
                "questionId": f"q{number:02d}",
                "question": "",
                "seqence": number,
                "questionArea": [_box(10, 10 + 100 * number, 900, 90 + 100 * number)],
                "isFinish": True,
                "type": 4,
                "slot": [
                    {
                        "correctResult": code,
                        "reason": f"[PRESENCE: YES][NORM: answer {number}.{seq}]",
                        "handwritingArea": _box(
                            20 + 80 * seq, 20 + 100 * number, 90 + 80 * seq, 80 + 100 * number
                        ),
                        "seqence": seq,
                        "slotId": f"s{number:02d}{seq:02d}",
                    }
                    for seq, code in enumerate(slots, start=1)
                ],
            }
        )
    return {
        "error_code": "0",
        "error_msg": "",
        "task_id": f"review-{uuid.uuid4().hex[:12]}",
        "isAllFinished": True,
        "imageResults": [{"imageId": "image-0", "paperSubject": "math", "result": result}],
    }


def _box(left: int, top: int, right: int, bottom: int) -> dict[str, int]:
    return {"left_x": left, "left_y": top, "right_x": right, "right_y": bottom}


def new_batch(name: str) -> int:
    """An empty correct_edu batch."""
    with session_scope() as session:
        batch = Batch(name=f"{name}-{uuid.uuid4().hex[:8]}", root_dir="/scans", api="correct_edu")
        session.add(batch)
        session.flush()
        return batch.id


def student(class_name: str, code: str) -> tuple[int, int]:
    """(class id, student id) of a student, made if missing."""
    with session_scope() as session:
        klass = session.scalar(select(SchoolClass).where(SchoolClass.name == class_name))
        if klass is None:
            klass = SchoolClass(name=class_name)
            session.add(klass)
            session.flush()
        found = session.scalar(
            select(Student).where(Student.class_id == klass.id, Student.code == code)
        )
        if found is None:
            found = Student(class_id=klass.id, code=code, name=code)
            session.add(found)
            session.flush()
        return klass.id, found.id


@dataclass(frozen=True)
class GradedPage:
    """A page the pipeline persisted and archived, and the task its rows come from."""

    page_id: int
    document_id: int
    task_row_id: int


def graded_page(
    batch_id: int,
    rel_path: str,
    questions: Graded,
    *,
    owner: tuple[int, int] | None = None,
    version: int = 1,
) -> GradedPage:
    """A done page of ``batch_id`` at ``rel_path`` whose answer has these grades.

    ``owner`` is (class id, student id); ``version`` the document's (a rescan's is 2).
    """
    class_id, student_id = owner or (None, None)
    finished = record_finished_task(
        json.dumps(correct_edu_answer(questions)).encode(),
        api="correct_edu",
        rel_path=rel_path,
        task_id=f"review-{uuid.uuid4().hex[:12]}",
        batch_id=batch_id,
        document={
            "class_id": class_id,
            "student_id": student_id,
            "page_count": 1,
            "version": version,
        },
        page={"student_id": student_id, "width": 1000, "height": 1400},
    )
    assert persist_task(finished.task_row_id, get_store())
    assert archive_task(finished.task_row_id, get_client(), get_store())
    return GradedPage(finished.page_id, finished.document_id, finished.task_row_id)


def rows(sql: str, **params: Any) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts."""
    with session_scope() as session:
        return [dict(row._mapping) for row in session.execute(text(sql), params)]


def decimal(value: Any) -> Decimal | None:
    """A rate read from Postgres (numeric) as it is: a Decimal, or None."""
    return None if value is None else Decimal(value)
