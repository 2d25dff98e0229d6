from __future__ import annotations

import hashlib
import io
import struct
import zlib

import pytest
from PIL import Image, ImageDraw
from support.ingest import animation, decode, mean_difference

from devkit import samples
from pipeline.adapters.documents import (
    CORRECT_EDU_LIMITS,
    Limits,
    b64_size,
    normalise,
    sniff,
    split_image,
)
from pipeline.adapters.documents.document import document_pages
from pipeline.errors import BadInput


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_acceptable_image_passes_unchanged(fmt: str) -> None:
    data = encode(samples.make_page_image(3, 600, 800).convert("L"), fmt)

    page = normalise(data)

    assert page.data is data
    assert (page.width, page.height, page.source, page.notes) == (600, 800, "original", ())
    assert page.content_type == f"image/{fmt.lower()}"
    assert page.sha256 == hashlib.sha256(data).hexdigest()


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (800, 600), "white")
    ImageDraw.Draw(img).rectangle((0, 0, 99, 99), fill="black")  # top-left, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be turned 90° clockwise for display
    page = normalise(encode(img, "JPEG", exif=exif))

    shown = decode(page.data).convert("L")
    assert (page.width, page.height, page.source) == (600, 800, "reencoded")
    assert "applied EXIF orientation 6" in page.notes
    assert shown.getpixel((550, 50)) < 60 and shown.getpixel((50, 50)) > 200
    assert normalise(encode(img, "JPEG", exif=exif), source_hint="embedded").width == 800


def test_small_image_upscaled_and_huge_downscaled() -> None:
    small = normalise(encode(Image.new("RGB", (400, 600), "white"), "PNG"))
    assert (small.width, small.height) == (512, 768)
    assert small.notes == ("upscaled from 400x600 to 512x768",)
    assert small.content_type == "image/jpeg"

    huge = normalise(encode(Image.new("L", (4000, 12000), "white"), "PNG"))
    assert (huge.width, huge.height) == (2731, 8192)
    assert decode(huge.data).mode == "L"


@pytest.mark.parametrize(
    ("size", "code"),
    [((100, 9000), "bad_aspect"), ((600, 10_000), "bad_aspect"), ((30, 40), "image_too_small")],
)
def test_impossible_sizes_are_rejected(size: tuple[int, int], code: str) -> None:
    with pytest.raises(BadInput) as error:
        normalise(encode(Image.new("L", size, "white"), "PNG"))
    assert error.value.code == code
    assert f"{size[0]}x{size[1]} px" in str(error.value)


def _mode_sample(mode: str) -> tuple[bytes, int]:
    """An image in ``mode`` and the 8-bit gray level its top-left pixel should end up as."""
    if mode == "CMYK":
        return encode(Image.new("CMYK", (600, 600), (0, 0, 0, 0)), "JPEG"), 255
    if mode == "P":
        return encode(Image.new("RGB", (600, 600), "white").convert("P"), "PNG"), 255
    if mode == "P+transparency":
        img = Image.new("P", (600, 600), 0)
        img.putpalette([0, 0, 0] * 256)
        return encode(img, "PNG", transparency=0), 255
    if mode in ("RGBA", "LA"):
        return encode(Image.new(mode, (600, 600)), "PNG"), 255  # fully transparent black
    if mode == "I;16":
        return encode(Image.new("I;16", (600, 600), 32896), "PNG"), 128
    if mode == "1":
        return encode(Image.new("1", (600, 600), 1), "TIFF"), 255
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["CMYK", "P", "P+transparency", "RGBA", "LA", "I;16", "1"])
def test_colour_modes_converted(mode: str) -> None:
    data, gray = _mode_sample(mode)

    page = normalise(data)

    out = decode(page.data)
    assert out.mode in ("RGB", "L")
    assert page.source == "reencoded" and page.notes
    assert abs(out.convert("L").getpixel((5, 5)) - gray) <= 2  # type: ignore[operator]


def test_sixteen_bit_uses_the_whole_range() -> None:
    img = Image.new("I;16", (600, 600), 0)
    img.paste(65535, (0, 0, 300, 600))
    out = decode(normalise(encode(img, "PNG")).data)
    assert out.getpixel((10, 10)) >= 250 and out.getpixel((590, 10)) <= 5  # type: ignore[operator]


