"""Turn whatever a scanner produced into a page image the provider accepts.

correct_edu takes JPEG, PNG or BMP with the shortest side >= 512 px, the longest <= 8192 px and
at most 10 MiB of base64. :func:`normalise` leaves an acceptable file byte for byte alone, so the
provider sees exactly what the scanner made, and otherwise fixes orientation, colour mode, size
and weight, noting each change so an operator can tell why a stored page differs from its scan.

Every failure is a :class:`~pipeline.errors.BadInput` with a stable ``code``:
``not_an_image``, ``truncated_image``, ``decompression_bomb``, ``bad_aspect``,
``image_too_small``, ``too_large``, ``unsupported_mode``.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import io
import logging
import struct
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from pipeline.errors import BadInput

log = logging.getLogger(__name__)

PageSource = Literal["original", "reencoded", "rendered", "embedded", "pdf_page"]


@dataclass(frozen=True)
class Limits:
    """What one provider API accepts, plus our guards against hostile or useless images.

    ``max_pixels`` stops a few-kilobyte file that claims gigapixels from exhausting memory;
    ``max_upscale`` refuses thumbnails that no amount of enlarging would make legible.
    """

    min_side: int = 512
    max_side: int = 8192
    max_b64_bytes: int = 10 * 1024 * 1024
    formats: frozenset[str] = frozenset({"JPEG", "PNG", "BMP"})
    max_pixels: int = 120_000_000
    max_upscale: float = 8.0


CORRECT_EDU_LIMITS: Final = Limits()


@dataclass(frozen=True)
class NormalisedPage:
    """One page ready to send: the bytes, what they are, and what was done to get them."""

    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str
    source: PageSource
    notes: tuple[str, ...] = ()


_CONTENT_TYPES: Final = {"JPEG": "image/jpeg", "PNG": "image/png", "BMP": "image/bmp"}
_QUALITIES: Final = (90, 80, 70, 60)
# Pillow's plugins let all of these out on malformed files, not only OSError.
PILLOW_FAILURES: Final = (
    OSError,
    ValueError,
    TypeError,
    SyntaxError,
    EOFError,
    KeyError,
    IndexError,
    struct.error,
)
_SHRINK_STEP: Final = 0.8
_HIGH_BIT_MODES: Final = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
# Formats whose frames are an animation; a TIFF's frames are the pages of a scan.
_ANIMATIONS: Final = frozenset({"GIF", "WEBP", "PNG"})
_PNG_MODES: Final = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"})
_SIGNATURES: Final = (
    (b"\xff\xd8\xff", "JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"BM", "BMP image"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "JPEG 2000 image"),
    (b"PK\x03\x04", "ZIP archive (or DOCX/XLSX/ODT)"),
    (b"\xd0\xcf\x11\xe0", "legacy Office document (DOC/XLS/PPT)"),
    (b"{\\rtf", "RTF document"),
)


def sniff(data: bytes) -> str:
    """Describe what the bytes really are, for messages about files with a misleading name."""
    if not data:
        return "empty file"
    for magic, kind in _SIGNATURES:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP image"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return "HEIC/AVIF image"
    if b"%PDF-" in data[:1024]:
        return "PDF document"
    return _sniff_text(data)


def _sniff_text(data: bytes) -> str:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg")):
        return "SVG image" if b"<svg" in data[:4096].lower() else "XML document"
    if head.startswith(b"<"):
        return "HTML document"
    if head.startswith((b"{", b"[")):
        return "JSON text"
    try:
        # Incremental, so a character cut in two by the 512-byte window is not "binary".
        text = codecs.getincrementaldecoder("utf-8")().decode(data[:512], final=False)
    except UnicodeDecodeError:
        text = "\x00"
    if all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "plain text"
    return f"unrecognised binary data (starts {data[:8].hex(' ')})"


def b64_size(data: bytes) -> int:
    """Length the provider counts against its size limit, taking the worst reading.

    The API notes put the limit "after base64 (+urlencode)": a form body escapes ``+``, ``/``
    and ``=`` to three characters each. Counting those makes a page that fits here fit whether
    the client sends it urlencoded or as plain base64 in JSON.
    """
    encoded = base64.b64encode(data)
    escaped = encoded.count(b"+") + encoded.count(b"/") + encoded.count(b"=")
    return len(encoded) + 2 * escaped


def load_image(data: bytes, limits: Limits = CORRECT_EDU_LIMITS) -> Image.Image:
    """Decode the bytes fully, refusing decompression bombs and reporting what bad data is."""
    img = _open(data, limits)
    _load(img)
    return img


def normalise(
    data: bytes,
    limits: Limits = CORRECT_EDU_LIMITS,
    *,
    source_hint: PageSource = "original",
) -> NormalisedPage:
    """Return the page as the provider will accept it, unchanged whenever it already is.

    ``source_hint="embedded"`` means the bytes came out of a PDF, where viewers ignore EXIF
    orientation: the image is then not turned by its EXIF tag (the tag is dropped instead).
    """
    img = _open(data, limits)
    notes: list[str] = []
    if img.format == "JPEG" and max(img.size) > limits.max_side:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: huge scans then need far less memory.
        original = img.size
        img.draft(None, _target_size(img.size, limits))
        if img.size != original:
            notes.append(f"decoded {original[0]}x{original[1]} JPEG at reduced scale")
    _load(img)
    if not notes and _passes_as_is(img, data, limits):
        return _page(data, _CONTENT_TYPES[str(img.format)], img.size, source_hint, ())
    notes += _container_notes(img, data, limits)
    if source_hint != "embedded":
        img = _apply_orientation(img, notes)
    elif _orientation(img) not in (None, 1):
        notes.append("dropped the EXIF orientation tag, which PDF viewers ignore")
    source: PageSource = "reencoded" if source_hint == "original" else source_hint
    return normalise_image(img, limits, source=source, notes=notes)


def normalise_image(
    img: Image.Image,
    limits: Limits = CORRECT_EDU_LIMITS,
    *,
    source: PageSource,
    notes: Iterable[str] = (),
) -> NormalisedPage:
    """Encode an already decoded (rendered, extracted or rotated) page within the limits."""
    done = list(notes)
    fitted = _fit_sides(_to_rgb_or_l(img, done), limits, done)
    data, size = _encode_within(fitted, limits, done)
    return _page(data, "image/jpeg", size, source, tuple(done))


@dataclass(frozen=True)
class Frames:
    """The pages of one image file, and a note when frames of an animation were left out."""

    pages: list[bytes]
    note: str | None = None


def split_image(
    data: bytes, limits: Limits = CORRECT_EDU_LIMITS, *, every_frame: bool = False
) -> list[bytes]:
    """One image per page of a multi-page TIFF, losslessly as PNG (see :func:`image_frames`)."""
    return image_frames(data, limits, every_frame=every_frame).pages


def image_frames(
    data: bytes, limits: Limits = CORRECT_EDU_LIMITS, *, every_frame: bool = False
) -> Frames:
    """The pages of an image file: each frame of a multi-page TIFF, losslessly as PNG.

    An animation (GIF, WebP, APNG) is one picture shown over time, not a stack of scans: it is
    one page, its first frame, unless ``every_frame``. A single-frame image comes back as
    ``[data]`` untouched, so the common case costs nothing.
    """
    img = _open(data, limits)
    with img:
        try:
            frames = getattr(img, "n_frames", 1)  # TIFF reads every frame header to count
        except PILLOW_FAILURES as e:
            raise BadInput(f"multi-page image is damaged ({e})", code="truncated_image") from e
        if frames <= 1:
            return Frames([data])
        note = None
        if img.format in _ANIMATIONS and not every_frame:
            note = (
                f"animated {img.format}: sent its first frame only, dropped the other "
                f"{frames - 1} of {frames} frames (SCANGRADE_EVERY_FRAME=true sends each)"
            )
            frames = 1
        pages = [_frame(img, index, frames, limits) for index in range(frames)]
        log.debug("split a %s image into %d pages", img.format, frames)
        return Frames(pages, note)


def _frame(img: Image.Image, index: int, frames: int, limits: Limits) -> bytes:
    try:
        img.seek(index)
    except PILLOW_FAILURES as e:
        raise BadInput(
            f"frame {index + 1} of {frames} cannot be read ({e})", code="truncated_image"
        ) from e
    _check_pixels(img.size, limits)
    _load(img)
    return _png_frame(img)


def _png_frame(img: Image.Image) -> bytes:
    frame = img if img.mode in _PNG_MODES else _to_rgb_or_l(img, [])
    buf = io.BytesIO()
    frame.save(buf, "PNG")
    return buf.getvalue()


def _page(
    data: bytes,
    content_type: str,
    size: tuple[int, int],
    source: PageSource,
    notes: tuple[str, ...],
) -> NormalisedPage:
    digest = hashlib.sha256(data).hexdigest()
    return NormalisedPage(data, content_type, size[0], size[1], digest, source, notes)


def _open(data: bytes, limits: Limits) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own max_pixels decides; Pillow's warning threshold would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise BadInput(
            f"image claims too many pixels to decode safely ({e})", code="decompression_bomb"
        ) from e
    except PILLOW_FAILURES as e:
        raise _not_an_image(data, e) from e
    _check_pixels(img.size, limits)
    return img


def _not_an_image(data: bytes, error: Exception) -> BadInput:
    kind = sniff(data)
    if kind == "HTML document":
        message = "file is HTML, not an image (a saved web or error page?)"
    elif kind == "PDF document":
        message = "file is a PDF, not an image"
    elif kind == "empty file":
        message = "file is empty"
    elif isinstance(error, UnidentifiedImageError):
        message = f"cannot decode image (the bytes look like {kind})"
    else:
        message = f"cannot decode image ({kind}: {error})"
    return BadInput(message, code="not_an_image")


def _check_pixels(size: tuple[int, int], limits: Limits) -> None:
    width, height = size
    if width * height > limits.max_pixels:
        raise BadInput(
            f"image claims {width}x{height} px, more than the {limits.max_pixels:,} pixels "
            "we agree to decode (a decompression bomb or a mistaken scan setting)",
            code="decompression_bomb",
        )


def _load(img: Image.Image) -> None:
    try:
        img.load()
    except PILLOW_FAILURES as e:
        # Pillow reports short and damaged pixel data alike as OSError; the header was fine.
        raise BadInput(
            f"image data is truncated or damaged ({img.format} {img.size[0]}x{img.size[1]}: {e})",
            code="truncated_image",
        ) from e


def _passes_as_is(img: Image.Image, data: bytes, limits: Limits) -> bool:
    width, height = img.size
    return (
        img.format in limits.formats
        and img.format in _CONTENT_TYPES
        and img.mode in ("RGB", "L")
        and "transparency" not in img.info
        and _orientation(img) in (None, 1)
        and limits.min_side <= min(width, height)
        and max(width, height) <= limits.max_side
        and b64_size(data) <= limits.max_b64_bytes
    )


def _container_notes(img: Image.Image, data: bytes, limits: Limits) -> list[str]:
    """Why the file itself cannot be sent, when its pixels might be: its format or weight."""
    if img.format not in limits.formats or img.format not in _CONTENT_TYPES:
        return [f"re-encoded: the API does not take {img.format} files"]
    if b64_size(data) > limits.max_b64_bytes:
        mib = 1024 * 1024
        return [
            f"re-encoded: the file ({len(data) / mib:.3g} MiB) is over the API's "
            f"{limits.max_b64_bytes / mib:.3g} MiB once base64-encoded"
        ]
    return []


def _orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(ExifTags.Base.Orientation)
    except PILLOW_FAILURES:
        return None  # unreadable EXIF: show the pixels as stored, as most viewers do
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _apply_orientation(img: Image.Image, notes: list[str]) -> Image.Image:
    orientation = _orientation(img)
    if orientation in (None, 1):
        return img
    notes.append(f"applied EXIF orientation {orientation}")
    return ImageOps.exif_transpose(img)


def _to_rgb_or_l(img: Image.Image, notes: list[str]) -> Image.Image:
    """Reduce any Pillow mode to 8-bit RGB or gray, the only ones JPEG carries reliably."""
    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode in _HIGH_BIT_MODES:
        return _to_8bit_gray(img, notes)
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in img.info):
        return _flatten(img, notes)
    if mode == "1":
        notes.append("converted 1-bit to 8-bit gray")
        return img.convert("L")
    try:
        converted = img.convert("RGB")
    except ValueError as e:
        raise BadInput(
            f"image colour mode {mode} cannot be converted to RGB", code="unsupported_mode"
        ) from e
    notes.append(f"converted {mode} to RGB")
    return converted


def _to_8bit_gray(img: Image.Image, notes: list[str]) -> Image.Image:
    if img.mode.startswith("I;16"):
        # Scanners use the whole 16-bit range: map it, so 65535 is white rather than clipping.
        low, high = 0.0, 65535.0
        wide = img.convert("I")
    else:
        wide = img
        extrema = img.getextrema()
        low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    scale = 255.0 / (high - low) if high > low else 1.0
    scaled = wide.point(lambda value: (value - low) * scale)
    notes.append(f"scaled {img.mode} to 8-bit gray")
    return scaled.convert("L")


def _flatten(img: Image.Image, notes: list[str]) -> Image.Image:
    gray = img.mode in ("LA", "La")
    with_alpha = img.convert("LA" if gray else "RGBA")
    background = Image.new("L" if gray else "RGB", img.size, "white")
    background.paste(with_alpha, mask=with_alpha.getchannel("A"))
    notes.append(f"flattened {img.mode} transparency onto white")
    return background


def _target_size(size: tuple[int, int], limits: Limits) -> tuple[int, int]:
    """Smallest change of scale that puts both sides within the limits."""
    width, height = size
    short, long = min(width, height), max(width, height)
    if long * limits.min_side > limits.max_side * short:
        raise BadInput(
            f"image is {width}x{height} px; the provider needs the shortest side >= "
            f"{limits.min_side} px and the longest <= {limits.max_side} px, and no scaling "
            f"satisfies both (aspect ratio {long / short:.1f}:1)",
            code="bad_aspect",
        )
    scale = 1.0
    if long > limits.max_side:
        scale = limits.max_side / long
    if short * scale < limits.min_side:
        scale = limits.min_side / short
    if scale > limits.max_upscale:
        raise BadInput(
            f"image is {width}x{height} px; reaching the provider's minimum of "
            f"{limits.min_side} px would mean enlarging it {scale:.0f}x, more than the "
            f"{limits.max_upscale:g}x that can still be legible",
            code="image_too_small",
        )
    if scale == 1.0:
        return size
    return (_clamp(width * scale, limits), _clamp(height * scale, limits))


def _clamp(side: float, limits: Limits) -> int:
    return max(1, min(limits.max_side, round(side)))


def _fit_sides(img: Image.Image, limits: Limits, notes: list[str]) -> Image.Image:
    target = _target_size(img.size, limits)
    if target == img.size:
        return img
    width, height = img.size
    verb = "upscaled" if target[0] > width else "downscaled"
    notes.append(f"{verb} from {width}x{height} to {target[0]}x{target[1]}")
    return img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _encode_within(
    img: Image.Image, limits: Limits, notes: list[str]
) -> tuple[bytes, tuple[int, int]]:
    """Encode as JPEG, trading quality and then resolution for weight until it fits."""
    limit_mib = limits.max_b64_bytes / (1024 * 1024)
    for quality in _QUALITIES:
        data = _jpeg(img, quality)
        if b64_size(data) <= limits.max_b64_bytes:
            if quality != _QUALITIES[0]:
                notes.append(f"JPEG quality {quality} to fit {limit_mib:.3g} MiB of base64")
            return data, img.size
    quality = _QUALITIES[-1]
    while True:
        width, height = img.size
        size = (round(width * _SHRINK_STEP), round(height * _SHRINK_STEP))
        if min(size) < limits.min_side:
            raise BadInput(
                f"image is {width}x{height} px and stays over {limit_mib:.3g} MiB of base64 "
                f"even at JPEG quality {quality} at the smallest size the provider accepts",
                code="too_large",
            )
        img = img.resize(size, Image.Resampling.LANCZOS)
        data = _jpeg(img, quality)
        if b64_size(data) <= limits.max_b64_bytes:
            notes.append(
                f"downscaled to {size[0]}x{size[1]} at JPEG quality {quality} "
                f"to fit {limit_mib:.3g} MiB of base64"
            )
            return data, size
