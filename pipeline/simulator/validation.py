"""Checks on a ``create_task`` body, with the provider's error codes for each failure.

The limits are the documented ones for correct_edu: jpg/jpeg/png/bmp, shortest side at least
512 px, longest at most 8192 px, base64 text at most 10 MiB. A client that passes here should
not be rejected by the real service for its image.
"""

from __future__ import annotations

import base64
import binascii
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
    data = _decode_base64(image)
    width, height = _image_size(data)
    if min(width, height) < MIN_SIDE_PX or max(width, height) > MAX_SIDE_PX:
        raise UploadError(216202, "image size error")
    return Upload(data, width, height, only_split)


def _decode_base64(text: str) -> bytes:
    """Plain base64, tolerating the url-encoding and line breaks the docs allow."""
    if "%" in text:
        text = urllib.parse.unquote(text)
    text = "".join(text.split())
    if text.startswith("data:"):
        raise UploadError(216201, "image format error")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadError(216201, "image format error") from exc


def _image_size(data: bytes) -> tuple[int, int]:
    """Size of a fully decodable image in an allowed format."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ALLOWED_FORMATS:
                raise UploadError(216201, "image format error")
            width, height = image.size
            if max(width, height) > MAX_SIDE_PX:
                raise UploadError(216202, "image size error")
            image.load()
    except UploadError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data; all mean the same.
        raise UploadError(216201, "image format error") from exc
    return width, height
