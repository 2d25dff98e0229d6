"""Tell blank pages (the backs of duplex scans) from pages with work on them, before paying.

A blank back still shows scanner noise, JPEG artefacts, dust, uneven lighting, a shadow along
an edge, tinted paper and faint bleed-through of the other side; one pencilled word or one
printed line makes a page worth sending. :func:`ink` measures the share of the page covered
by marks that are clearly darker than the paper *around them* (so tone, gradients and shadows
wider than a stroke do not count, and faint bleed-through stays under the contrast needed)
and at least 1.7 mm across (so dust, noise and JPEG debris do not count either).
:func:`is_blank` compares that share with a threshold calibrated on synthetic scans (see
``tests/unit/test_blank.py``): blank backs measure under a third of it, the faintest real content
over three times it. Small print weighs less than that (a line "1 + 1 = 2" 9 px tall is half
the threshold), so a page holding a *line* (three marks or more side by side along a row, a
printed line, a formula, a short answer) is never blank, whatever its share; no blank back of
the calibration set, dust included, holds one.

Every page is measured at the same working size, whatever its resolution or format, so a
stroke weighs about the same on a 150 dpi JPEG, a 300 dpi scan and a rendered PDF page. The edges
(:data:`_MARGIN` of each side) are ignored: scanner shadows and punch holes live there.

A page dark all over (a scan with the lid open) has no paper to compare against and measures
as blank: there is no homework on it to grade. A large filled shape counts by its outline only,
which is still far more than the threshold.

Every failure is a :class:`~pipeline.errors.BadInput` with code ``blank_check_failed``.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageFilter, ImageOps

from pipeline.adapters.documents.images import PILLOW_FAILURES
from pipeline.errors import BadInput

DEFAULT_BLANK_INK_RATIO: Final = 7e-5
"""Pages with less ink than this share of their area are blank.

