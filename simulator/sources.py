"""Where an upload's page comes from: ``image``, ``url`` or one page of a ``pdf_file``.

The provider's documented priority is image > url > pdf_file: the first one present wins and
the others are ignored. A ``url`` is really downloaded (5 s timeout, size capped at the API's
limit) so clients can hand over presigned links; a ``pdf_file`` page is really rendered with
pdfium, so geometry and enhanced images come from that page's own pixels.
"""

from __future__ import annotations

import hashlib
import io
import threading
import urllib.parse
from typing import Any

import httpx
import pypdfium2 as pdfium
from starlette.concurrency import run_in_threadpool

from simulator.validation import (
    Limits,
    Picture,
    UploadError,
    decode_base64,
    decode_picture,
    picture_from_bytes,
)

URL_TIMEOUT_S = 5.0
MAX_URL_BYTES = 1024
# 144 dpi: an A4 page becomes 1190 x 1684 px, a usual scan size.
PDF_RENDER_SCALE = 2.0
# pdfium is not thread-safe and request work runs in a thread pool.
_PDFIUM_LOCK = threading.Lock()


async def load_source(body: dict[str, Any], limits: Limits, *, allow_pdf: bool = True) -> Picture:
    """The page a request body names, decoded and checked; UploadError like the provider."""
    image, url, pdf = (_text(body, name) for name in ("image", "url", "pdf_file"))
    if image:
        return await run_in_threadpool(decode_picture, image, limits)
    if url:
        data = await fetch_url(url, limits)
        return await run_in_threadpool(picture_from_bytes, data, limits)
    if pdf and allow_pdf:
        return await run_in_threadpool(pdf_page, pdf, body.get("pdf_file_num"), limits)
    raise UploadError(216101, "param image not exist")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


async def fetch_url(url: str, limits: Limits) -> bytes:
    """Download an image: 282111 for a URL that cannot be fetched, 282112 when it fails."""
    parsed = urllib.parse.urlsplit(url.strip())
    if len(url.encode()) > MAX_URL_BYTES or parsed.scheme not in ("http", "https"):
        raise UploadError(282111, "url format illegal")
    if not parsed.hostname:
        raise UploadError(282111, "url format illegal")
    # Base64 inflates by 4/3; anything larger than this could never pass the size limit.
    cap = limits.max_base64_chars * 3 // 4 + 4
    try:
        async with (
            httpx.AsyncClient(timeout=URL_TIMEOUT_S, follow_redirects=True) as client,
            client.stream("GET", url.strip()) as response,
        ):
            if response.status_code != 200:
                raise UploadError(282112, "url download timeout")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise UploadError(limits.size_code, "image size error")
                chunks.append(chunk)
    except httpx.InvalidURL as exc:
        raise UploadError(282111, "url format illegal") from exc
    except httpx.HTTPError as exc:
        raise UploadError(282112, "url download timeout") from exc
    return b"".join(chunks)


def page_number(value: Any) -> int:
    """``pdf_file_num`` as a 1-based page number (default 1); 216100 when it is not one."""
    if value is None or value == "":
        return 1
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise UploadError(216100, f"invalid param: pdf_file_num {value!r} is not a page number")
    return int(text)


def pdf_page(text: str, page_field: Any, limits: Limits) -> Picture:
    """Render one page of a base64 PDF; its digest is sha256(pdf bytes + page number)."""
    if len(text) > limits.max_base64_chars:
        raise UploadError(limits.size_code, "image size error")
    number = page_number(page_field)
    data = decode_base64(text)
    png = _render(data, number, limits)
    rendered = picture_from_bytes(png, limits)
    digest = hashlib.sha256(data + str(number).encode()).hexdigest()
    return Picture(rendered.data, digest, rendered.width, rendered.height)


def _render(pdf: bytes, number: int, limits: Limits) -> bytes:
    """PNG of page ``number``: 216201 for an unreadable PDF, 216100 for a missing page."""
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(pdf)
        except pdfium.PdfiumError as exc:
            raise UploadError(216201, "image format error") from exc
        try:
            pages = len(document)
            if number > pages:
                raise UploadError(
                    216100,
                    f"invalid param: pdf_file_num {number} is out of range, "
                    f"the pdf has {pages} page(s)",
                )
            page = document[number - 1]
            try:
                width, height = page.get_size()
                # Refuse before rendering: a huge page would take the memory first.
                if max(width, height) * PDF_RENDER_SCALE > limits.max_side:
                    raise UploadError(limits.size_code, "image size error")
                image = page.render(scale=PDF_RENDER_SCALE).to_pil()
            finally:
                page.close()
        finally:
            document.close()
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG")
    return out.getvalue()
