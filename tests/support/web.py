"""The web app in the tests: graded pages written straight into the tables, accounts, and
signing a TestClient in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from devkit.samples import jpeg_bytes
from pipeline.adapters.db.models import (
    Batch,
    Document,
    Page,
    ProviderTask,
    Question,
    SchoolClass,
    Slot,
    Student,
)
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store, page_key

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "a long enough password"
COLUMNS = 4  # questions laid out four to a row

#: A question: its grade code and its slots' (grade code, reason).
QuestionSpec = tuple[int, Sequence[tuple[int, str]]]


@dataclass(frozen=True)
class GradedPage:
    """A page of one student, its questions graded, its image in S3."""

    batch_id: int
    class_id: int
    student_id: int
    page_id: int
    width: int
    height: int


def new_batch(name: str | None = None) -> int:
    with session_scope() as session:
        batch = Batch(
            name=name or f"web-{uuid.uuid4().hex[:8]}", root_dir="/scans", api="correct_edu"
        )
        session.add(batch)
        session.flush()
        return batch.id


def _class(session: Session, name: str) -> int:
    found = session.scalar(select(SchoolClass.id).where(SchoolClass.name == name))
    if found is None:
        row = SchoolClass(name=name)
        session.add(row)
        session.flush()
        found = row.id
    return found


def _student(session: Session, class_id: int, name: str) -> int:
    query = select(Student.id).where(Student.class_id == class_id, Student.code == name)
    found = session.scalar(query)
    if found is None:
        row = Student(class_id=class_id, code=name, name=name)
        session.add(row)
        session.flush()
        found = row.id
    return found


def graded_page(
    batch_id: int,
    class_name: str,
    student: str,
    questions: Sequence[QuestionSpec],
    *,
    size: tuple[int, int] = (1240, 1754),
    overhang: int = 0,
    work: str = "homework.jpg",
) -> GradedPage:
    """A done page of ``student`` of ``class_name`` in the batch, graded as ``questions`` say.

    Question boxes tile the page ``COLUMNS`` to a row; the last ones reach ``overhang``
    pixels past its right and bottom edges, as the provider's areas sometimes do.
    """
    with session_scope() as session:
        class_id = _class(session, class_name)
        student_id = _student(session, class_id, student)
        doc = Document(
            batch_id=batch_id,
            rel_path=f"{class_name}/{student}/{work}",
            kind="image",
            api="correct_edu",
            state="ingested",
            class_id=class_id,
            student_id=student_id,
        )
        session.add(doc)
        session.flush()
        page_id = _page(session, doc, student_id, size)
        _questions(session, page_id, questions, size, overhang)
        return GradedPage(batch_id, class_id, student_id, page_id, *size)


def _page(session: Session, doc: Document, student_id: int, size: tuple[int, int]) -> int:
    """A done page of the document, its white picture in S3, and its finished task."""
    key = page_key(doc.batch_id, doc.id, 1, ".jpg")
    get_store().put(key, jpeg_bytes(Image.new("RGB", size, "white")), "image/jpeg")
    page = Page(
        batch_id=doc.batch_id,
        document_id=doc.id,
        page_no=1,
        state="done",
        width=size[0],
        height=size[1],
        image_key=key,
        content_type="image/jpeg",
        student_id=student_id,
    )
    session.add(page)
    session.flush()
    task = ProviderTask(
        page_id=page.id,
        api="correct_edu",
        task_id=uuid.uuid4().hex,
        state="finished",
        key_id="key-test",
    )
    session.add(task)
    session.flush()
    return page.id


def _questions(
    session: Session,
    page_id: int,
    questions: Sequence[QuestionSpec],
    size: tuple[int, int],
    overhang: int,
) -> None:
    task_id = session.scalar(select(ProviderTask.id).where(ProviderTask.page_id == page_id))
    rows = -(-len(questions) // COLUMNS)
    cell_w, cell_h = size[0] // COLUMNS, size[1] // max(rows, 1)
    for sequence, (result, slots) in enumerate(questions):
        left, top = (sequence % COLUMNS) * cell_w, (sequence // COLUMNS) * cell_h
        last_row = sequence // COLUMNS == rows - 1
        right = left + cell_w + (overhang if sequence % COLUMNS == COLUMNS - 1 else 0)
        bottom = top + cell_h + (overhang if last_row else 0)
        area = {"left_x": left, "left_y": top, "right_x": right, "right_y": bottom}
        question = Question(
            page_id=page_id,
            provider_task_id=task_id,
            sequence=sequence,
            correct_result=result,
            area=[area],
        )
        session.add(question)
        session.flush()
        for number, (slot_result, reason) in enumerate(slots, start=1):
            slot_top = top + 10 + (number - 1) * 30
            box = {
                "left_x": left + 10,
                "left_y": slot_top,
                "right_x": right - 10,
                "right_y": slot_top + 25,
            }
            session.add(
                Slot(
                    question_id=question.id,
                    page_id=page_id,
                    sequence=number,
                    correct_result=slot_result,
                    reason=reason,
                    handwriting_area=box,
                )
            )
    session.flush()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    """Sign the client in through the form, as a browser does."""
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"csrf": token, "username": username, "password": password},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
