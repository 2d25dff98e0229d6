"""The web app's guards on a real database and Redis (Starlette's TestClient, no browser).

Every route but the sign-in form and the assets refuses a visitor who is not signed in (the
routes are enumerated, so a new one cannot be forgotten); every form's POST without the
session's CSRF token is refused; sign-in failures are throttled; a teacher sees nothing of
another teacher's class, its images and override forms included; a disabled account's
session stops working.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import func, select
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from support.web import PASSWORD, GradedPage, csrf_of, graded_page, new_batch, sign_in

from pipeline.adapters.db.accounts import add_user, disable_user
from pipeline.adapters.db.models import Document, GradeOverride
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.web import create_app
from pipeline.operator.web.app import PUBLIC
from pipeline.operator.web.throttle import LIMIT
from pipeline.settings import Settings

SECRET = "s" * 48
THREE_QUESTIONS = [(1, [(1, "[NORM:12]")]), (2, [(2, "[NORM:7]"), (1, "")]), (3, [(3, "")])]


@pytest.fixture(scope="module")
def pages(env: Settings) -> dict[str, GradedPage]:
    batch_id = new_batch("web-security")
    found = {
        "3A": graded_page(batch_id, "3A", "li-lei", THREE_QUESTIONS),
        "3B": graded_page(batch_id, "3B", "zhao-min", THREE_QUESTIONS),
    }
    with session_scope() as session:
        session.add(  # a folder of the roster with no scans: missing work
            Document(
                batch_id=batch_id,
                rel_path="3A/han-mei",
                kind="missing",
                api="correct_edu",
                state="failed",
                class_id=found["3A"].class_id,
                error="the folder holds no scans",
            )
        )
        add_user(session, "teacher-3a", PASSWORD, "teacher", ["3A"])
        add_user(session, "teacher-3b", PASSWORD, "teacher", ["3B"])
        add_user(session, "head", PASSWORD, "admin", [])
    return found


@pytest.fixture
def app(env: Settings, pages: dict[str, GradedPage]) -> Any:
    return create_app(SECRET, get_store(), redis.Redis.from_url(env.redis_url))


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as fresh:
        yield fresh


def _paths(app: Any, page: GradedPage) -> list[tuple[str, str, str]]:
    """(route name, method, path) of every route, its parameters those of ``page``."""
    values = {
        "batch_id": page.batch_id,
        "class_id": page.class_id,
        "student_id": page.student_id,
        "page_id": page.page_id,
    }
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.name == "static", f"a mount other than the assets: {route.name}"
            continue
        assert isinstance(route, Route)
        params = {name: values[name] for name in route.param_convertors}
        path = route.url_path_for(route.name, **params)
        found += [
            (route.name, method, path) for method in sorted(route.methods or ()) if method != "HEAD"
        ]
    return found


def test_only_the_sign_in_form_and_the_assets_are_public() -> None:
    assert {"login", "login_post", "static", "favicon"} == PUBLIC


def test_every_route_refuses_a_visitor_who_is_not_signed_in(
    app: Any, client: TestClient, pages: dict[str, GradedPage]
) -> None:
    routes = _paths(app, pages["3A"])
    assert {name for name, _, _ in routes} >= {"batches", "page", "page_image", "override", "class"}
    for name, method, path in routes:
        if name in PUBLIC:
            continue
        answer = client.request(method, path, data={"grade": "correct"}, follow_redirects=False)
        assert answer.status_code == 303, (name, method, path, answer.status_code)
        assert answer.headers["location"].startswith("/login"), (name, answer.headers)
        assert "li-lei" not in answer.text
    assert client.get("/login").status_code == 200
    assert client.get("/static/web.css").status_code == 200
    assert client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(GradeOverride)) == 0


def test_every_form_refuses_a_post_without_the_sessions_token(
    app: Any, client: TestClient, pages: dict[str, GradedPage]
) -> None:
    sign_in(client, "teacher-3a")
    page = client.get(f"/pages/{pages['3A'].page_id}")
    assert page.status_code == 200
    token = csrf_of(page.text)
    posts = [(name, path) for name, method, path in _paths(app, pages["3A"]) if method == "POST"]
    assert {name for name, _ in posts} >= {"override", "logout", "login_post"}
    form = {"grade": "wrong", "question": "0", "slot": "1", "comment": "x"}
    for name, path in posts:
        for sent in ({}, {"csrf": "forged"}, {"csrf": token[:-1]}):
            answer = client.post(path, data=form | sent, follow_redirects=False)
            assert answer.status_code == 403, (name, sent, answer.status_code)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(GradeOverride)) == 0
    assert client.get("/").status_code == 200, "still signed in: logout was refused too"


def test_sign_in_failures_are_throttled_per_name_and_address(
    client: TestClient, env: Settings
) -> None:
    with session_scope() as session:
        add_user(session, "forgetful", PASSWORD, "teacher", ["3A"])
    token = csrf_of(client.get("/login").text)
    wrong = {"csrf": token, "username": "forgetful", "password": "guess"}
    for _ in range(LIMIT):
        assert client.post("/login", data=wrong).status_code == 401
    right = wrong | {"password": PASSWORD}
    throttled = client.post("/login", data=right, follow_redirects=False)
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins" in throttled.text
    other = {"csrf": token, "username": "teacher-3a", "password": PASSWORD}
    assert client.post("/login", data=other, follow_redirects=False).status_code == 303
    redis.Redis.from_url(env.redis_url).flushdb()  # the window ends
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data=right | {"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303


def test_a_teacher_of_another_class_is_refused(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    theirs = pages["3A"]
    sign_in(client, "teacher-3b")
    token = csrf_of(client.get("/").text)
    refused = [
        f"/pages/{theirs.page_id}",
        f"/pages/{theirs.page_id}/image",
        f"/batches/{theirs.batch_id}/classes/{theirs.class_id}",
        f"/batches/{theirs.batch_id}/students/{theirs.student_id}",
        f"/batches/{theirs.batch_id}/classes/0",
    ]
    for path in refused:
        answer = client.get(path)
        assert answer.status_code == 403, (path, answer.status_code)
        assert "li-lei" not in answer.text
    override = {"csrf": token, "question": "0", "slot": "1", "grade": "wrong", "comment": "x"}
    answer = client.post(
        f"/pages/{theirs.page_id}/overrides", data=override, follow_redirects=False
    )
    assert answer.status_code == 403
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(GradeOverride)) == 0
    batch = client.get(f"/batches/{theirs.batch_id}")
    assert batch.status_code == 200 and "3B" in batch.text and "3A" not in batch.text
    assert "han-mei" not in batch.text, "nor another class's missing work"
    own = pages["3B"]
    assert client.get(f"/pages/{own.page_id}").status_code == 200
    image = client.get(f"/pages/{own.page_id}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"


def test_an_admin_sees_every_class(client: TestClient, pages: dict[str, GradedPage]) -> None:
    sign_in(client, "head")
    for page in pages.values():
        assert client.get(f"/pages/{page.page_id}").status_code == 200
        assert client.get(f"/pages/{page.page_id}/image").status_code == 200
        grid = client.get(f"/batches/{page.batch_id}/classes/{page.class_id}")
        assert grid.status_code == 200
    batch = client.get(f"/batches/{pages['3A'].batch_id}")
    assert "3A" in batch.text and "3B" in batch.text
    missing = batch.text.split('id="missing"', 1)[1]
    assert "3A/han-mei" in missing and "the folder holds no scans" in missing


def test_a_disabled_account_loses_its_session_and_cannot_sign_in_again(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    with session_scope() as session:
        add_user(session, "leaving", PASSWORD, "teacher", ["3A"])
    sign_in(client, "leaving")
    assert client.get(f"/pages/{pages['3A'].page_id}").status_code == 200
    with session_scope() as session:
        disable_user(session, "leaving")
    answer = client.get(f"/pages/{pages['3A'].page_id}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    token = csrf_of(client.get("/login").text)
    again = {"csrf": token, "username": "leaving", "password": PASSWORD}
    assert client.post("/login", data=again, follow_redirects=False).status_code == 401


def test_pages_are_kept_to_this_site_and_out_of_caches(
    client: TestClient, pages: dict[str, GradedPage]
) -> None:
    token = csrf_of(client.get("/login").text)
    signed = client.post(
        "/login",
        data={"csrf": token, "username": "teacher-3a", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = signed.headers["set-cookie"].lower()
    assert cookie.startswith("scangrade_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    answer = client.get(f"/pages/{pages['3A'].page_id}")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    image = client.get(f"/pages/{pages['3A'].page_id}/image")
    assert image.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/pages/{page}", "/pages/{page}"),
        ("//elsewhere.example/x", "/"),
        ("https://x.example", "/"),
    ],
)
def test_sign_in_goes_back_to_the_page_asked_for_on_this_site_only(
    client: TestClient, pages: dict[str, GradedPage], asked: str, lands: str
) -> None:
    page = pages["3A"].page_id
    if asked.startswith("/pages"):
        refused = client.get(asked.format(page=page), follow_redirects=False)
        assert refused.headers["location"] == f"/login?next=%2Fpages%2F{page}"
    token = csrf_of(client.get("/login").text)
    form = {"csrf": token, "username": "teacher-3a", "password": PASSWORD}
    answer = client.post(
        "/login", data=form | {"next": asked.format(page=page)}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == lands.format(page=page)
