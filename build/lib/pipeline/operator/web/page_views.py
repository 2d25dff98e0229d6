"""A page: its archived picture with every box drawn over it, and what each box says.

The picture is served by the app itself from the object store (never a bucket URL), to a
viewer who may see the page's class, as every other part of the page.
"""

from __future__ import annotations

import io

from PIL import Image
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from pipeline.adapters.db.overrides import CurrentOverride
from pipeline.adapters.db.session import session_scope
from pipeline.domain.grades import TEACHER, Grade
from pipeline.operator.report.pictures import NoPicture, page_image
from pipeline.operator.web.access import Viewer
from pipeline.operator.web.context import NO_STORE, render, web
from pipeline.operator.web.guard import forbidden
from pipeline.operator.web.overlay import Mark, overlay, rect_of
from pipeline.operator.web.page_data import PageDetail, QuestionLine, SlotLine, page_detail
from pipeline.operator.web.queries import page_owner
from pipeline.operator.web.views import not_found, visible_page

#: What the image route sends: pictures a browser shows, nothing else the bucket may hold.
PICTURES = frozenset({"image/jpeg", "image/png", "image/bmp", "image/webp", "image/gif"})


def page(request: Request, viewer: Viewer) -> Response:
    """The page view."""
    page_id = int(request.path_params["page_id"])
    with session_scope() as session:
        detail = page_detail(session, page_id)
    if detail is None:
        return not_found(f"page {page_id}")
    if not viewer.sees(detail.class_id):
        return forbidden("this page is not of one of your classes")
    size = _size(request, detail)
    drawn = overlay(marks(detail), *size) if size else None
    return render(
        request,
        "page.html",
        viewer,
        page=detail,
        size=size,
        overlay=drawn,
        grades=list(TEACHER),
        describe=describe,
    )


def _size(request: Request, detail: PageDetail) -> tuple[int, int] | None:
    """The page's size in pixels as sent: recorded at ingest, else read from the picture."""
    if detail.width and detail.height:
        return detail.width, detail.height
    if detail.image_key is None:
        return None
    with session_scope() as session:
        owner = page_owner(session, detail.page_id)
    found = page_image(web(request).store, detail.image_key, owner.content_type if owner else None)
    if isinstance(found, NoPicture):
        return None
    with Image.open(io.BytesIO(found.data)) as img:
        return img.size


def image(request: Request, viewer: Viewer) -> Response:
    """The page's archived picture (a one-page PDF rendered), to a viewer of its class."""
    owner = visible_page(request, viewer)
    if isinstance(owner, Response):
        return owner
    if owner.image_key is None:
        return not_found("the page was never stored as an image")
    found = page_image(web(request).store, owner.image_key, owner.content_type)
    if isinstance(found, NoPicture):
        return not_found(found.reason)
    if found.content_type not in PICTURES:
        return PlainTextResponse("415 the page is not a picture\n", status_code=415)
    return Response(found.data, media_type=found.content_type, headers=dict(NO_STORE))


def describe(grade: Grade, provider: Grade, override: CurrentOverride | None) -> str:
    """A verdict in words: ``wrong (provider: correct; teacher li: "…")``."""
    if override is None:
        return grade.word
    said = f': "{override.comment}"' if override.comment else ""
    return f"{grade.word} (provider: {provider.word}; teacher {override.username}{said})"


def marks(detail: PageDetail) -> list[Mark]:
    """Every box of the page's questions and slots, with the grade each shows."""
    found = []
    for question in detail.questions:
        changed = question.override is not None or any(s.own for s in question.slots)
        title = (
            f"{question.label}: {describe(question.grade, question.provider, question.override)}"
        )
        for area in question.areas:
            rect = rect_of(area)
            if rect is not None:
                found.append(
                    Mark(
                        *rect,
                        "question",
                        question.grade,
                        changed,
                        question.anchor,
                        question.label,
                        title,
                    )
                )
        found += [m for slot in question.slots if (m := _slot_mark(question, slot)) is not None]
    return found


def slot_anchor(question: QuestionLine, slot: SlotLine) -> str:
    """The id of a slot's line on the page."""
    return f"s-{question.image_index}-{question.sequence}-{slot.sequence}"


def _slot_mark(question: QuestionLine, slot: SlotLine) -> Mark | None:
    rect = rect_of(slot.area)
    if rect is None:
        return None
    label = f"{question.label}.{slot.sequence}"
    override = slot.own or question.override
    read = f"read {slot.answer!r}" if slot.answer else "nothing read"
    title = f"{label}: {read}; {describe(slot.grade, slot.provider, override)}"
    if slot.reason:
        title += f" — {slot.reason}"
    return Mark(
        *rect, "slot", slot.grade, override is not None, slot_anchor(question, slot), label, title
    )
