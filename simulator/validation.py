"""Checks on uploaded bodies and images, with the provider's error codes for each failure.

``check_upload`` applies correct_edu's documented limits: jpg/jpeg/png/bmp, shortest side at
least 512 px, longest at most 8192 px, base64 text at most 10 MiB. The other APIs state their
own ``Limits`` and decode through ``decode_picture``; ``sources`` adds their ``url`` and
``pdf_file`` inputs. A client that passes here should not be rejected by the real service for
its image.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from PIL import Image

MAX_BASE64_CHARS = 10 * 1024 * 1024
MIN_SIDE_PX = 512
MAX_SIDE_PX = 8192
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "BMP"})


class UploadError(Exception):
    """A request the provider would refuse, with its error code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    """One API's documented image limits and the code it answers for an oversized upload."""

    min_side: int
    max_side: int
    max_base64_chars: int
    size_code: int = 216202


@dataclass(frozen=True)
class Picture:
    """A decoded page: the image bytes, the digest its content derives from, its size.

    For a PDF page ``data`` is the rendered page (PNG) and ``digest`` covers the PDF bytes
    plus the page number, so the same page of the same file always yields the same content.
    """

    data: bytes
    digest: str
    width: int
    height: int


@dataclass(frozen=True)
class Upload:
    """A decoded, checked upload."""

    data: bytes
    width: int
    height: int
    only_split: bool


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """Read a JSON body, or a form body for clients that post form-encoded.

    Anything unreadable becomes an empty dict, so the caller reports the missing parameter the
    way the provider does instead of inventing a parse error code.
    """
    if "application/x-www-form-urlencoded" in content_type:
        form = urllib.parse.parse_qs(raw.decode("latin-1"), keep_blank_values=True)
        return {key: values[-1] for key, values in form.items()}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def is_true(value: Any) -> bool:
    """Accept the spellings of true that clients send (JSON true, "true", 1)."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1"}
    return value is True or value == 1


def check_upload(body: dict[str, Any]) -> Upload:
    """Decode and check the image of a create_task body; raise UploadError like the provider."""
    image = body.get("image")
    only_split = is_true(body.get("only_split", False))
    if not isinstance(image, str) or not image:
        if isinstance(body.get("url"), str) and body["url"]:
            # Fetching URLs is out of scope for a local stand-in; answer as if it were refused.
            raise UploadError(282111, "url format illegal")
        raise UploadError(216101, "param image not exist")
    if len(image) > MAX_BASE64_CHARS:
        raise UploadError(216202, "image size error")
    data = decode_base64(image)
    width, height = _image_size(data)
    if min(width, height) < MIN_SIDE_PX or max(width, height) > MAX_SIDE_PX:
        raise UploadError(216202, "image size error")
    return Upload(data, width, height, only_split)


def decode_picture(text: str, limits: Limits) -> Picture:
    """Decode and check a base64 ``image`` field against ``limits``."""
    if len(text) > limits.max_base64_chars:
        raise UploadError(limits.size_code, "image size error")
    return picture_from_bytes(decode_base64(text), limits)


def picture_from_bytes(data: bytes, limits: Limits) -> Picture:
    """Check raw image bytes (uploaded, downloaded or rendered) against ``limits``."""
    width, height = _image_size(data, limits.max_side, limits.size_code)
    if min(width, height) < limits.min_side or max(width, height) > limits.max_side:
        raise UploadError(limits.size_code, "image size error")
    return Picture(data, hashlib.sha256(data).hexdigest(), width, height)


def decode_base64(text: str) -> bytes:
    """Plain base64, tolerating the url-encoding and line breaks the docs allow; else 216201."""
    if "%" in text:
        text = urllib.parse.unquote(text)
    text = "".join(text.split())
    if text.startswith("data:"):
        raise UploadError(216201, "image format error")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadError(216201, "image format error") from exc


def _image_size(
    data: bytes, max_side: int = MAX_SIDE_PX, size_code: int = 216202
) -> tuple[int, int]:
    """Size of a fully decodable image in an allowed format (too big is refused unread)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ALLOWED_FORMATS:
                raise UploadError(216201, "image format error")
            width, height = image.size
            if max(width, height) > max_side:
                raise UploadError(size_code, "image size error")
            image.load()
    except UploadError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data; all mean the same.
        raise UploadError(216201, "image format error") from exc
    return width, height
