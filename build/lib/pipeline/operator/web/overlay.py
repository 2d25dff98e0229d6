"""The boxes drawn over a page's picture: one SVG the size of the page, scaled with it.

Boxes come in the pixels of the page as sent (the archived image's own), so the SVG's
``viewBox`` is the page's size and the browser scales both together, at any width. A box
reaching past the page (the provider's areas sometimes do) is cut at its edge; one wholly
outside is left out of the drawing, and its question is still listed beside the page.
Every box links to its line in that list, and its tooltip says the grade.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Mark:
    """A box to draw: where, what kind, the grade it shows, and where its line is."""

    left: int
    top: int
    right: int
    bottom: int
    kind: str  # "question" or "slot"
    result: int  # the effective grade code: 0 not graded, 1-3 the provider's, 4 partial
    overridden: bool
    anchor: str
    label: str
    title: str


def clamped(mark: Mark, width: int, height: int) -> Mark | None:
    """The mark cut at the page's edges; None if nothing of it is on the page."""
    left, right = max(0, min(mark.left, width)), max(0, min(mark.right, width))
    top, bottom = max(0, min(mark.top, height)), max(0, min(mark.bottom, height))
    if right <= left or bottom <= top:
        return None
    return replace(mark, left=left, top=top, right=right, bottom=bottom)


def overlay(marks: list[Mark], width: int, height: int) -> Markup:
    """The SVG of every mark on a ``width`` × ``height`` page."""
    font = max(12, width // 70)
    parts = [
        f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'data-width="{width}" data-height="{height}">'
    ]
    for mark in marks:
        shown = clamped(mark, width, height)
        if shown is None:
            continue
        classes = f"{shown.kind} r{shown.result}" + (" overridden" if shown.overridden else "")
        parts.append(
            f'<a href="#{escape(shown.anchor)}"><rect class="{classes}" x="{shown.left}" '
            f'y="{shown.top}" width="{shown.right - shown.left}" '
            f'height="{shown.bottom - shown.top}" data-label="{escape(shown.label)}">'
            f"<title>{escape(shown.title)}</title></rect>"
        )
        if shown.kind == "question":
            baseline = min(shown.top + font, height)
            parts.append(
                f'<text class="tag r{shown.result}" x="{shown.left + 4}" y="{baseline}" '
                f'font-size="{font}">{escape(shown.label)}</text>'
            )
        parts.append("</a>")
    parts.append("</svg>")
    return Markup("".join(parts))


def rect_of(area: Any) -> tuple[int, int, int, int] | None:
    """The (left, top, right, bottom) of a ``{left_x,left_y,right_x,right_y}`` area, or None."""
    if not isinstance(area, dict):
        return None
    try:
        left, top = int(area["left_x"]), int(area["left_y"])
        right, bottom = int(area["right_x"]), int(area["right_y"])
    except (KeyError, TypeError, ValueError):
        return None
    return (left, top, right, bottom) if right > left and bottom > top else None
