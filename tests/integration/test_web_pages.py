"""The web app's pages on a real database and S3 (Starlette's TestClient, no browser).

A page of 40 questions draws every box (a question's and each slot's) inside its picture,
those the provider placed past its edges cut at them; an override posted through the page's
form shows on the page, in its history and in the class's grid, and can be withdrawn; the
batches page and its JSON agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select
from starlette.testclient import TestClient
from support.web import PASSWORD, GradedPage, csrf_of, graded_page, new_batch, sign_in

from pipeline.adapters.db.accounts import add_user
from pipeline.adapters.db.models import SchoolClass, Student
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.web import create_app
from pipeline.settings import Settings

SECRET = "p" * 48
FORTY = [((1, 2, 3, 1)[n % 4], [((1, 2)[n % 2], f"[NORM:{n}]"), (3, "")]) for n in range(40)]
RECT = re.compile(
    r'<rect class="(question|slot)[^"]*" x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"'
)
VIEWBOX = re.compile(r'<svg class="overlay" viewBox="0 0 (\d+) (\d+)"')


@pytest.fixture(scope="module")
def pages(env: Settings) -> dict[str, GradedPage]:
    batch_id = new_batch("web-pages")
    found = {
        "forty": graded_page(batch_id, "4C", "chen-jing", FORTY, size=(1000, 1400), overhang=60),
        "small": graded_page(batch_id, "4C", "liu-yang", FORTY[:3]),
    }
    with session_scope() as session:
        add_user(session, "teacher-4c", PASSWORD, "teacher", ["4C"])
    return found


@pytest.fixture
def client(env: Settings, pages: dict[str, GradedPage]) -> Iterator[TestClient]:
    app = create_app(SECRET, get_store(), redis.Redis.from_url(env.redis_url))
    with TestClient(app) as fresh:
        sign_in(fresh, "teacher-4c")
        yield fresh


def test_a_page_of_forty_questions_draws_every_box_within_its_picture(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    page = pages["forty"]
    html = client.get(f"/pages/{page.page_id}").text
    [(width, height)] = VIEWBOX.findall(html)
    assert (int(width), int(height)) == (page.width, page.height)
    rects = RECT.findall(html)
    assert sum(kind == "question" for kind, *_ in rects) == 40
    assert sum(kind == "slot" for kind, *_ in rects) == 80
    for kind, x, y, w, h in rects:
        left, top, right, bottom = int(x), int(y), int(x) + int(w), int(y) + int(h)
        assert 0 <= left < right <= page.width, (kind, x, w)
        assert 0 <= top < bottom <= page.height, (kind, y, h)
    assert any(int(x) + int(w) == page.width for _, x, _, w, _ in rects), "cut at the edge"
    assert html.count('<div class="question r') == 40  # a line per question beside the picture
    assert html.count('form class="override"') == 40 + 80
    assert f'src="/pages/{page.page_id}/image"' in html


def _grid(client: TestClient, page: GradedPage) -> str:
    answer = client.get(f"/batches/{page.batch_id}/classes/{page.class_id}")
    assert answer.status_code == 200
    return answer.text


def _cell(grid: str, student: str, question: str) -> str:
    row = grid.split(f'data-student="{student}"', 1)[1].split("</tr>", 1)[0]
    found = re.search(rf'<td class="([^"]*)" data-question="{re.escape(question)}"', row)
    assert found, (student, question)
    return found.group(1)


def _override(client: TestClient, page: GradedPage, **form: Any) -> Any:
    token = csrf_of(client.get(f"/pages/{page.page_id}").text)
    return client.post(
        f"/pages/{page.page_id}/overrides",
        data={"csrf": token, "image": "0", **{k: str(v) for k, v in form.items()}},
        follow_redirects=False,
    )


def test_an_override_shows_on_the_page_its_history_and_the_grid(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    page = pages["small"]
    assert _cell(_grid(client, page), "liu-yang", "p1 Q2") == "cell r2"
    answer = _override(client, page, question=1, slot=1, grade="correct", comment="well read")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/pages/{page.page_id}#s-0-1-1"
    html = client.get(f"/pages/{page.page_id}").text
    line = html.split('id="s-0-1-1"', 1)[1].split("</div>", 2)
    assert 'data-grade="correct"' in line[0] and "overridden by teacher-4c" in "".join(line)
    assert "well read" in html.split('id="history"', 1)[1]
    assert _cell(_grid(client, page), "liu-yang", "p1 Q2") == "cell r2 overridden"

    whole = _override(client, page, question=1, slot="", grade="partial", comment="half")
    assert whole.status_code == 303
    assert _cell(_grid(client, page), "liu-yang", "p1 Q2") == "cell r4 overridden"
    withdrawn = _override(client, page, question=1, slot="", grade="", comment="")
    assert withdrawn.status_code == 303
    assert _cell(_grid(client, page), "liu-yang", "p1 Q2") == "cell r2 overridden"
    history = client.get(f"/pages/{page.page_id}").text.split('id="history"', 1)[1]
    assert history.count("<tr><td>") == 3 and "withdrawn" in history


def test_a_form_naming_nothing_on_the_page_is_refused(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    page = pages["small"]
    for form in (
        {"question": 9, "slot": "", "grade": "wrong"},
        {"question": 0, "slot": 7, "grade": "wrong"},
        {"question": 0, "slot": "", "grade": "excellent"},
        {"question": "x", "slot": "", "grade": "wrong"},
        {"question": 0, "slot": "", "grade": "wrong", "comment": "x" * 2001},
    ):
        assert _override(client, page, **form).status_code == 400, form


def test_the_batches_page_and_its_progress_agree(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    batch_id = pages["forty"].batch_id
    html = client.get("/").text
    assert f'data-batch="{batch_id}"' in html and "web-pages" in html
    progress = client.get("/progress.json").json()
    [mine] = [b for b in progress["batches"] if b["id"] == batch_id]
    assert mine == {
        "id": batch_id,
        "name": "web-pages",
        "state": "running",
        "pages": 2,
        "ended": 2,
        "failed": 0,
        "ingesting": 0,
    }
    student = client.get(f"/batches/{batch_id}/students/{pages['forty'].student_id}")
    assert student.status_code == 200 and f"/pages/{pages['forty'].page_id}" in student.text


def test_students_of_the_roster_with_no_page_are_listed_as_not_handed_in(
    client: TestClient,
) -> None:
    batch_id = new_batch("web-absent")
    mine = graded_page(batch_id, "4C", "wu-lei", FORTY[:2])
    graded_page(batch_id, "4D", "gao-lin", FORTY[:2])  # a class teacher-4c does not teach
    with session_scope() as session:
        for class_id, code in ((mine.class_id, "zhou-min"), (None, "he-ping")):
            if class_id is None:
                class_id = session.scalar(select(SchoolClass.id).where(SchoolClass.name == "4D"))
            session.add(Student(class_id=class_id, code=code, name=code.replace("-", " ")))
    absent = client.get(f"/batches/{batch_id}").text.split('id="not-handed-in"', 1)[1]
    assert "zhou min" in absent and "wu-lei" not in absent
    assert "he ping" not in absent  # not one of this teacher's classes
    grid = client.get(f"/batches/{batch_id}/classes/{mine.class_id}").text
    assert '<span class="student">zhou min</span>' in grid.split('id="not-handed-in"', 1)[1]
