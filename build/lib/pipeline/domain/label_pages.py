"""Which label a page carries, read off the page as it would be sent, and the page upright.

Ingest and ``enqueue --dry-run`` both call :func:`label_page` on every normalised page (when
``SCANGRADE_READ_LABELS`` is on): the code is searched on the page image (a PDF page is
rendered), checked (:func:`pipeline.domain.labels.decode`), and a page lying sideways or
upside down is turned upright by its code's orientation before it is stored, checked for
blankness and sent. A code that is found but refused (a misread, another QR code on the
worksheet) is noted on the page and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pipeline.adapters.documents.codes import find_code, working_image
from pipeline.adapters.documents.images import Limits, NormalisedPage
from pipeline.adapters.documents.turn import turn_page
from pipeline.domain.labels import Label, Refused, decode
from pipeline.errors import BadInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageLabel:
    """The valid label found on a page: what it says, its text, the turn it needed."""

    label: Label
    code: str
    turn: int
    where: str

    def columns(self) -> dict[str, object]:
        """The page row's label columns (its student is resolved against the tables)."""
        return {
            "label_code": self.code,
            "label_assignment": self.label.assignment,
            "label_page": self.label.page,
            "label_pages": self.label.pages,
            "label_turn": self.turn,
        }


@dataclass(frozen=True)
class Labelled:
    """A page after the label search: upright if it had a label, and the label, if any."""

    page: NormalisedPage
    label: PageLabel | None = None


def label_page(page: NormalisedPage, limits: Limits) -> Labelled:
    """The page's label and the page turned upright; the page as it was when it has none."""
    refused: list[str] = []

    def accept(data: bytes) -> bool:
        read = decode(data)
        if isinstance(read, Refused):
            refused.append(read.reason)
            return False
        return True

    try:
        found = find_code(working_image(page.data, page.content_type), accept)
    except BadInput as e:  # an unreadable page is no one's by its label: the others decide
        log.info("no label search on a page: %s", e)
        return Labelled(replace(page, notes=(*page.notes, f"not searched for a label: {e}")))
    notes = tuple(f"a QR code was ignored: {reason}" for reason in dict.fromkeys(refused))
    if found is None:
        return Labelled(replace(page, notes=(*page.notes, *notes)) if notes else page)
    label = decode(found.data)
    assert isinstance(label, Label)  # accept() took it
    read = PageLabel(label, found.data.decode("utf-8"), found.turn, found.where)
    upright = replace(page, notes=(*page.notes, *notes))
    try:
        upright = turn_page(upright, found.turn, limits, "upright by its label's code")
    except BadInput as e:
        upright = replace(upright, notes=(*upright.notes, str(e)))
        read = replace(read, turn=0)
    return Labelled(upright, read)
