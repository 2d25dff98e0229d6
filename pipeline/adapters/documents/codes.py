"""Find a label's QR code on a page image (zxing-cpp), and which way up the page is.

Labels sit near a corner: a header strip's code is in the top right corner, a sticker goes
where the student puts it, mostly near the top. A page scanned sideways or upside down moves
that corner to another, so the search reads the four corners first (each a quarter of the
page's height and two fifths of its width: a fifth of the pixels), then the whole page.
A code that the caller does not accept (another QR code on the worksheet, a misread) does
not end the search. Scans with salt-and-pepper noise (dust, a dirty glass) can hide a
finder pattern: only when nothing was accepted are the corners and the page read again
through a 3 × 3 blur, which fades isolated specks and keeps the code's modules.

The code's orientation says how the page lies: ``turn`` is the clockwise rotation (0, 90,
180 or 270 degrees) that makes the code, and so the page, upright. A slight skew (a sheet
fed a few degrees off) rounds to the nearest quarter turn.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

import pypdfium2 as pdfium
import zxingcpp
from PIL import Image, ImageFilter

from pipeline.adapters.documents.images import PILLOW_FAILURES
from pipeline.adapters.documents.pdf import PDF_CONTENT_TYPE
from pipeline.errors import BadInput

#: Side of a corner's search, as a share of the page's shorter side: a square, so that a
#: page lying sideways is searched as far along its top edge as an upright one.
CORNER: Final = 0.5
#: A PDF page is rendered at this resolution to be searched: a 12 mm code is then 94 px.
PDF_DPI: Final = 200
#: Longer scans are decoded smaller (JPEG's DCT scaling): a code stays over 150 px wide.
_MAX_LONG_SIDE: Final = 4000
_CODE: Final = "label_read_failed"
_QR: Final = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
# A 3 x 3 mean: an isolated speck fades to a ninth of its contrast, a module keeps its core.
# It rescues as many codes as a median filter on the corpus of tests/integration, at a third
# of the cost.
_DESPECKLE: Final = ImageFilter.BoxBlur(1)


@dataclass(frozen=True)
class FoundCode:
    """An accepted code: its bytes, the turn that makes its page upright, where it was."""

    data: bytes
    turn: int
    where: str  # "corner", "page", "corner, despeckled" or "page, despeckled"


def working_image(data: bytes, content_type: str) -> Image.Image:
    """The page as an 8-bit gray image to search (a PDF page rendered at PDF_DPI)."""
    if content_type == PDF_CONTENT_TYPE:
        return _render(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format == "JPEG":
                scale = max(1, max(img.size) // _MAX_LONG_SIDE)
                img.draft("L", (img.width // scale, img.height // scale))
            return img.convert("L")
    except PILLOW_FAILURES as e:
        raise BadInput(f"the page cannot be searched for a label: {e}", code=_CODE) from e


def _render(data: bytes) -> Image.Image:
    try:
        document = pdfium.PdfDocument(data)
        try:
            page = document[0]
            bitmap = page.render(scale=PDF_DPI / 72, grayscale=True)
            image: Image.Image = bitmap.to_pil().convert("L")
            return image
        finally:
            document.close()
    except pdfium.PdfiumError as e:
        raise BadInput(f"the page cannot be rendered to search for a label: {e}", code=_CODE) from e


def find_code(image: Image.Image, accept: Callable[[bytes], bool]) -> FoundCode | None:
    """The first code on ``image`` that ``accept`` takes, corners first; None if none is."""
    for where, region in _regions(image):
        for barcode in _read(region):
            if accept(barcode.bytes):
                return FoundCode(barcode.bytes, _turn(barcode.orientation), where)
    return None


def _regions(image: Image.Image) -> Iterator[tuple[str, Image.Image]]:
    """The places to look, cheapest and likeliest first; despeckled ones made only if reached.

    Once the plain search found nothing, the page is despeckled once and each corner is cut
    from it (:func:`despeckled_crop`) instead of being blurred on its own: the blur is most of
    the search's CPU, and the corners hold most of the page.
    """
    boxes = list(_corners(image.size))
    for box in boxes:
        yield "corner", image.crop(box)
    yield "page", image
    despeckled = image.filter(_DESPECKLE)
    for box in boxes:
        yield "corner, despeckled", despeckled_crop(image, despeckled, box)
    yield "page, despeckled", despeckled


def despeckled_crop(
    image: Image.Image, despeckled: Image.Image, box: tuple[int, int, int, int]
) -> Image.Image:
    """``image.crop(box).filter(_DESPECKLE)``, pixel for pixel, cut from the despeckled page.

    The blur repeats a crop's edge pixels beyond it, where the page has its neighbours: only
    the crop's rows and columns along an edge inside the page differ. Each is blurred again
    from a strip two pixels deep (the blur is separable, edges repeated, one pixel across).
    """
    left, top, right, bottom = box
    crop = despeckled.crop(box)
    if right - left < 2 or bottom - top < 2:
        return image.crop(box).filter(_DESPECKLE)
    edges = []
    if left > 0:
        edges.append(((left, top, left + 2, bottom), (0, 0, 1, bottom - top), (0, 0)))
    if right < image.width:
        edges.append(
            ((right - 2, top, right, bottom), (1, 0, 2, bottom - top), (right - left - 1, 0))
        )
    if top > 0:
        edges.append(((left, top, right, top + 2), (0, 0, right - left, 1), (0, 0)))
    if bottom < image.height:
        edges.append(
            ((left, bottom - 2, right, bottom), (0, 1, right - left, 2), (0, bottom - top - 1))
        )
    for strip, keep, at in edges:
        crop.paste(image.crop(strip).filter(_DESPECKLE).crop(keep), at)
    return crop


def _corners(size: tuple[int, int]) -> Iterator[tuple[int, int, int, int]]:
    """Top right (an upright page's label), bottom left (upside down), then the other two."""
    width, height = size
    side = round(min(size) * CORNER)
    yield width - side, 0, width, side
    yield 0, height - side, side, height
    yield 0, 0, side, side
    yield width - side, height - side, width, height


def _read(image: Image.Image) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(
        image,
        formats=_QR,
        try_invert=False,
        text_mode=zxingcpp.TextMode.Plain,
    )


def _turn(orientation: int) -> int:
    """Clockwise degrees that bring a code upright.

    zxing's ``orientation`` is how far clockwise the code lies: a page turned a quarter to the
    left reads -90, and is brought upright by 90.
    """
    return (-round(orientation / 90) * 90) % 360
