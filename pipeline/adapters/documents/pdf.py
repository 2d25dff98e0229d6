"""Split a PDF into page images the provider accepts, keeping scanner JPEGs untouched.

Most PDFs that reach us come from scanners: every page is one full-page JPEG. Sending that
JPEG as is keeps the scanner's quality and costs no decoding; every other page (text, vector
drawings, annotations, odd placement) is rendered with PDFium, which draws it as a viewer would.

Whole-document failures raise :class:`~pipeline.errors.BadInput` (codes ``pdf_invalid``,
``pdf_corrupt``, ``pdf_encrypted``, ``pdf_no_pages``); a page that fails becomes a
:class:`PdfPage` carrying its error, so one bad page never sinks its siblings.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Final

import pypdfium2 as pdfium
from PIL import Image
from pypdf import PageObject, PasswordType, PdfReader, PdfWriter
from pypdf.errors import DependencyError, PyPdfError
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    RectangleObject,
    StreamObject,
)

from pipeline.adapters.documents.images import (
    CORRECT_EDU_LIMITS,
    Limits,
    NormalisedPage,
    b64_size,
    load_image,
    normalise,
    normalise_image,
    sniff,
)
from pipeline.errors import BadInput

log = logging.getLogger(__name__)

PDF_CONTENT_TYPE: Final = "application/pdf"

Matrix = tuple[float, float, float, float, float, float]
Box = tuple[float, float, float, float]

# pypdf raises its own errors and, on malformed files, plain Python ones from deep inside.
_PYPDF_FAILURES: Final = (
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
_PAINTING_OPS: Final = frozenset(
    {b"S", b"s", b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"sh", b"BI", b"INLINE IMAGE"}
)
_TEXT_SHOWING_OPS: Final = frozenset({b"Tj", b"TJ", b"'", b'"'})
_INVISIBLE_TEXT: Final = (3, 7)  # render modes of OCR text layers: drawn nowhere
_SIMPLE_SPACES: Final = frozenset({"/DeviceGray", "/DeviceRGB", "/CalGray", "/CalRGB"})
_MIN_COVERAGE: Final = 0.9


@dataclass(frozen=True)
class PdfPage:
    """One page of a PDF (1-based ``number``): its image, or why it has none."""

    number: int
    image: NormalisedPage | None = None
    error: BadInput | None = None


@dataclass(frozen=True)
class _Scan:
    """A page's scanned image, how to turn it upright, and the part of it the page shows."""

    xobject: StreamObject
    turns: list[Image.Transpose]
    window: Box


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
        if box != _box(page.mediabox):
            # A provider may draw the MediaBox: make it the CropBox, so it shows what a viewer
            # shows and what the teacher cropped away stays out.
            page.mediabox = page.cropbox = RectangleObject(box)
        out = io.BytesIO()
        writer.write(out)
    except _PYPDF_FAILURES as e:
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
    except _PYPDF_FAILURES as e:
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
        image = _embedded_scan(number, reader, limits)
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
    except _PYPDF_FAILURES:
        return 1.0
    return unit if 0 < unit <= 75_000 else 1.0


def _embedded_scan(number: int, reader: PdfReader, limits: Limits) -> NormalisedPage | None:
    """The page's own scanned image, or None when the page must be rendered instead."""
    try:
        page = reader.pages[number - 1]
        scan = _scan_xobject(page)
        return None if scan is None else _extract(page, scan, limits)
    except BadInput:
        raise
    except Exception as e:  # any surprise from a malformed page: let PDFium draw it
        log.debug("page %d: embedded image unusable, rendering instead", number, exc_info=e)
        return None


def _scan_xobject(page: PageObject) -> _Scan | None:
    """The one image drawn over the whole page with nothing else visible, and how to show it."""
    resources = _get(page, "/Resources")
    xobjects = _get(resources, "/XObject") if isinstance(resources, DictionaryObject) else None
    if not isinstance(xobjects, DictionaryObject) or len(xobjects) != 1:
        return None
    name, ref = next(iter(xobjects.items()))
    xobject = ref.get_object()
    if not isinstance(xobject, StreamObject) or _get(xobject, "/Subtype") != "/Image":
        return None
    if any(key in xobject for key in ("/SMask", "/Mask", "/Decode", "/ImageMask")):
        return None
    if _has_visible_annotations(page):
        return None
    ctm = _placement(page, name)
    window = None if ctm is None else _window(ctm, visible_box(page))
    turns = None if ctm is None or window is None else _turns(ctm, page.rotation)
    return None if turns is None or window is None else _Scan(xobject, turns, window)