def test_heavy_image_is_reencoded_under_the_limit() -> None:
    noisy = Image.effect_noise((900, 900), 120).convert("RGB")
    data = encode(noisy, "PNG")
    limits = Limits(max_b64_bytes=400_000)

    page = normalise(data, limits)

    assert b64_size(page.data) <= 400_000
    assert page.content_type == "image/jpeg"
    assert any("JPEG quality" in note for note in page.notes)

    with pytest.raises(BadInput) as error:
        normalise(data, Limits(max_b64_bytes=20_000))
    assert error.value.code == "too_large"


def test_b64_size_counts_urlencoding() -> None:
    assert b64_size(b"\x00\x00\x00") == 4
    assert b64_size(b"\xff\xff\xff") == 4 + 4 * 2  # "////" becomes "%2F%2F%2F%2F"


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "limits"),
    [
        (_png_header(100_000, 100_000), CORRECT_EDU_LIMITS),
        (_png_header(12_000, 12_000), CORRECT_EDU_LIMITS),
        (encode(Image.new("L", (1000, 1000)), "PNG"), Limits(max_pixels=500_000)),
    ],
)
def test_decompression_bomb_refused(data: bytes, limits: Limits) -> None:
    with pytest.raises(BadInput) as error:
        normalise(data, limits)
    assert error.value.code == "decompression_bomb"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "file is HTML, not an image"),
        (b"  <html><head></head></html>", "file is HTML, not an image"),
        (samples.make_vector_pdf(1), "file is a PDF, not an image"),
        (b"\x00\x01\x02garbage" * 10, "cannot decode image (the bytes look like unrecognised"),
    ],
)
def test_non_images_say_what_they_are(data: bytes, message: str) -> None:
    with pytest.raises(BadInput) as error:
        normalise(data)
    assert error.value.code == "not_an_image"
    assert str(error.value).startswith(message)


def test_truncated_jpeg(page_jpeg: bytes) -> None:
    with pytest.raises(BadInput) as error:
        normalise(page_jpeg[: len(page_jpeg) // 2])
    assert error.value.code == "truncated_image"
    assert error.value.__cause__ is not None


def test_sniff() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") == "JPEG image"
    assert sniff(b"%PDF-1.7") == "PDF document"
    assert sniff(b"\xef\xbb\xbf<!doctype html>") == "HTML document"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WebP image"
    assert sniff(b"PK\x03\x04rest").startswith("ZIP archive")
    assert sniff(b"") == "empty file"
    assert sniff("答案".encode()) == "plain text"


def test_split_image_multipage_tiff() -> None:
    tiff = samples.make_multipage_tiff([1, 2, 3])

    frames = split_image(tiff)

    assert len(frames) == 3
    assert len(set(frames)) == 3
    assert all(decode(f).format == "PNG" and decode(f).size == (1240, 1754) for f in frames)
    assert normalise(frames[0]).source == "original"


def test_split_image_single_frame_is_untouched(page_jpeg: bytes) -> None:
    [frame] = split_image(page_jpeg)
    assert frame is page_jpeg


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "PNG"])
def test_an_animation_is_one_page_its_first_frame(fmt: str) -> None:
    data = animation(fmt, 42 if fmt == "WEBP" else 5)
    frames = 42 if fmt == "WEBP" else 5

    [(number, page)] = list(document_pages("image", [data], CORRECT_EDU_LIMITS, sends_pdf=False))
    every = list(
        document_pages("image", [data], CORRECT_EDU_LIMITS, sends_pdf=False, every_frame=True)
    )

    assert number == 1 and not isinstance(page, BadInput)
    assert f"dropped the other {frames - 1} of {frames} frames" in " ".join(page.notes)
    first = Image.open(io.BytesIO(data))
    assert mean_difference(decode(page.data), first.convert("RGB")) < 3
    assert [n for n, _ in every] == list(range(1, frames + 1))
    assert not any(isinstance(p, BadInput) or "frames" in " ".join(p.notes) for _, p in every)


def test_a_multipage_tiff_is_still_every_page() -> None:
    tiff = samples.make_multipage_tiff([1, 2, 3])
    pages = list(document_pages("image", [tiff], CORRECT_EDU_LIMITS, sends_pdf=False))
    assert [n for n, _ in pages] == [1, 2, 3]
    assert not any(isinstance(p, BadInput) or p.notes for _, p in pages)
