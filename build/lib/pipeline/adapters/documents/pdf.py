"""Split a PDF into page images the provider accepts, keeping scanner JPEGs untouched.

Most PDFs that reach us come from scanners: every page is one full-page JPEG. Sending that
JPEG as is keeps the scanner's quality and costs no decoding; every other page (text, vector
drawings, annotations, odd placement) is rendered with PDFium, which draws it as a viewer would.
Finding the scan is ``pdf_scan``'s work; the boxes and matrices it reasons with are
``pdf_geometry``'s.

Whole-document failures raise :class:`~pipeline.errors.BadInput` (codes ``pdf_invalid``,
``pdf_corrupt``, ``pdf_encrypted``, ``pdf_no_pages``); a page that fails becomes a
:class:`PdfPage` carrying its error, so one bad page never sinks its siblings.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

import pypdfium2 as pdfium
from pypdf import PasswordType, PdfReader, PdfWriter
from pypdf.errors import DependencyError, PyPdfError
from pypdf.generic import RectangleObject

from pipeline.adapters.documents.images import (
    CORRECT_EDU_LIMITS,
    Limits,
    NormalisedPage,
    b64_size,
    normalise_image,
    sniff,
)
from pipeline.adapters.documents.pdf_geometry import box_of, visible_box
from pipeline.adapters.documents.pdf_scan import embedded_scan
from pipeline.errors import BadInput

log = logging.getLogger(__name__)

PDF_CONTENT_TYPE: Final = "application/pdf"

# pypdf raises its own errors and, on malformed files, plain Python ones from deep inside.
PYPDF_FAILURES: Final = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    AssertionError,
    OSError,
    RecursionError,
)


@dataclass(frozen=True)
class PdfPage:
    """One page of a PDF (1-based ``number``): its image, or why it has none."""

    number: int
    image: NormalisedPage | None = None
    error: BadInput | None = None


def pdf_page_count(data: bytes) -> int:
    """Count pages without rendering, so a caller can create page records up front."""
    reader, _ = _open_reader(data)
    return len(reader.pages)


def split_pdf(data: bytes, limits: Limits = CORRECT_EDU_LIMITS, *, dpi: int = 200) -> list[PdfPage]:
    """Every page of the PDF as a :class:`PdfPage`, in order."""
    return list(iter_pdf_pages(data, limits, dpi=dpi))


def iter_pdf_pages(
    data: bytes, limits: Limits = CORRECT_EDU_LIMITS, *, dpi: int = 200
) -> Iterator[PdfPage]:
    """Yield pages one at a time, so only one page's pixels are held in memory.

    Document-level problems raise here, before the first page, not during iteration.
    """
    reader, encrypted = _open_reader(data)
    return _pages(reader, _Renderer(data, encrypted, limits, dpi), limits)


def iter_pdf_page_files(data: bytes, limits: Limits) -> Iterator[PdfPage]:
    """Yield each page as a one-page PDF, for APIs that read PDFs themselves.

    Nothing is rasterised: pypdf copies the page with only the resources it uses, so the
    provider reads the scan (or the vector page) exactly as it is. A page too heavy for the
    API's size limit on its own is rendered into an image instead, and says so.
    """
    reader, encrypted = _open_reader(data)
    renderer = _Renderer(data, encrypted, limits, dpi=200)
    try:
        for index in range(len(reader.pages)):
            yield _page_file(index + 1, reader, renderer, limits)
    finally:
        renderer.close()


def _page_file(number: int, reader: PdfReader, renderer: _Renderer, limits: Limits) -> PdfPage:
    try:
        writer = PdfWriter()
        page = writer.add_page(reader.pages[number - 1])
        box = visible_box(page)
        width, height = box[2] - box[0], box[3] - box[1]
        if width <= 0 or height <= 0:
            message = f"page {number} shows nothing: its CropBox lies outside its MediaBox"
            return PdfPage(number, error=BadInput(message, code="pdf_page_broken"))
        if box != box_of(page.mediabox):
            # A provider may draw the MediaBox: make it the CropBox, so it shows what a viewer
            # shows and what the teacher cropped away stays out.
            page.mediabox = page.cropbox = RectangleObject(box)
        out = io.BytesIO()
        writer.write(out)
    except PYPDF_FAILURES as e:
        error = BadInput(
            f"page {number} cannot be copied ({type(e).__name__})", code="pdf_page_broken"
        )
        return PdfPage(number, error=error)
    single = out.getvalue()
    if b64_size(single) > limits.max_b64_bytes:
        rendered = _one_page(number, reader, renderer, limits)
        if rendered.image is None:
            return rendered
        note = f"page alone is {len(single)} bytes, over the API's limit: sent as an image"
        image = rendered.image
        return PdfPage(number, image=replace(image, notes=(*image.notes, note)))
    digest = hashlib.sha256(single).hexdigest()
    # Sizes in points (1/72 in): the provider renders the page itself.
    image = NormalisedPage(
        single, PDF_CONTENT_TYPE, round(width), round(height), digest, "pdf_page"
    )
    return PdfPage(number, image=image)


def _open_reader(data: bytes) -> tuple[PdfReader, bool]:
    if b"%PDF-" not in data[:1024]:
        raise BadInput(f"file is not a PDF: it looks like {sniff(data)}", code="pdf_invalid")
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        # Scanners often set only an owner password; the empty user password then opens it.
        if encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise BadInput("PDF is encrypted and needs a password", code="pdf_encrypted")
        count = len(reader.pages)
    except BadInput:
        raise
    except DependencyError as e:
        # Not the file's fault: pypdf needs the "cryptography" package for AES.
        log.error("cannot decrypt an AES-encrypted PDF: %s", e)
        raise BadInput(
            "PDF is AES-encrypted and this worker lacks the 'cryptography' package to open it",
            code="pdf_encrypted",
        ) from e
    except PYPDF_FAILURES as e:
        raise BadInput(
            f"PDF is damaged or truncated and cannot be read ({type(e).__name__}: {e})",
            code="pdf_corrupt",
        ) from e
    if count == 0:
        raise BadInput("PDF has no pages", code="pdf_no_pages")
    return reader, encrypted


def _pages(reader: PdfReader, renderer: _Renderer, limits: Limits) -> Iterator[PdfPage]:
    try:
        for index in range(len(reader.pages)):
            yield _one_page(index + 1, reader, renderer, limits)
    finally:
        renderer.close()


def _one_page(number: int, reader: PdfReader, renderer: _Renderer, limits: Limits) -> PdfPage:
    try:
        image = embedded_scan(number, reader, limits)
        if image is None:
            image = renderer.render(number, _user_unit(reader, number))
    except BadInput as e:
        log.info("PDF page %d unusable: %s (%s)", number, e, e.code)
        return PdfPage(number, error=e)
    return PdfPage(number, image=image)


def _user_unit(reader: PdfReader, number: int) -> float:
    """Points per user-space unit (/UserUnit, PDF 1.6), which PDFium does not apply."""
    try:
        unit = float(reader.pages[number - 1].user_unit)
    except PYPDF_FAILURES:
        return 1.0
    return unit if 0 < unit <= 75_000 else 1.0


class _Renderer:
    """Draws pages with PDFium, opening the document only if some page needs it."""

    def __init__(self, data: bytes, encrypted: bool, limits: Limits, dpi: int) -> None:
        self._data = data
        self._password = "" if encrypted else None
        self._limits = limits
        self._dpi = dpi
        self._document: Any = None

    def render(self, number: int, user_unit: float = 1.0) -> NormalisedPage:
        """The page drawn as a viewer shows it (its CropBox), at ``dpi`` of its real size."""
        try:
            if self._document is None:
                self._document = pdfium.PdfDocument(self._data, password=self._password)
            page = self._document[number - 1]
            try:
                width, height = page.get_size()  # the CropBox, in user-space units
                scale = user_unit * _render_scale(
                    width * user_unit, height * user_unit, self._dpi, self._limits
                )
                img = page.render(scale=scale).to_pil()
            finally:
                page.close()
        except pdfium.PdfiumError as e:
            raise BadInput(f"page {number} cannot be rendered ({e})", code="pdf_page_broken") from e
        return normalise_image(img, self._limits, source="rendered")

    def close(self) -> None:
        if self._document is not None:
            self._document.close()
            self._document = None


def _render_scale(width: float, height: float, dpi: int, limits: Limits) -> float:
    """Pixels per point: ``dpi`` unless that breaks the provider's side limits."""
    if width <= 0 or height <= 0:
        raise BadInput(f"page size is {width}x{height} pt", code="pdf_page_broken")
    short, long = min(width, height), max(width, height)
    scale = dpi / 72
    # PDFium rounds sizes up, hence the half pixel of margin below the maximum.
    if long * scale > limits.max_side:
        scale = (limits.max_side - 0.5) / long
    if short * scale < limits.min_side and long * limits.min_side / short <= limits.max_side:
        scale = limits.min_side / short
    return scale
