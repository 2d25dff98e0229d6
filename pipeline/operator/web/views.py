"""The pages that read a batch: the batches, a batch's classes, a class's grid, a student.

Each handler checks what the viewer may see first (403 otherwise, 404 for nothing there),
reads in one session, and renders. A batch is read whole through the report's ``data``, and
what a teacher may not see is left out before anything is rendered.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from pipeline.adapters.db.session import session_scope
from pipeline.domain.progress import BatchProgress
from pipeline.operator.export.gradebook import Enrolled, roster
from pipeline.operator.report.data import NO_CLASS, ReportData, load_report
from pipeline.operator.report.graded import graded_questions
from pipeline.operator.web.access import Viewer
from pipeline.operator.web.context import NO_STORE, render
from pipeline.operator.web.grid import SIGNS
from pipeline.operator.web.grid import class_grid as build_grid
from pipeline.operator.web.guard import forbidden
from pipeline.operator.web.queries import (
    PageOwner,
    batch_visible,
    class_ids,
    class_name,
    page_owner,
    student_class,
    visible_batches,
)

#: The grid's column of pages no class was matched to (admins only): class id 0.
NO_CLASS_ID = 0


def not_found(what: str) -> Response:
    """404, naming what is not there."""
    return PlainTextResponse(f"404 not found: {what}\n", status_code=404)


def visible_page(request: Request, viewer: Viewer) -> PageOwner | Response:
    """The page the path names, if the viewer may see it; else the 404 or 403 to answer."""
    page_id = int(request.path_params["page_id"])
    with session_scope() as session:
        owner = page_owner(session, page_id)
    if owner is None:
        return not_found(f"page {page_id}")
    if not viewer.sees(owner.class_id):
        return forbidden("this page is not of one of your classes")
    return owner


def batches(request: Request, viewer: Viewer) -> Response:
    """The latest batches the viewer has classes in, with live progress."""
    with session_scope() as session:
        rows = visible_batches(session, viewer)
    return render(request, "batches.html", viewer, batches=[_progress(row) for row in rows])


def progress(request: Request, viewer: Viewer) -> Response:
    """Where the viewer's batches stand, as JSON (the batches page polls it)."""
    with session_scope() as session:
        rows = visible_batches(session, viewer)
    return JSONResponse({"batches": [_progress(row) for row in rows]}, headers=dict(NO_STORE))


def _progress(row: BatchProgress) -> dict[str, Any]:
    return {
        "id": row.batch_id,
        "name": row.name,
        "state": row.state,
        "pages": row.total_pages,
        "ended": row.ended_pages,
        "failed": row.failed,
        "ingesting": row.ingesting,
    }


def batch(request: Request, viewer: Viewer) -> Response:
    """A batch's classes the viewer may see, with their rates, and the missing work."""
    batch_id = int(request.path_params["batch_id"])
    with session_scope() as session:
        allowed = batch_visible(session, viewer, batch_id)
        if allowed is None:
            return not_found(f"batch {batch_id}")
        if not allowed:
            return forbidden("none of your classes is in this batch")
        data = load_report(session, batch_id)
        ids = class_ids(session)
        absent = _not_handed_in(data, roster(session, batch_id))
    shown = [row for row in data.classes if viewer.sees(_class_id(row.class_name, ids))]
    missing = [m for m in data.missing if viewer.sees(_class_id(m.class_name, ids))]
    return render(
        request,
        "batch.html",
        viewer,
        data=data,
        classes=[(row, _class_id(row.class_name, ids)) for row in shown],
        missing=missing,
        failed=[f for f in data.failed if viewer.sees(_class_id(f.class_name, ids))],
        absent=[e for e in absent if viewer.sees(_class_id(e.class_name, ids))],
    )


def _not_handed_in(data: ReportData, enrolled: list[Enrolled]) -> list[Enrolled]:
    """The roster's students of the batch's classes who have no page in it."""
    handed_in = {page.student_id for page in data.pages}
    return [student for student in enrolled if student.student_id not in handed_in]


def _class_id(name: str, ids: dict[str, int]) -> int | None:
    """A class's id by name; pages no class was matched to have none."""
    return None if name == NO_CLASS else ids.get(name)


def class_grid(request: Request, viewer: Viewer) -> Response:
    """A class of the batch as a student × question grid (class 0: pages of no class)."""
    batch_id, class_id = int(request.path_params["batch_id"]), int(request.path_params["class_id"])
    if not viewer.sees(None if class_id == NO_CLASS_ID else class_id):
        return forbidden("this class is not one of yours")
    with session_scope() as session:
        if batch_visible(session, viewer, batch_id) is None:
            return not_found(f"batch {batch_id}")
        name = NO_CLASS if class_id == NO_CLASS_ID else class_name(session, class_id)
        if name is None:
            return not_found(f"class {class_id}")
        data = load_report(session, batch_id)
        graded = graded_questions(session, batch_id)
        absent = _not_handed_in(data, roster(session, batch_id))
    students = [s for s in data.students if s.row.class_name == name]
    return render(
        request,
        "grid.html",
        viewer,
        data=data,
        class_id=class_id,
        class_name=name,
        grid=build_grid(students, graded),
        signs=SIGNS,
        absent=[e for e in absent if e.class_name == name],
    )


def student(request: Request, viewer: Viewer) -> Response:
    """A student's pages in the batch, each with its counts and a small picture."""
    batch_id = int(request.path_params["batch_id"])
    student_id = int(request.path_params["student_id"])
    with session_scope() as session:
        if batch_visible(session, viewer, batch_id) is None:
            return not_found(f"batch {batch_id}")
        class_id = student_class(session, student_id)
        if class_id is None:
            return not_found(f"student {student_id}")
        if not viewer.sees(class_id):
            return forbidden("this student is not in one of your classes")
        data = load_report(session, batch_id)
    pages = [page for page in data.pages if page.student_id == student_id]
    name = pages[0].student if pages else ""
    return render(
        request,
        "student.html",
        viewer,
        data=data,
        class_id=class_id,
        name=name,
        pages=pages,
    )
