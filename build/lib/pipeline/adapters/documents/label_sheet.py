"""Print labels: QR codes (segno) laid out on sticker sheets or header strips (reportlab).

Two layouts, both A4 portrait:

- ``stickers``: Avery L7160 sheets (and their look-alikes: 21 labels of 63.5 × 38.1 mm, 3
  across and 7 down, 15.15 mm from the top edge, 7.25 mm from the left, 2.54 mm between
  columns), one label per student's page, filled row by row;
- ``header``: one page per label with a strip across its top, the code in the top right
  corner (10 mm from both edges), to print the worksheet onto or to photocopy it under.

Every code is drawn as vector squares, 12 mm wide without its quiet zone (four modules of
white, which the layouts leave free), at error correction M or better (segno raises the
level when the same version allows it). The text beside it is Helvetica; a line Helvetica cannot
show (a name in Chinese) is set in the TrueType font given (embedded, subset), else in the
built-in STSong-Light CID font, whose glyphs the PDF viewer must supply (Acrobat and most
viewers on a Chinese system do; others leave the line out).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

from pipeline.errors import ConfigurationError

Layout = Literal["stickers", "header"]
LAYOUTS: Final = ("stickers", "header")

CODE_MM: Final = 12.0
"""Width of a printed code without its quiet zone: the size the reader is measured at."""
MAX_VERSION: Final = 4


@dataclass(frozen=True)
class Sticker:
    """One label: its code's text and the lines printed beside the code."""

    code: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Grid:
    """A sheet of sticky labels, in millimetres from the page's top left corner."""

    name: str
    columns: int
    rows: int
    width: float
    height: float
    left: float
    top: float
    column_pitch: float
    row_pitch: float

    @property
    def per_sheet(self) -> int:
        """Labels on one sheet."""
        return self.columns * self.rows


L7160: Final = Grid(
    "Avery L7160 (A4, 3 × 7, 63.5 × 38.1 mm)", 3, 7, 63.5, 38.1, 7.25, 15.15, 66.04, 38.1
)
_PAD_MM: Final = 4.0
_HEADER_MM: Final = 10.0
_LATIN: Final = "Helvetica"
_LATIN_BOLD: Final = "Helvetica-Bold"
_CJK: Final = "STSong-Light"
_GIVEN: Final = "scangrade-label-font"


class FontUnusable(ConfigurationError):
    """The font file given for names cannot be read as a TrueType font."""

    message = "the font file given for the labels' names is not a TrueType font"


@dataclass(frozen=True)
class _Fonts:
    """Helvetica for what it can show, ``wide`` for the rest."""

    wide: str

    def of(self, text: str, *, bold: bool) -> str:
        try:
            text.encode("cp1252")  # Helvetica's WinAnsi encoding
        except UnicodeEncodeError:
            return self.wide
        return _LATIN_BOLD if bold else _LATIN


def label_pdf(
    stickers: Sequence[Sticker],
    layout: Layout,
    *,
    title: str = "labels",
    font_file: Path | None = None,
) -> bytes:
    """The PDF of ``stickers`` in ``layout``.

    ValueError if a code would be denser than MAX_VERSION; FontUnusable if ``font_file``
    is not a TrueType font.
    """
    fonts = _fonts(font_file)
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("scangrade labels")
    if layout == "stickers":
        _stickers(canvas, stickers, L7160, fonts)
    else:
        _headers(canvas, stickers, fonts)
    canvas.save()
    return buf.getvalue()


def _fonts(font_file: Path | None) -> _Fonts:
    if font_file is None:
        if _CJK not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(_CJK))
        return _Fonts(_CJK)
    try:
        pdfmetrics.registerFont(TTFont(_GIVEN, str(font_file)))
    except (OSError, TTFError) as e:
        raise FontUnusable(f"{font_file} cannot be used as a TrueType font: {e}") from e
    return _Fonts(_GIVEN)