def _get(dictionary: DictionaryObject, key: str) -> Any:
    """``dictionary[key]`` resolved, or None: pypdf's ``get`` leaves indirect references."""
    value = dictionary.get(key)
    return None if value is None else value.get_object()


def _has_visible_annotations(page: PageObject) -> bool:
    annotations = _get(page, "/Annots")
    if not isinstance(annotations, ArrayObject):
        return False
    return any(_get(a.get_object(), "/Subtype") != "/Link" for a in annotations)


def _placement(page: PageObject, name: str) -> Matrix | None:
    """CTM of the single ``Do`` of ``name``, or None if the page draws anything else."""
    contents = page.get_contents()
    if contents is None:
        return None
    ctm: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    render_mode = 0
    saved: list[tuple[Matrix, int]] = []
    found: Matrix | None = None
    for operands, operator in contents.operations:
        if operator == b"q":
            saved.append((ctm, render_mode))
        elif operator == b"Q" and saved:
            ctm, render_mode = saved.pop()
        elif operator == b"cm":
            ctm = _multiply(tuple(float(x) for x in operands), ctm)
        elif operator == b"Tr":
            render_mode = int(operands[0])
        elif operator in _PAINTING_OPS or (
            operator in _TEXT_SHOWING_OPS and render_mode not in _INVISIBLE_TEXT
        ):
            return None
        elif operator == b"Do":
            if found is not None or operands[0] != name:
                return None
            found = ctm
    return found


def _multiply(m: tuple[float, ...], n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    return (
        a * n[0] + b * n[2],
        a * n[1] + b * n[3],
        c * n[0] + d * n[2],
        c * n[1] + d * n[3],
        e * n[0] + f * n[2] + n[4],
        e * n[1] + f * n[3] + n[5],
    )


def visible_box(page: PageObject) -> Box:
    """What a viewer shows of the page: its CropBox, within its MediaBox (user space)."""
    crop, media = _box(page.cropbox), _box(page.mediabox)
    return (
        max(crop[0], media[0]),
        max(crop[1], media[1]),
        min(crop[2], media[2]),
        min(crop[3], media[3]),
    )


def _box(rectangle: RectangleObject) -> Box:
    return (
        float(rectangle.left),
        float(rectangle.bottom),
        float(rectangle.right),
        float(rectangle.top),
    )


def _window(ctm: Matrix, box: Box) -> Box | None:
    """The part of the image the page shows; None if the image leaves much of the page bare.

    Fractions of the image's width and height from its top-left corner (left, top, right,
    bottom). Whatever of the image lies outside the visible box (a CropBox the teacher drew,
    an image placed with an offset) is outside the window, so it is cut away, never sent.
    """
    a, b, c, d, e, f = ctm
    xs = (e, a + e, c + e, a + c + e)
    ys = (f, b + f, d + f, b + d + f)
    left, bottom, right, top = box
    clip = (max(min(xs), left), max(min(ys), bottom), min(max(xs), right), min(max(ys), top))
    shown = (clip[2] - clip[0]) * (clip[3] - clip[1])
    det = a * d - b * c
    if clip[2] <= clip[0] or clip[3] <= clip[1] or _is_zero(det):
        return None
    if shown < _MIN_COVERAGE * (right - left) * (top - bottom):
        return None
    # Invert x = a u + c v + e, y = b u + d v + f; image row 0 is at v = 1.
    corners = [(x - e, y - f) for x in (clip[0], clip[2]) for y in (clip[1], clip[3])]
    us = [(d * x - c * y) / det for x, y in corners]
    vs = [(a * y - b * x) / det for x, y in corners]
    return (
        _unit(min(us)),
        _unit(1 - max(vs)),
        _unit(max(us)),
        _unit(1 - min(vs)),
    )


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))


