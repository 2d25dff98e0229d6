"""Rectangles in the three spellings the provider's newer APIs use.

paper_cut and composition answer ``{"x", "y", "w", "h"}`` (older paper_cut clients saw
``[x, y, w, h]`` lists), formula answers ``{"left", "top", "width", "height"}``; one type with
one method per spelling keeps every answer's boxes consistent with the same layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Rect(NamedTuple):
    """A rectangle in page pixels: top-left corner, width and height (at least 1)."""

    x: int
    y: int
    w: int
    h: int

    def xywh(self) -> dict[str, int]:
        """``{"x", "y", "w", "h"}``, the seeds' box object."""
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}

    def as_list(self) -> list[int]:
        """``[x, y, w, h]``, the list form the field table describes."""
        return [self.x, self.y, self.w, self.h]

    def location(self) -> dict[str, int]:
        """Formula's ``location``, keys in the seed example's order."""
        return {"width": self.w, "top": self.y, "left": self.x, "height": self.h}


def rect(x: float, y: float, w: float, h: float) -> Rect:
    """A ``Rect`` from float coordinates, never thinner than one pixel."""
    return Rect(round(x), round(y), max(1, round(w)), max(1, round(h)))


def union(rects: Iterable[Rect]) -> Rect:
    """The smallest rectangle holding every one of ``rects`` (which must not be empty)."""
    items = list(rects)
    left = min(r.x for r in items)
    top = min(r.y for r in items)
    right = max(r.x + r.w for r in items)
    bottom = max(r.y + r.h for r in items)
    return Rect(left, top, right - left, bottom - top)
