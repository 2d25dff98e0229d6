"""What every handler of the web app shares: its templates, the object store, the throttle.

Built once by ``create_app`` and kept on ``app.state.web``; ``render`` fills in what every
page's frame needs (the viewer, the CSRF token of its forms).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from pipeline.adapters.objectstore import ObjectStore
from pipeline.domain.grades import RULE, Grade, Tally
from pipeline.operator.web.access import Viewer
from pipeline.operator.web.guard import csrf_token
from pipeline.operator.web.throttle import SignInThrottle

#: Pages show a class's marks: no browser or proxy keeps a copy.
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Web:
    """The app's shared parts."""

    templates: Jinja2Templates
    store: ObjectStore
    throttle: SignInThrottle


def templates() -> Jinja2Templates:
    """The package's templates, autoescaped, an undefined name an error rather than blank."""
    env = Environment(
        loader=PackageLoader("pipeline.operator.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(url_for=url_for, rate=rate, grade=Grade, rule=RULE)
    return Jinja2Templates(env=env)


@pass_context
def url_for(context: Context, name: str, /, **params: Any) -> str:
    """A route's path (``/pages/3``), never an absolute URL: right behind any proxy too."""
    request: Request = context["request"]
    return request.url_for(name, **params).path


def rate(tally: Tally) -> Markup:
    """A tally's rate as the pages write it: ``83 %``, or ``–`` when nothing is graded.

    The percentage is in a ``<data>`` element holding the exact rate, the views' and the
    report's to 4 decimals.
    """
    if tally.rate is None:
        return Markup("–")
    return Markup('<data value="{}">{:.0f} %</data>').format(tally.rate, tally.rate * 100)


def web(request: Request) -> Web:
    """The app's shared parts, from a request."""
    found: Web = request.app.state.web
    return found


def render(
    request: Request,
    template: str,
    viewer: Viewer | None,
    /,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> Response:
    """A page of the app, with its frame's viewer and CSRF token."""
    return web(request).templates.TemplateResponse(
        request,
        template,
        {"viewer": viewer, "csrf": csrf_token(request), **context},
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )
