"""A teacher's override of a grade, from the page view's forms.

A form names its question (image index, sequence) and, for one slot, the slot's sequence
(none: the whole question), a grade (``correct``, ``wrong``, ``partial``, or none: withdraw
the override in force) and a comment. ``record_override`` checks the rest (the account is
active, the page is of one of a teacher's classes, the question and slot exist) and appends
the change to the history; the provider's grades are never changed. Then back to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from pipeline.adapters.db.overrides import record_override
from pipeline.adapters.db.session import session_scope
from pipeline.errors import NotPermitted, RequestRefused
from pipeline.operator.web.access import Viewer
from pipeline.operator.web.guard import forbidden
from pipeline.operator.web.views import visible_page

MAX_COMMENT: Final = 2000


class _BadForm(RequestRefused):
    """The form is not one the page view sends."""

    message = "the form is not one the page view sends"


@dataclass(frozen=True)
class _Change:
    """What a form asks for."""

    image_index: int
    question: int
    slot: int | None
    grade: str | None
    comment: str | None

    @property
    def anchor(self) -> str:
        """The id of the question's or slot's line on the page."""
        if self.slot is None:
            return f"q-{self.image_index}-{self.question}"
        return f"s-{self.image_index}-{self.question}-{self.slot}"


def submit(request: Request, viewer: Viewer, form: FormData) -> Response:
    """Record the override the form asks for, then show the page again at that question."""
    owner = visible_page(request, viewer)
    if isinstance(owner, Response):
        return owner
    page_id = owner.page_id
    try:
        change = _change(form)
        with session_scope() as session:
            record_override(
                session,
                page_id=page_id,
                image_index=change.image_index,
                question_seq=change.question,
                slot_seq=change.slot,
                grade=change.grade,
                comment=change.comment,
                user_id=viewer.user_id,
            )
    except NotPermitted as e:
        return forbidden(str(e))
    except RequestRefused as e:
        return PlainTextResponse(f"400 bad request: {e}\n", status_code=400)
    page = request.url_for("page", page_id=page_id).path
    return RedirectResponse(f"{page}#{change.anchor}", status_code=303)


def _change(form: FormData) -> _Change:
    slot = _number(form, "slot") if _text(form, "slot") else None
    comment = _text(form, "comment") or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise _BadForm(f"a comment of at most {MAX_COMMENT} characters")
    return _Change(
        _number(form, "image"),
        _number(form, "question"),
        slot,
        _text(form, "grade") or None,
        comment,
    )


def _text(form: FormData, name: str) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise _BadForm(f"{name} is not a text field")
    return value.strip()


def _number(form: FormData, name: str) -> int:
    value = _text(form, name)
    if not value.isdigit():
        raise _BadForm(f"{name} must be a number, not {value!r}")
    return int(value)
