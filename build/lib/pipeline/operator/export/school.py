"""The exports a school uses, each read from one gradebook of the batch (``gradebook``).

``export_sheet`` writes the wide sheet or a Canvas or Moodle gradebook (``sheets``);
``export_handback`` writes a PDF per student and a zip per class (``handback``), with the
page images read from the object store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import ObjectStore
from pipeline.operator.export.gradebook import Gradebook, load_gradebook
from pipeline.operator.export.handback import HandedBack, write_handback
from pipeline.operator.export.sheets import SHEETS, write_sheet
from pipeline.operator.report.data import PageView
from pipeline.operator.report.pictures import NoPicture, page_drawing

SHEET_FORMATS: Final = tuple(SHEETS)
HANDBACK: Final = "handback"


@dataclass(frozen=True)
class SheetWritten:
    """What ``export_sheet`` wrote, for the operator."""

    path: Path
    students: int
    without_work: int
    assignments: int
    questions: int
    unmatched_pages: int


def export_sheet(batch_id: int, path: Path, fmt: str) -> SheetWritten:
    """Write the batch's ``fmt`` sheet (wide, canvas or moodle) to ``path``."""
    book = _gradebook(batch_id)
    rows, encoding = SHEETS[fmt]
    write_sheet(path, rows(book), encoding)
    return SheetWritten(
        path=path,
        students=len(book.students),
        without_work=sum(not grades.pages for grades in book.students),
        assignments=len(book.works),
        questions=len(book.questions),
        unmatched_pages=book.unmatched_pages,
    )


def export_handback(batch_id: int, directory: Path, store: ObjectStore) -> HandedBack:
    """Write the batch's handback PDFs and class zips into ``directory``."""

    def picture(page: PageView) -> Image.Image | NoPicture:
        if page.image_key is None:
            return NoPicture("the page was never stored as an image")
        return page_drawing(store, page.image_key, page.content_type)

    return write_handback(_gradebook(batch_id), directory, picture)


def _gradebook(batch_id: int) -> Gradebook:
    with session_scope() as session:
        return load_gradebook(session, batch_id)
