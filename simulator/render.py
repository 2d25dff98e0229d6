"""Pillow drawings of the provider's result images: marked crops and pages, enhanced pages.

Rendering is a pure function of the uploaded bytes and the grading, so an object fetched twice
is the same bytes twice; that lets an archiver compare checksums and lets tests assert it.
Only shapes are drawn (no text), so the output does not depend on which fonts are installed.

A page's objects (its marked page and one crop per question) are fetched one after another, so
the decoded page is kept for the next few renders: decoding a scan costs as much as drawing
and encoding a crop, and the simulator shares the benchmark's CPUs with the pipeline.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageOps

from simulator.grading import Box, GradedPage, Question, Slot

_COLOURS: dict[int, tuple[int, int, int]] = {
    0: (160, 160, 160),
    1: (0, 170, 60),
    2: (220, 30, 30),
    3: (128, 128, 128),
}


class _DecodedPages:
    """The RGB pixels of the last few uploads rendered, within a memory budget."""

    def __init__(self, budget_bytes: int = 96 * 1024 * 1024) -> None:
        self._budget = budget_bytes
        self._items: OrderedDict[bytes, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image_bytes: bytes) -> Image.Image:
        """The decoded page, shared: callers copy or crop it, never draw on it."""
        with self._lock:
            page = self._items.get(image_bytes)
            if page is not None:
                self._items.move_to_end(image_bytes)
                return page
        with Image.open(io.BytesIO(image_bytes)) as source:
            page = source.convert("RGB")
        with self._lock:
            self._items[image_bytes] = page
            while len(self._items) > 1 and self._size() > self._budget:
                self._items.popitem(last=False)
        return page

    def _size(self) -> int:
        return sum(3 * page.width * page.height for page in self._items.values())

    def clear(self) -> None:
        """Forget every decoded page."""
        with self._lock:
            self._items.clear()


DECODED = _DecodedPages()


def render_crop(image_bytes: bytes, question: Question) -> bytes:
    """PNG of one question's area with a mark drawn on every slot."""
    page = DECODED.get(image_bytes)
    bounds = _clamp(question.bounds, page.width, page.height)
    crop = page.crop((bounds.left_x, bounds.left_y, bounds.right_x, bounds.right_y))
    draw = ImageDraw.Draw(crop)
    width = _line_width(page)
    for slot in question.slots:
        _mark_slot(draw, slot, -bounds.left_x, -bounds.left_y, width)
    return _png(crop)


def render_page(image_bytes: bytes, graded: GradedPage) -> bytes:
    """PNG of the whole page with every question boxed and every slot marked."""
    page = DECODED.get(image_bytes).copy()
    draw = ImageDraw.Draw(page)
    width = _line_width(page)
    for question in graded.questions:
        colour = _COLOURS[question.correct_result]
        for area in question.areas:
            draw.rectangle(_xy(area, 0, 0), outline=colour, width=width)
        for slot in question.slots:
            _mark_slot(draw, slot, 0, 0, width)
    return _png(page)


def render_enhanced(image_bytes: bytes) -> bytes:
    """PNG of paper_cut's "corrected and enhanced" page: grayscale, contrast stretched."""
    with Image.open(io.BytesIO(image_bytes)) as source:
        page = ImageOps.autocontrast(source.convert("L"), cutoff=1)
    return _png(page)


def _mark_slot(draw: ImageDraw.ImageDraw, slot: Slot, dx: int, dy: int, width: int) -> None:
    """Outline the answer area and draw a tick, a cross or a dash beside it."""
    colour = _COLOURS[slot.correct_result]
    x0, y0, x1, y1 = _xy(slot.area, dx, dy)
    draw.rectangle((x0, y0, x1, y1), outline=colour, width=max(1, width // 2))
    size = max(6, min(y1 - y0, 60))
    mx, my = x1 - size, y0
    if slot.correct_result == 1:
        points = [(mx, my + size // 2), (mx + size // 3, my + size), (mx + size, my)]
        draw.line(points, fill=colour, width=width)
    elif slot.correct_result == 2:
        draw.line([(mx, my), (mx + size, my + size)], fill=colour, width=width)
        draw.line([(mx, my + size), (mx + size, my)], fill=colour, width=width)
    elif slot.correct_result == 3:
        draw.line([(mx, my + size // 2), (mx + size, my + size // 2)], fill=colour, width=width)


def _xy(box: Box, dx: int, dy: int) -> tuple[int, int, int, int]:
    """Pillow's inclusive rectangle for a box shifted by (dx, dy)."""
    return (box.left_x + dx, box.left_y + dy, box.right_x + dx - 1, box.right_y + dy - 1)


def _clamp(box: Box, width: int, height: int) -> Box:
    left, top = max(0, box.left_x), max(0, box.left_y)
    return Box(
        left, top, max(left + 1, min(width, box.right_x)), max(top + 1, min(height, box.right_y))
    )


def _line_width(page: Image.Image) -> int:
    return max(2, min(page.width, page.height) // 300)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


class RenderCache:
    """A small LRU of rendered PNGs keyed by (image digest, object id).

    Objects are rendered lazily when fetched; archivers usually fetch each one once, but
    retries and checksum comparisons fetch again, and rendering a page costs tens of ms.
    """

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: tuple[str, str], render: Callable[[], bytes]) -> bytes:
        """The cached PNG for ``key``, rendering it (outside the lock) on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        png = render()
        with self._lock:
            self._items[key] = png
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return png

    def clear(self) -> None:
        """Drop every cached PNG (and every decoded page)."""
        with self._lock:
            self._items.clear()
        DECODED.clear()