def sheets_needed(count: int, layout: Layout) -> int:
    """Pages the PDF of ``count`` labels has."""
    if layout == "header":
        return count
    return -(-count // L7160.per_sheet)


def _stickers(canvas: Canvas, stickers: Sequence[Sticker], grid: Grid, fonts: _Fonts) -> None:
    _, page_height = A4
    for index, sticker in enumerate(stickers):
        slot = index % grid.per_sheet
        if index and slot == 0:
            canvas.showPage()
        row, column = divmod(slot, grid.columns)
        left = (grid.left + column * grid.column_pitch) * mm
        top = page_height - (grid.top + row * grid.row_pitch) * mm
        code_top = top - (grid.height * mm - CODE_MM * mm) / 2
        _code(canvas, sticker.code, left + _PAD_MM * mm, code_top)
        text_left = left + (2 * _PAD_MM + CODE_MM) * mm
        room = (grid.width - 3 * _PAD_MM - CODE_MM) * mm
        lines = sticker.lines
        _lines(canvas, lines, text_left, code_top - 2.5 * mm, room, step=3.6 * mm, fonts=fonts)


def _headers(canvas: Canvas, stickers: Sequence[Sticker], fonts: _Fonts) -> None:
    page_width, page_height = A4
    for index, sticker in enumerate(stickers):
        if index:
            canvas.showPage()
        code_left = page_width - (_HEADER_MM + CODE_MM) * mm
        code_top = page_height - _HEADER_MM * mm
        _code(canvas, sticker.code, code_left, code_top)
        left = _HEADER_MM * mm
        room = code_left - left - _PAD_MM * mm
        # The name, then the rest on one line: the strip stays as tall as the code.
        lines = (*sticker.lines[:1], " · ".join(sticker.lines[1:]))
        _lines(canvas, lines, left, code_top - 4 * mm, room, step=5.5 * mm, fonts=fonts)
        rule = code_top - (CODE_MM + 3) * mm
        canvas.setLineWidth(0.4)
        canvas.line(left, rule, page_width - _HEADER_MM * mm, rule)


def _code(canvas: Canvas, text: str, left: float, top: float) -> None:
    """The QR code of ``text``, CODE_MM wide, its top left corner at (left, top) points."""
    qr = segno.make(text, error="m", micro=False, boost_error=True)
    if qr.version > MAX_VERSION:  # type: ignore[operator]
        raise ValueError(f"{text!r} needs a version-{qr.version} code, over {MAX_VERSION}")
    size = len(qr.matrix)
    module = CODE_MM * mm / size
    canvas.setFillGray(0)
    path = canvas.beginPath()
    for row, start, run in _dark_runs(qr.matrix):
        path.rect(left + start * module, top - (row + 1) * module, run * module, module)
    canvas.drawPath(path, stroke=0, fill=1)


def _dark_runs(matrix: Sequence[Sequence[int]]) -> Iterator[tuple[int, int, int]]:
    """(row, first column, length) of each run of dark modules: fewer, seamless rectangles."""
    for row, cells in enumerate(matrix):
        start = None
        for column, dark in enumerate([*cells, 0]):
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                yield row, start, column - start
                start = None


def _lines(
    canvas: Canvas,
    lines: Sequence[str],
    left: float,
    top: float,
    room: float,
    *,
    step: float,
    fonts: _Fonts,
) -> None:
    """The label's text, first line bold and larger, each cut to fit ``room`` points."""
    for number, line in enumerate(lines):
        size = 10.0 if number == 0 else 8.0
        font = fonts.of(line, bold=number == 0)
        canvas.setFont(font, size)
        canvas.drawString(left, top - number * step, _fit(line, font, size, room))


def _fit(text: str, font: str, size: float, room: float) -> str:
    """``text``, cut with an ellipsis if wider than ``room`` points."""
    if pdfmetrics.stringWidth(text, font, size) <= room:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text + "…"
