"""Who may do what: every page but the sign-in form is behind these two wrappers.

``signed_in`` wraps a page (GET): no valid session, and the browser is sent to the sign-in
form. ``signed_form`` wraps a form's POST: the same, then the form's CSRF token must match
the session's, else 403. The session cookie is signed (Starlette's ``SessionMiddleware``,
itsdangerous) and holds the user's id, the time of sign-in and the CSRF token; the user is
read again on every request, so one disabled since signs out at once.

Handlers are plain functions run in the thread pool (SQLAlchemy and boto3 block): they get
the request, the signed-in ``Viewer`` and, for a form, its fields.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from pipeline.adapters.db.session import session_scope
from pipeline.operator.web.access import Viewer, load_viewer

CSRF_FIELD: Final = "csrf"
_USER, _CSRF = "user_id", "csrf"

Page = Callable[[Request, Viewer], Response]
Form = Callable[[Request, Viewer, FormData], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the sign-in form's session has one too)."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def csrf_valid(request: Request, form: FormData) -> bool:
    """Whether the form carries the session's CSRF token."""
    sent, kept = form.get(CSRF_FIELD), request.session.get(_CSRF)
    return (
        isinstance(sent, str)
        and isinstance(kept, str)
        and hmac.compare_digest(sent.encode(), kept.encode())
    )


def sign_in(request: Request, user_id: int) -> None:
    """A fresh session for ``user_id``: nothing of the anonymous one is kept, CSRF included."""
    request.session.clear()
    request.session[_USER] = user_id
    csrf_token(request)


def sign_out(request: Request) -> None:
    """Forget the session."""
    request.session.clear()


def _viewer(request: Request) -> Viewer | None:
    user_id = request.session.get(_USER)
    if not isinstance(user_id, int):
        return None
    with session_scope() as session:
        viewer = load_viewer(session, user_id)
    if viewer is None:  # disabled or removed since: the cookie is worth nothing now
        request.session.clear()
    return viewer


def to_sign_in(request: Request) -> RedirectResponse:
    """Send the browser to the sign-in form, coming back here afterwards (GET pages only)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = f"?{urlencode({'next': here})}" if request.method == "GET" and here != "/" else ""
    return RedirectResponse(f"{request.url_for('login').path}{back}", status_code=303)


def signed_in(handler: Page) -> Endpoint:
    """A page only a signed-in user sees."""

    async def endpoint(request: Request) -> Response:
        viewer = await run_in_threadpool(_viewer, request)
        if viewer is None:
            return to_sign_in(request)
        return await run_in_threadpool(handler, request, viewer)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def signed_form(handler: Form) -> Endpoint:
    """A form's POST: a signed-in user, and the session's CSRF token in the form."""

    async def endpoint(request: Request) -> Response:
        viewer = await run_in_threadpool(_viewer, request)
        if viewer is None:
            return to_sign_in(request)
        form = await request.form()
        if not csrf_valid(request, form):
            return forbidden("the form has expired or did not come from this site; try again")
        return await run_in_threadpool(handler, request, viewer, form)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def forbidden(why: str = "you may not see this") -> Response:
    """403, saying why in a line (no page of the app leaks through it)."""
    return PlainTextResponse(f"403 forbidden: {why}\n", status_code=403)
