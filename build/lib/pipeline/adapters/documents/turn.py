"""Turn a page upright before it is sent: a quarter, half or three-quarter turn clockwise.

An image page is decoded, transposed (exactly: no resampling) and encoded again within the
API's limits; a one-page PDF (the APIs that read PDFs) gets the turn added to its
``/Rotate``, so its scan is still sent untouched and the provider draws it upright.
"""

from __future__ import annotations

import hashlib
import io
from typing import Final

from PIL import Image
from pypdf import PdfReader, PdfWriter

from pipeline.adapters.documents.images import Limits, NormalisedPage, load_image, normalise_image
from pipeline.adapters.documents.pdf import PDF_CONTENT_TYPE, PYPDF_FAILURES
from pipeline.errors import BadInput

QUARTER_TURNS: Final = (0, 90, 180, 270)
# Pillow's transposes turn counter-clockwise: a clockwise turn is the opposite one.
_CLOCKWISE: Final = {
    90: Image.Transpose.ROTATE_270,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def turn_page(page: NormalisedPage, degrees: int, limits: Limits, why: str) -> NormalisedPage:
    """``page`` turned ``degrees`` clockwise, noting ``why``; unchanged for 0."""
    if degrees not in QUARTER_TURNS:
        raise ValueError(f"a page turns by a quarter turn, not {degrees}°")
    if degrees == 0:
        return page
    note = f"turned {degrees}° clockwise: {why}"
    if page.content_type == PDF_CONTENT_TYPE:
        return _turn_pdf(page, degrees, note)
    img = load_image(page.data, limits).transpose(_CLOCKWISE[degrees])
    source = "reencoded" if page.source in ("original", "embedded") else page.source
    return normalise_image(img, limits, source=source, notes=(*page.notes, note))


def _turn_pdf(page: NormalisedPage, degrees: int, note: str) -> NormalisedPage:
    try:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(page.data)))
        writer.pages[0].rotate(degrees)
        out = io.BytesIO()
        writer.write(out)
    except PYPDF_FAILURES as e:
        raise BadInput(f"the page could not be turned upright ({e})", code="turn_failed") from e
    data = out.getvalue()
    width, height = (page.height, page.width) if degrees % 180 else (page.width, page.height)
    digest = hashlib.sha256(data).hexdigest()
    notes = (*page.notes, note)
    return NormalisedPage(data, PDF_CONTENT_TYPE, width, height, digest, page.source, notes)
