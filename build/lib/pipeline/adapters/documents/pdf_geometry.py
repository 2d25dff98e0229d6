"""Where a PDF page's scan lies and how it turns: boxes and matrices, in user space.

Pure arithmetic on a page's boxes and the matrix that places its image; ``pdf_scan`` uses
it to decide whether the scanner's JPEG can be sent as the page is shown.
"""

from __future__ import annotations

import math
from typing import Final

from PIL import Image
from pypdf import PageObject
from pypdf.generic import RectangleObject

Matrix = tuple[float, float, float, float, float, float]
Box = tuple[float, float, float, float]

_MIN_COVERAGE: Final = 0.9


def visible_box(page: PageObject) -> Box:
    """What a viewer shows of the page: its CropBox, within its MediaBox (user space)."""
    crop, media = box_of(page.cropbox), box_of(page.mediabox)
    return (
        max(crop[0], media[0]),
        max(crop[1], media[1]),
        min(crop[2], media[2]),
        min(crop[3], media[3]),
    )


def box_of(rectangle: RectangleObject) -> Box:
    """A pypdf rectangle as (left, bottom, right, top) floats."""
    return (
        float(rectangle.left),
        float(rectangle.bottom),
        float(rectangle.right),
        float(rectangle.top),
    )


def shown_window(ctm: Matrix, box: Box) -> Box | None:
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


def upright_turns(ctm: Matrix, rotate: int) -> list[Image.Transpose] | None:
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


def pixel_box(window: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The window in whole pixels of an image of ``size``; never empty."""
    width, height = size
    left, top = round(window[0] * width), round(window[1] * height)
    right = max(round(window[2] * width), left + 1)
    bottom = max(round(window[3] * height), top + 1)
    return left, top, right, bottom


def multiply(m: tuple[float, ...], n: Matrix) -> Matrix:
    """``m`` × ``n``: the CTM once ``m cm`` is applied to the CTM ``n``."""
    a, b, c, d, e, f = m
    return (
        a * n[0] + b * n[2],
        a * n[1] + b * n[3],
        c * n[0] + d * n[2],
        c * n[1] + d * n[3],
        e * n[0] + f * n[2] + n[4],
        e * n[1] + f * n[3] + n[5],
    )
