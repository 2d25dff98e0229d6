"""The teachers' web app (``scangrade serve``): its routes, middleware and shared parts.

Every route but the sign-in form and the static assets is behind ``guard``; which class a
page, an image or an override belongs to is checked against the viewer's classes (``access``)
in the handler. Headers keep the pages to this site: no frame, no script, style or image
from elsewhere, no copy in a cache.
"""

from __future__ import annotations

from typing import Final

import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.adapters.objectstore import ObjectStore
from pipeline.errors import Transient
from pipeline.operator.web import overrides, page_views, signin, views
from pipeline.operator.web.context import Web, templates
from pipeline.operator.web.guard import signed_form, signed_in
from pipeline.operator.web.throttle import SignInThrottle

SESSION_COOKIE: Final = "scangrade_session"
SESSION_MAX_AGE_S: Final = 12 * 3600
HEADERS: Final = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)

#: Routes anyone may reach; every other one asks for a signed-in user (a test checks it).
PUBLIC: Final = frozenset({"login", "login_post", "static", "favicon"})


def routes() -> list[BaseRoute]:
    """Every page, form and asset of the app."""
    assets = StaticFiles(packages=[("pipeline.operator.web", "static")])
    return [
        Route("/login", signin.login_form, methods=["GET"], name="login"),
        Route("/login", signin.login, methods=["POST"], name="login_post"),
        Route("/logout", signed_form(signin.logout), methods=["POST"], name="logout"),
        Route("/", signed_in(views.batches), name="batches"),
        Route("/progress.json", signed_in(views.progress), name="progress"),
        Route("/batches/{batch_id:int}", signed_in(views.batch), name="batch"),
        Route(
            "/batches/{batch_id:int}/classes/{class_id:int}",
            signed_in(views.class_grid),
            name="class",
        ),
        Route(
            "/batches/{batch_id:int}/students/{student_id:int}",
            signed_in(views.student),
            name="student",
        ),
        Route("/pages/{page_id:int}", signed_in(page_views.page), name="page"),
        Route("/pages/{page_id:int}/image", signed_in(page_views.image), name="page_image"),
        Route(
            "/pages/{page_id:int}/overrides",
            signed_form(overrides.submit),
            methods=["POST"],
            name="override",
        ),
        Mount("/static", assets, name="static"),
        # Browsers ask for it on every page that names no icon (the plain-text 403 and 404).
        Route("/favicon.ico", _favicon, name="favicon"),
    ]


def create_app(secret: str, store: ObjectStore, client: redis.Redis) -> Starlette:
    """The app, signing sessions with ``secret``, reading images from ``store``."""
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(_Headers),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE_S,
                same_site="lax",
            ),
        ],
        exception_handlers={Transient: _service_down},
    )
    app.state.web = Web(templates(), store, SignInThrottle(client))
    return app


async def _favicon(request: Request) -> Response:
    return RedirectResponse(request.url_for("static", path="favicon.svg").path, status_code=301)


async def _service_down(request: Request, exc: Exception) -> Response:
    """Postgres, Redis or S3 did not answer: say so (503) rather than show a traceback."""
    return PlainTextResponse(f"503 a service did not answer: {exc}\n", status_code=503)


class _Headers:
    """Adds ``HEADERS`` to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
