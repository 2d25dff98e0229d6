"""Signing in and out.

The form posts a user name and password with its CSRF token (the anonymous session has one
too, so nobody else's page can sign a browser in). Failures count per user name and address
(``throttle``); past the limit the answer is 429 until the window ends, whatever the password.
A successful sign-in starts a new session (nothing of the anonymous one is kept) and goes
back to the page that asked for it, if that was one of this site's.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.adapters.db.session import session_scope
from pipeline.operator.web.access import Viewer, check_password
from pipeline.operator.web.context import render, web
from pipeline.operator.web.guard import csrf_valid, forbidden, sign_in, sign_out


def login_form(request: Request) -> Response:
    """The sign-in form."""
    return _form(request, next_page=request.query_params.get("next", ""))


async def login(request: Request) -> Response:
    """Check the form's name and password; sign in, or say no (401, or 429 when throttled)."""
    form = await request.form()
    if not csrf_valid(request, form):
        return forbidden("the sign-in form has expired; load it again")
    username, password = _field(form, "username").strip(), _field(form, "password")
    next_page = _field(form, "next")
    address = request.client.host if request.client else "unknown"
    throttle = web(request).throttle
    wait_s = await run_in_threadpool(throttle.wait_s, username, address)
    if wait_s:
        minutes = -(-wait_s // 60)
        problem = f"Too many failed sign-ins: try again in {minutes} minutes."
        headers = {"Retry-After": str(wait_s)}
        return _form(request, next_page, username, problem, status_code=429, headers=headers)
    user_id = await run_in_threadpool(_authenticated, username, password)
    if user_id is None:
        await run_in_threadpool(throttle.failed, username, address)
        problem = "Wrong user name or password (or the account is disabled)."
        return _form(request, next_page, username, problem, status_code=401)
    await run_in_threadpool(throttle.succeeded, username, address)
    sign_in(request, user_id)
    return RedirectResponse(_local(next_page) or request.url_for("batches").path, status_code=303)


def logout(request: Request, viewer: Viewer, form: FormData) -> Response:
    """Sign out (a form's POST, so no other site can sign a teacher out)."""
    sign_out(request)
    return RedirectResponse(request.url_for("login").path, status_code=303)


def _authenticated(username: str, password: str) -> int | None:
    with session_scope() as session:
        return check_password(session, username, password)


def _form(
    request: Request,
    next_page: str,
    username: str = "",
    problem: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "login.html",
        None,
        status_code=status_code,
        headers=headers,
        next=_local(next_page),
        username=username,
        problem=problem,
    )


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _local(path: str) -> str:
    """``path`` if it is a page of this site (``/…``), else nothing: no open redirect."""
    if path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return ""
