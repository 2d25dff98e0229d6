"""Writing PDFs (reportlab): pages of headings, lines and tables, and pages of one picture each.

What a page says is the caller's; this module only lays it out on A4. Text is real text, so
it can be searched and read aloud; a line holding characters beyond Windows-1252 (a
student's Chinese name) is set in Adobe's ``STSong-Light``, one of the CID fonts every PDF viewer
brings, so nothing needs embedding. Pictures are embedded as the JPEG they are given.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

RGB = tuple[int, int, int]

CJK_FONT: Final = "STSong-Light"
_MARGIN: Final = 15 * mm
_CAPTION: Final = 24.0  # points above a picture for its caption


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and its background."""

    text: str
    fill: RGB | None = None


@dataclass(frozen=True)
class Grid:
    """A table under a heading; column widths are shares of the page's width."""

    heading: str
    header: tuple[str, ...]
    rows: Sequence[tuple[Cell, ...]]
    widths: tuple[float, ...]


@dataclass(frozen=True)
class TextPage:
    """A title, lines under it and tables; it runs on over more pages when long."""

    title: str
    lines: list[str] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)


@dataclass(frozen=True)
class PicturePage:
    """One picture (JPEG bytes) as large as the page allows, with a caption above it."""

    jpeg: bytes
    width: int
    height: int
    caption: str


def write_pdf(out: IO[bytes], title: str, pages: Iterable[TextPage | PicturePage]) -> None:
    """Lay ``pages`` out on A4, one after the other, into ``out``."""
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=title,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
    )
    story: list[Flowable] = []
    for page in pages:
        if story:
            story.append(PageBreak())
        if isinstance(page, TextPage):
            story.extend(_text_page(page, doc.width))
        else:
            story.extend(_picture_page(page, doc.width, doc.height))
    doc.build(story)


def _text_page(page: TextPage, width: float) -> list[Flowable]:
    flow: list[Flowable] = [_paragraph(page.title, 18, bold=True), Spacer(1, 4 * mm)]
    flow.extend(_paragraph(line, 11) for line in page.lines)
    for grid in page.grids:
        flow.extend([Spacer(1, 5 * mm), _paragraph(grid.heading, 13, bold=True)])
        flow.append(Spacer(1, 2 * mm))
        flow.append(_table(grid, width))
    return flow


def _table(grid: Grid, width: float) -> Table:
    header = [_paragraph(text, 9, bold=True) for text in grid.header]
    body = [[_paragraph(cell.text, 9) for cell in row] for row in grid.rows]
    table = Table([header, *body], colWidths=[share * width for share in grid.widths], repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.Color(0.75, 0.75, 0.75)),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.93, 0.93)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]
    for y, row in enumerate(grid.rows, start=1):
        for x, cell in enumerate(row):
            if cell.fill is not None:
                style.append(("BACKGROUND", (x, y), (x, y), _colour(cell.fill)))
    table.setStyle(TableStyle(style))
    return table


def _picture_page(page: PicturePage, width: float, height: float) -> list[Flowable]:
    room = height - _CAPTION - 4 * mm
    scale = min(width / page.width, room / page.height)
    picture = Image(io.BytesIO(page.jpeg), width=page.width * scale, height=page.height * scale)
    return [_paragraph(page.caption, 11, bold=True), Spacer(1, 2 * mm), picture]


def _paragraph(text: str, size: float, *, bold: bool = False) -> Paragraph:
    return Paragraph(escape(text), _style(_font(text, bold), size))


@cache
def _style(font: str, size: float) -> ParagraphStyle:
    return ParagraphStyle(f"{font}-{size}", fontName=font, fontSize=size, leading=size * 1.3)


def _font(text: str, bold: bool) -> str:
    """Helvetica for what its encoding (WinAnsi, Windows-1252) holds, else the CID font."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return _cjk_font()
    return "Helvetica-Bold" if bold else "Helvetica"


@cache
def _cjk_font() -> str:
    """Register the CID font once, when a text first needs it."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _colour(rgb: RGB) -> colors.Color:
    red, green, blue = rgb
    return colors.Color(red / 255, green / 255, blue / 255)
