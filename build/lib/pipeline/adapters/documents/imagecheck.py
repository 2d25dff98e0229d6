"""Checks that a downloaded result image is the image it claims to be.

A gateway in front of the provider can answer a signed image URL with its own HTML page and
HTTP 200, and a connection closed mid-body leaves half an image: neither may be archived as
a crop and marked archived. The check is cheap, never a full decode (a page has about five
images and archive workers share the host's CPU): the bytes must open as an image of a known
format whose header Pillow reads, PNG chunks must pass ``verify`` (their CRCs, through
``IEND``) and a JPEG must end with its end-of-image marker.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from pipeline.errors import Transient

_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
}
_JPEG_END = b"\xff\xd9"


class NotAnImage(Transient):
    """A download that should be an image is not one (or not all of one).

    Transient: a gateway's page or a cut connection passes; the caller retries a few times,
    then marks the image lost with this reason.
    """


def image_type(data: bytes, claimed: str | None = None) -> str:
    """The content type of the whole image in ``data``; NotAnImage says what it is instead.

    ``claimed`` is the Content-Type the server sent, if any: an image must not come as text.
    """
    if claimed is not None and claimed.split(";")[0].strip().lower().startswith("text/"):
        raise NotAnImage(f"{describe(data)}, sent as {claimed.split(';')[0]}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                kind = image.format or ""
                image.verify()
    except UnidentifiedImageError as e:
        raise NotAnImage(describe(data)) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise NotAnImage(f"{describe(data)} ({e})") from e
    if kind not in _TYPES:
        raise NotAnImage(f"an image of an unexpected format ({kind or 'unknown'})")
    if kind == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(_JPEG_END):
        raise NotAnImage(f"a JPEG cut short ({len(data)} bytes, no end-of-image marker)")
    return _TYPES[kind]


def describe(data: bytes) -> str:
    """A few words on what non-image bytes look like, for the artifact's error."""
    head = data[:512].lstrip().lower()
    if not data:
        return "an empty answer"
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return f"an HTML page ({len(data)} bytes), not an image"
    if head.startswith((b"{", b"[")):
        return f"JSON ({len(data)} bytes), not an image"
    if head.startswith(b"<"):
        return f"XML ({len(data)} bytes), not an image"
    return f"{len(data)} bytes that are not a whole image"