def _turns(ctm: Matrix, rotate: int) -> list[Image.Transpose] | None:
    """Transpositions that show the image as a viewer shows the page, or None if skewed.

    Image rows run top to bottom, so image "right" is the CTM's x axis and image "down" is
    minus its y axis; /Rotate then turns the page clockwise for display.
    """
    a, b, c, d, _, _ = ctm
    if rotate % 90 or not ((_is_zero(b) and _is_zero(c)) or (_is_zero(a) and _is_zero(d))):
        return None
    right = _on_screen((a, b), rotate % 360)
    down = _on_screen((-c, -d), rotate % 360)
    turns: list[Image.Transpose] = []
    if right[0] == 0:
        turns.append(Image.Transpose.TRANSPOSE)
        right, down = down, right
    if right[0] < 0:
        turns.append(Image.Transpose.FLIP_LEFT_RIGHT)
    if down[1] < 0:
        turns.append(Image.Transpose.FLIP_TOP_BOTTOM)
    return turns


def _is_zero(value: float) -> bool:
    return abs(value) < 1e-6


def _on_screen(vector: tuple[float, float], rotate: int) -> tuple[int, int]:
    """Direction of a user-space vector on screen, as signs (right, down)."""
    x, y = (0 if _is_zero(v) else math.copysign(1, v) for v in vector)
    screen = {0: (x, -y), 90: (y, x), 180: (-x, y), 270: (-y, -x)}[rotate]
    return int(screen[0]), int(screen[1])


def _extract(page: PageObject, scan: _Scan, limits: Limits) -> NormalisedPage | None:
    """The scan as stored, re-encoded only when it must be cut, turn or is not a plain JPEG."""
    xobject = scan.xobject
    filters = _filters(xobject)
    img: Image.Image | None
    if filters == ["/DCTDecode"] and _simple_colours(xobject):
        raw = xobject.get_data()
        size = (int(_get(xobject, "/Width")), int(_get(xobject, "/Height")))
        if not scan.turns and _pixel_box(scan.window, size) == (0, 0, *size):
            return normalise(raw, limits, source_hint="embedded")
        img = load_image(raw, limits)
    elif filters != ["/DCTDecode"] and (_simple_colours(xobject) or filters == ["/JPXDecode"]):
        img = page.images[0].image
    else:
        img = None
    if img is None:
        return None
    notes: list[str] = []
    img = _cut(img, scan.window, notes)
    for turn in scan.turns:
        img = img.transpose(turn)
    if scan.turns:
        notes.append(f"turned the scan as the page shows it (/Rotate {page.rotation})")
    return normalise_image(img, limits, source="embedded", notes=notes)


def _pixel_box(window: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The window in whole pixels of an image of ``size``; never empty."""
    width, height = size
    left, top = round(window[0] * width), round(window[1] * height)
    right = max(round(window[2] * width), left + 1)
    bottom = max(round(window[3] * height), top + 1)
    return left, top, right, bottom


def _cut(img: Image.Image, window: Box, notes: list[str]) -> Image.Image:
    """The pixels the page shows, the rest (beyond the CropBox or the page) cut away."""
    width, height = img.size
    box = _pixel_box(window, img.size)
    if box == (0, 0, width, height):
        return img
    notes.append(
        f"cut to what the page shows (its CropBox): kept {box[2] - box[0]}x{box[3] - box[1]} "
        f"px at ({box[0]}, {box[1]}) of the {width}x{height} px scan"
    )
    return img.crop(box)


def _filters(xobject: StreamObject) -> list[str]:
    value = _get(xobject, "/Filter")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, ArrayObject) else [str(value)]


def _simple_colours(xobject: StreamObject) -> bool:
    """Gray or RGB, the spaces in which Pillow and a PDF viewer agree on every pixel."""
    space = _get(xobject, "/ColorSpace")
    if isinstance(space, NameObject):
        return str(space) in _SIMPLE_SPACES
    if isinstance(space, ArrayObject) and space:
        family = str(space[0])
        if family == "/ICCBased":
            return _get(space[1].get_object(), "/N") in (1, 3)
        return family in _SIMPLE_SPACES
    return False


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
