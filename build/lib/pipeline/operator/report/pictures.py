"""Page pictures for the report: the archived page image, made small enough to embed.

A scan as sent to the provider is often 1–3 MB; at most 1000 px wide and JPEG quality 80 it
is about a tenth of that, which keeps a 300-page report in the tens of megabytes. The web
app serves the page as it was sent (``page_image``); the handback PDFs (``scangrade export
--format handback``) draw on the whole image (``page_drawing``).
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from typing import Final

from PIL import Image, UnidentifiedImageError

from pipeline.adapters.documents.pdf import PDF_CONTENT_TYPE, split_pdf
from pipeline.adapters.objectstore import ObjectMissing, ObjectStore
from pipeline.errors import BadInput

log = logging.getLogger(__name__)

MAX_WIDTH: Final = 1000
MAX_HEIGHT: Final = 3000
QUALITY: Final = 80
_UNREADABLE: Final = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError)


@dataclass(frozen=True)
class Picture:
    """A page picture ready to embed, and the size of the page it was made from."""

    data_uri: str
    width: int
    height: int
    source_width: int
    source_height: int
    size: int


@dataclass(frozen=True)
class NoPicture:
    """Why a page is shown without its picture."""

    reason: str


@dataclass(frozen=True)
class PageImage:
    """The archived page as an image a browser shows (a one-page PDF rendered)."""

    data: bytes
    content_type: str


def page_image(store: ObjectStore, key: str, content_type: str | None) -> PageImage | NoPicture:
    """The page image stored at ``key``, as it was sent; a one-page PDF rendered at 100 dpi."""
    try:
        data = store.get(key)
    except ObjectMissing:
        log.warning("report: page image %s is not in the bucket", key)
        return NoPicture("the archived page image is missing")
    if content_type != PDF_CONTENT_TYPE:
        return PageImage(data, content_type or "application/octet-stream")
    try:
        page = split_pdf(data, dpi=100)[0].image
    except BadInput as e:
        log.warning("report: page %s cannot be rendered: %s", key, e)
        return NoPicture("the archived one-page PDF cannot be rendered")
    if page is None:
        return NoPicture("the archived one-page PDF cannot be rendered")
    return PageImage(page.data, page.content_type)


def page_picture(store: ObjectStore, key: str, content_type: str | None) -> Picture | NoPicture:
    """The page image stored at ``key``, downscaled and encoded as a ``data:`` URI."""
    found = page_image(store, key, content_type)
    if isinstance(found, NoPicture):
        return found
    try:
        return _downscaled(found.data)
    except _UNREADABLE as e:
        log.warning("report: page image %s is unreadable: %s", key, e)
        return NoPicture("the archived page image is unreadable")


def _downscaled(data: bytes) -> Picture:
    with Image.open(io.BytesIO(data)) as img:
        source = img.size
        scale = min(1.0, MAX_WIDTH / img.width, MAX_HEIGHT / img.height)
        target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img.draft(img.mode, target)  # a JPEG decodes straight at 1/2, 1/4… scale: faster
        small = img.convert("L" if img.mode in {"1", "L"} else "RGB")
        small.thumbnail(target, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=QUALITY, optimize=True)
    encoded = base64.b64encode(buf.getvalue()).decode("ascii")
    return Picture(
        data_uri=f"data:image/jpeg;base64,{encoded}",
        width=small.width,
        height=small.height,
        source_width=source[0],
        source_height=source[1],
        size=len(encoded),
    )


def page_drawing(store: ObjectStore, key: str, content_type: str | None) -> Image.Image | NoPicture:
    """The page image stored at ``key``, whole, as an RGB picture (for drawing on)."""
    found = page_image(store, key, content_type)
    if isinstance(found, NoPicture):
        return found
    try:
        with Image.open(io.BytesIO(found.data)) as img:
            img.load()
            return img.convert("RGB")
    except _UNREADABLE as e:
        log.warning("report: page image %s is unreadable: %s", key, e)
        return NoPicture("the archived page image is unreadable")
