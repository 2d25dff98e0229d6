"""A page handed back: its picture with each question and answer box drawn in its grade's colour.

The colours are the report's: green correct, red wrong, grey unanswered; amber a partial
grade or any grade a teacher's override set (the effective grade is the one drawn, as
everywhere); a box not graded is outlined in dashes. A question's box is an outline with its
name (``Q2``) in its corner; an answer slot's is tinted as well, so a student sees at a glance
which of their answers were taken as right. Boxes are in the pixels of the page as it was
sent to the provider (``PageView.width``), scaled here to the picture drawn on.
"""

from __future__ import annotations

from typing import Final

from PIL import Image, ImageDraw, ImageFont

from pipeline.domain.grades import Grade, grade_of
from pipeline.operator.report.data import Box, PageView

RGB = tuple[int, int, int]

COLOURS: Final[dict[Grade, RGB]] = {
    Grade.CORRECT: (0x1A, 0x96, 0x41),
    Grade.WRONG: (0xD7, 0x19, 0x1C),
    Grade.UNANSWERED: (0x8C, 0x8C, 0x8C),
    Grade.PARTIAL: (0xE6, 0x9F, 0x00),
}
TEACHERS: Final[RGB] = COLOURS[Grade.PARTIAL]  # amber: a grade a teacher's override set
NOT_GRADED: Final[RGB] = (0x8C, 0x8C, 0x8C)  # dashed
MAX_WIDTH: Final = 1600  # about 190 dpi on A4: sharp on paper, a few hundred kB a page
_TINT: Final = 64  # of 255: an answer slot's fill


def colour(grade: int, overridden: bool) -> tuple[RGB, bool]:
    """The colour a grade is shown in, and whether it is dashed (not graded)."""
    if overridden:
        return TEACHERS, False
    found = COLOURS.get(grade_of(grade))
    return (NOT_GRADED, True) if found is None else (found, False)


def colour_of(box: Box) -> tuple[RGB, bool]:
    """The colour a box is drawn in, and whether it is dashed (not graded)."""
    return colour(box.result, box.overridden_by is not None)


def marked_page(picture: Image.Image, page: PageView, max_width: int = MAX_WIDTH) -> Image.Image:
    """The page's picture, at most ``max_width`` wide, with its boxes drawn over it."""
    scale = min(1.0, max_width / picture.width)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    out = picture.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    factor = out.width / (page.width or picture.width)
    line = max(3, round(out.width / 300))
    boxes = [(box, _scaled(box, factor)) for box in page.boxes]
    tint = Image.new("RGBA", out.size, (0, 0, 0, 0))
    tint_draw = ImageDraw.Draw(tint)
    for box, rect in boxes:
        colour, dashed = colour_of(box)
        if box.kind == "slot" and not dashed:
            tint_draw.rectangle(rect, fill=(*colour, _TINT))
    out = Image.alpha_composite(out.convert("RGBA"), tint).convert("RGB")
    draw = ImageDraw.Draw(out)
    font = _font(max(12, out.width // 60))
    for box, rect in boxes:
        colour, dashed = colour_of(box)
        width = line if box.kind == "question" else max(2, line // 2)
        if dashed:
            _dashed(draw, rect, colour, width)
        else:
            draw.rectangle(rect, outline=colour, width=width)
        if box.kind == "question":
            _tag(draw, rect, box.label, colour, font, width)
    return out


def _scaled(box: Box, factor: float) -> tuple[int, int, int, int]:
    return (
        round(box.left * factor),
        round(box.top * factor),
        round(box.right * factor),
        round(box.bottom * factor),
    )


def _dashed(
    draw: ImageDraw.ImageDraw, rect: tuple[int, int, int, int], colour: RGB, width: int
) -> None:
    left, top, right, bottom = rect
    dash = 4 * width
    for x in range(left, right, 2 * dash):
        end = min(x + dash, right)
        draw.line([(x, top), (end, top)], fill=colour, width=width)
        draw.line([(x, bottom), (end, bottom)], fill=colour, width=width)
    for y in range(top, bottom, 2 * dash):
        end = min(y + dash, bottom)
        draw.line([(left, y), (left, end)], fill=colour, width=width)
        draw.line([(right, y), (right, end)], fill=colour, width=width)


def _tag(
    draw: ImageDraw.ImageDraw,
    rect: tuple[int, int, int, int],
    label: str,
    colour: RGB,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> None:
    """The question's name in a white label inside its box's top left corner."""
    x, y = rect[0] + width, rect[1] + width
    _, _, right, bottom = draw.textbbox((x + 3, y + 1), label, font=font)
    draw.rectangle((x, y, right + 3, bottom + 2), fill=(255, 255, 255))
    draw.text((x + 3, y + 1), label, fill=colour, font=font)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's own font at ``size`` px (labels are ``Q1``… so any font has the glyphs)."""
    return ImageFont.load_default(size)