On A4 that is 34 working pixels, a pen line of about 12 mm. On the synthetic scans of
``tests/unit/test_blank.py`` every blank back measures 0 (also over 60 seeds of dust), a short
pencilled word 2.8e-4 or more (50 seeds, as 150 and 200 dpi JPEGs and as scanned PDFs) and the
student's name alone 3.6e-4.
"""

PDF_CONTENT_TYPE: Final = "application/pdf"
IMAGE_CONTENT_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/bmp"})
_CODE: Final = "blank_check_failed"
# The working size: about 75 dpi on A4, where a 2 px pencil stroke at 150 dpi is still a line.
_WORK_LONG_SIDE: Final = 880
# A JPEG is decoded at a reduced DCT scale only down to this size, so that the min-resize (which
# keeps thin strokes dark) rather than the DCT's averaging does most of the shrinking.
_DRAFT_LONG_SIDE: Final = 1500
# PDFium resamples a scanned page's image as it draws: 150 dpi would cost half as much again,
# and the min-resize to the working size keeps the ratio comparable with images.
_PDF_DPI: Final = 100
_MAX_RENDER_SIDE: Final = 4000
_MAX_PIXELS: Final = 120_000_000
_MARGIN: Final = 0.03
_BACKGROUND_BLOCK: Final = 8
_BACKGROUND_SPAN: Final = 5
# Gray levels below the local paper: pencil on white is ~100, faint bleed-through ~25.
_CONTRAST: Final = 48
# Working pixels a mark must span, width or height (~1.7 mm): a dust speck of up to 5 px at
# 150 dpi, blurred by JPEG, spans at most 4.
_MIN_MARK_EXTENT: Final = 5
# A line of print: this many marks of at least _MIN_LINE_MARK working pixels, each less than
# _LINE_GAP from the next (a word space of 8 pt print), spanning _LINE_LENGTH (~4 mm) or more.
_LINE_MARKS: Final = 3
_MIN_LINE_MARK: Final = 2
_LINE_GAP: Final = 4
_LINE_LENGTH: Final = 12
_MAX_LINE_GAP: Final = 16
# Of which this many at least _LINE_LETTER across (~1 mm): a letter, not a speck of dust.
_LINE_LETTERS: Final = 2
_LINE_LETTER: Final = 3
# Rows two marks of a line may stand apart (a bar of "=" beside the top of a "5").
_LINE_SLACK: Final = 1
_INK: Final = b"\xff"
_PAPER: Final = b"\x00"
_PILLOW_FAILURES: Final = (*PILLOW_FAILURES, Image.DecompressionBombError)


Box = tuple[int, int, int, int]  # left, top, right (exclusive), bottom (inclusive)


@dataclass(frozen=True)
class InkMeasure:
    """How much of a page is ink, at the working resolution, margins excluded.

    ``line`` says the page holds a row of small marks side by side (a printed line, a
    formula, a handwritten word): characters too small to weigh much, yet work to grade.
    """

    ratio: float
    pixels: int
    line: bool = False


def ink(data: bytes, content_type: str) -> InkMeasure:
    """Measure the ink on one page: a JPEG, PNG or BMP image, or a one-page PDF."""
    page = _inner(_min_resize(_decode(data, content_type)))
    marks = _marks(_darker_than_paper(page))
    pixels = marks.pixels_in_marks_spanning(_MIN_MARK_EXTENT)
    ratio = pixels / (page.width * page.height)
    return InkMeasure(ratio=ratio, pixels=pixels, line=_has_line(marks.boxes(_MIN_LINE_MARK)))


def is_blank(measure: InkMeasure, threshold: float = DEFAULT_BLANK_INK_RATIO) -> bool:
    """True if the page has too little ink to be worth a provider call, and no line of it."""
    return measure.ratio < threshold and not measure.line


def _decode(data: bytes, content_type: str) -> Image.Image:
    """The page in 8-bit gray."""
    if content_type == PDF_CONTENT_TYPE:
        return _render_pdf(data)
    if content_type in IMAGE_CONTENT_TYPES:
        return _decode_image(data)
    raise BadInput(f"cannot look for ink in a page of type {content_type!r}", code=_CODE)


def _decode_image(data: bytes) -> Image.Image:
    """The image in gray, a large JPEG decoded cheaply at a reduced scale."""
    try:
        with warnings.catch_warnings():
            # _MAX_PIXELS decides; Pillow's warning threshold would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            _check_pixels(img.size)
            img.draft("L", _draft_size(img.size))
            img.load()
            return _gray(img)
    except _PILLOW_FAILURES as e:
        raise BadInput(f"cannot decode the page to look for ink ({e})", code=_CODE) from e


def _gray(img: Image.Image) -> Image.Image:
    """8-bit gray. A 16-bit scan's white is 65535: scale it, as ``convert`` would clip."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        return img.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    return img.convert("L")


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    """Smallest size to ask of the JPEG decoder (it never decodes smaller than asked)."""
    scale = min(1.0, _DRAFT_LONG_SIDE / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _check_pixels(size: tuple[int, int]) -> None:
    if size[0] * size[1] > _MAX_PIXELS:
        raise BadInput(
            f"page claims {size[0]}x{size[1]} px, more than the {_MAX_PIXELS:,} we decode",
            code=_CODE,
        )


def _render_pdf(data: bytes) -> Image.Image:
    """The only page of the PDF drawn in gray at about :data:`_PDF_DPI`."""
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise BadInput(f"cannot open the PDF to look for ink ({e})", code=_CODE) from e
    try:
        if len(document) != 1:
            raise BadInput(f"expected a one-page PDF, got {len(document)} pages", code=_CODE)
        page = document[0]
        try:
            bitmap = page.render(scale=_render_scale(*page.get_size()), grayscale=True)
            shared: Image.Image = bitmap.to_pil()  # mode L, over the bitmap's own buffer
            return shared.copy()  # PDFium frees that buffer with the bitmap
        finally:
            page.close()
    except pdfium.PdfiumError as e:
        raise BadInput(f"cannot render the PDF page to look for ink ({e})", code=_CODE) from e
    finally:
        document.close()


def _render_scale(width: float, height: float) -> float:
    """Pixels per point: :data:`_PDF_DPI`, unless the page is too large for that."""
    if width <= 0 or height <= 0:
        raise BadInput(f"PDF page size is {width}x{height} pt", code=_CODE)
    return min(_PDF_DPI / 72, _MAX_RENDER_SIDE / max(width, height))


def _min_resize(img: Image.Image) -> Image.Image:
    """Shrink to the working size, each pixel the darkest of its footprint.

    Averaging (``reduce``, resampling) would fade a 2 px pencil line into the paper. Each of
    the k x k passes reads one pixel per footprint, at an offset spread over it, so that with
    k >= the scale every source pixel is read at least once.
    """
    scale = max(img.size) / _WORK_LONG_SIDE
    if scale <= 1:
        return img
    size = (max(1, round(img.width / scale)), max(1, round(img.height / scale)))
    sx, sy = img.width / size[0], img.height / size[1]
    kx, ky = math.ceil(sx), math.ceil(sy)
    darkest = Image.new("L", size, 255)
    for j in range(ky):
        for i in range(kx):
            offset_x, offset_y = sx * ((i + 0.5) / kx - 0.5), sy * ((j + 0.5) / ky - 0.5)
            sample = img.transform(
                size,
                Image.Transform.AFFINE,
                (sx, 0, offset_x, 0, sy, offset_y),
                Image.Resampling.NEAREST,
                fillcolor=255,
            )
            darkest = ImageChops.darker(darkest, sample)
    return darkest


def _inner(img: Image.Image) -> Image.Image:
    """The page without its edges."""
    dx, dy = int(img.width * _MARGIN), int(img.height * _MARGIN)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def _darker_than_paper(page: Image.Image) -> Image.Image:
    """Mask (255 = ink, 0 = paper) of pixels clearly darker than the paper around them."""
    return ImageChops.subtract(_paper(page), page).point(
        lambda diff: 255 if diff > _CONTRAST else 0
    )


def _paper(page: Image.Image) -> Image.Image:
    """The local paper level: tone, gradients and shadows, without the strokes on it.

    At 1/8 scale a morphological closing (max, then min) fills every dark mark narrower than
    a few blocks with the paper beside it, yet follows a gradient or edge shadow exactly,
    since closing leaves monotone slopes unchanged.
    """
    small_size = (
        max(1, page.width // _BACKGROUND_BLOCK),
        max(1, page.height // _BACKGROUND_BLOCK),
    )
    small = page.resize(small_size, Image.Resampling.BOX)
    closed = small.filter(ImageFilter.MaxFilter(_BACKGROUND_SPAN)).filter(
        ImageFilter.MinFilter(_BACKGROUND_SPAN)
    )
    return closed.resize(page.size, Image.Resampling.BILINEAR)


def _marks(mask: Image.Image) -> _Marks:
    """The marks (8-connected components) of the ink mask.

    Connected components rather than a density filter: two specks side by side are still two
    specks, while a thin pencil line, however faint its neighbourhood, is one long mark.
    """
    marks = _Marks()
    above: list[tuple[int, int, int]] = []
    current: list[tuple[int, int, int]] = []
    row, first = -1, 0
    for y, start, end in _runs(mask):
        if y != row:
            above = current if y == row + 1 else []
            current, row, first = [], y, 0
        mark = marks.add(y, start, end)
        # Runs of the row above touch this one (diagonals included) if they reach
        # [start - 1, end]; both rows are in order, so skipped runs stay skipped.
        while first < len(above) and above[first][1] < start:
            first += 1
        touching = first
        while touching < len(above) and above[touching][0] <= end:
            marks.join(mark, above[touching][2])
            touching += 1
        current.append((start, end, mark))
    return marks


def _has_line(boxes: list[Box]) -> bool:
    """True if :data:`_LINE_MARKS` marks or more follow each other along a row.

    Marks join when they (nearly) overlap vertically and a gap of at most :data:`_LINE_GAP` (a word
    space of small print), or the taller one's height, separates them; a line is such a
    chain at least :data:`_LINE_LENGTH` long. Dust falls at random: three specks in a row
    are rare, paired specks are only two, and a line needs two marks of a letter's size.
    """
    boxes = sorted(boxes)
    chains = _Chains(boxes)
    for i, (_, top, right, bottom) in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            left_j, top_j, _, bottom_j = boxes[j]
            gap = left_j - right
            if gap > _MAX_LINE_GAP:
                break
            # Larger writing leaves wider spaces: up to the height of the taller mark.
            allowed = max(_LINE_GAP, bottom - top + 1, bottom_j - top_j + 1)
            rows_apart = max(top, top_j) - min(bottom, bottom_j)
            if gap <= allowed and rows_apart <= _LINE_SLACK and chains.join(i, j):
                return True
    return False


def _runs(mask: Image.Image) -> Iterator[tuple[int, int, int]]:
    """(row, start, end) of every horizontal stretch of ink, in reading order."""
    stride = mask.width + 1
    # One paper column on the right keeps every run within its row.
    data = ImageOps.expand(mask, border=(0, 0, 1, 0), fill=0).tobytes()
    start = data.find(_INK)
    while start != -1:
        end = data.find(_PAPER, start)
        row = start // stride
        yield row, start - row * stride, end - row * stride
        start = data.find(_INK, end)


class _Marks:
    """Union-find over runs of ink; each root holds its mark's pixel count and bounding box."""

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._pixels: list[int] = []
        # left, top, right (exclusive), bottom (inclusive)
        self._box: list[Box] = []

    def add(self, row: int, start: int, end: int) -> int:
        """A new mark made of one run; returns its id."""
        self._parent.append(len(self._parent))
        self._pixels.append(end - start)
        self._box.append((start, row, end, row))
        return len(self._parent) - 1

    def join(self, a: int, b: int) -> None:
        """Make the marks holding ``a`` and ``b`` one."""
        a, b = self._root(a), self._root(b)
        if a == b:
            return
        self._parent[a] = b
        self._pixels[b] += self._pixels[a]
        (l1, t1, r1, b1), (l2, t2, r2, b2) = self._box[a], self._box[b]
        self._box[b] = (min(l1, l2), min(t1, t2), max(r1, r2), max(b1, b2))

    def pixels_in_marks_spanning(self, extent: int) -> int:
        """Pixels of the marks at least ``extent`` wide or high."""
        return sum(
            self._pixels[i]
            for i, parent in enumerate(self._parent)
            if parent == i and self._span(i) >= extent
        )

    def boxes(self, extent: int) -> list[Box]:
        """Bounding boxes of the marks at least ``extent`` wide or high."""
        return [
            self._box[i]
            for i, parent in enumerate(self._parent)
            if parent == i and self._span(i) >= extent
        ]

    def _span(self, root: int) -> int:
        return _span(self._box[root])

    def _root(self, i: int) -> int:
        while self._parent[i] != i:
            self._parent[i] = self._parent[self._parent[i]]
            i = self._parent[i]
        return i


def _span(box: Box) -> int:
    left, top, right, bottom = box
    return max(right - left, bottom - top + 1)


class _Chains:
    """Union-find over marks in a row; each root holds its chain's length and extent."""

    def __init__(self, boxes: list[Box]) -> None:
        self._parent = list(range(len(boxes)))
        self._count = [1] * len(boxes)
        self._letters = [int(_span(box) >= _LINE_LETTER) for box in boxes]
        self._extent = [(left, right) for left, _, right, _ in boxes]

    def join(self, a: int, b: int) -> bool:
        """Chain ``a`` and ``b``; True once their chain is long enough to be a line."""
        a, b = self._root(a), self._root(b)
        if a != b:
            self._parent[a] = b
            self._count[b] += self._count[a]
            self._letters[b] += self._letters[a]
            (l1, r1), (l2, r2) = self._extent[a], self._extent[b]
            self._extent[b] = (min(l1, l2), max(r1, r2))
        left, right = self._extent[b]
        return (
            self._count[b] >= _LINE_MARKS
            and self._letters[b] >= _LINE_LETTERS
            and right - left >= _LINE_LENGTH
        )

    def _root(self, i: int) -> int:
        while self._parent[i] != i:
            self._parent[i] = self._parent[self._parent[i]]
            i = self._parent[i]
        return i
