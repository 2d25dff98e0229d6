"""Find a PDF page's scanned image and take it out as the page shows it.

Most PDFs that reach us come from scanners: every page is one full-page JPEG. When a page
draws that one image and nothing else visible, the image is sent as stored (cut to the
CropBox and turned upright first when it must be); otherwise ``pdf`` renders the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image
from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject

from pipeline.adapters.documents.images import (
    Limits,
    NormalisedPage,
    load_image,
    normalise,
    normalise_image,
)
from pipeline.adapters.documents.pdf_geometry import (
    Box,
    Matrix,
    multiply,
    pixel_box,
    shown_window,
    upright_turns,
    visible_box,
)
from pipeline.errors import BadInput

log = logging.getLogger(__name__)

_PAINTING_OPS: Final = frozenset(
    {b"S", b"s", b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"sh", b"BI", b"INLINE IMAGE"}
)
_TEXT_SHOWING_OPS: Final = frozenset({b"Tj", b"TJ", b"'", b'"'})
_INVISIBLE_TEXT: Final = (3, 7)  # render modes of OCR text layers: drawn nowhere
_SIMPLE_SPACES: Final = frozenset({"/DeviceGray", "/DeviceRGB", "/CalGray", "/CalRGB"})


@dataclass(frozen=True)
class _Scan:
    """A page's scanned image, how to turn it upright, and the part of it the page shows."""

    xobject: StreamObject
    turns: list[Image.Transpose]
    window: Box


def embedded_scan(number: int, reader: PdfReader, limits: Limits) -> NormalisedPage | None:
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
    window = None if ctm is None else shown_window(ctm, visible_box(page))
    turns = None if ctm is None or window is None else upright_turns(ctm, page.rotation)
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
            ctm = multiply(tuple(float(x) for x in operands), ctm)
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


def _extract(page: PageObject, scan: _Scan, limits: Limits) -> NormalisedPage | None:
    """The scan as stored, re-encoded only when it must be cut, turn or is not a plain JPEG."""
    xobject = scan.xobject
    filters = _filters(xobject)
    img: Image.Image | None
    if filters == ["/DCTDecode"] and _simple_colours(xobject):
        raw = xobject.get_data()
        size = (int(_get(xobject, "/Width")), int(_get(xobject, "/Height")))
        if not scan.turns and pixel_box(scan.window, size) == (0, 0, *size):
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


def _cut(img: Image.Image, window: Box, notes: list[str]) -> Image.Image:
    """The pixels the page shows, the rest (beyond the CropBox or the page) cut away."""
    width, height = img.size
    box = pixel_box(window, img.size)
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
