"""A night's directory of bad and awkward scans, made on the fly (no binary fixtures).

Each entry is written by the test that needs it and comes with what it must end as: pages
graded (``done``), or a failure with a stable code and a reason that names the problem.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from devkit import samples

# Seeds of our own, so no page here has the bytes of another test module's page.
_SEED = 7100


@dataclass(frozen=True)
class Expect:
    """What one file (or image-set folder) of the corpus must end as.

    ``done`` pages graded; ``code`` the error code of the document, or of page ``page`` when
    only that page fails; ``words`` what the recorded reason must say.
    """

    done: int = 0
    code: str | None = None
    words: str = ""
    page: int | None = None


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def page(n: int, width: int = 1240, height: int = 1754) -> Image.Image:
    """A distinct handwritten-looking page (seeds of this module only)."""
    return samples.make_page_image(_SEED + n, width, height)


def png_bomb(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def sixteen_bit_png() -> bytes:
    wide = page(14).convert("L").convert("I").point(lambda v: v * 257)
    return encode(wide.convert("I;16"), "PNG")


def alpha_png() -> bytes:
    rgba = page(16).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 200))
    return encode(rgba, "PNG")


def heavy_bmp() -> bytes:
    """An uncompressed scan over 10 MB: the provider's base64 limit forces a re-encode."""
    return encode(page(17, 2480, 1754), "BMP")


def _unusable_files() -> dict[str, bytes]:
    return {
        # good pages, so the batch has something to finish
        "good/plain.jpg": samples.jpeg_bytes(page(1)),
        "good/scanned.pdf": samples.pdf_from_jpegs(
            [samples.jpeg_bytes(page(n), 60) for n in (2, 3)]
        ),
        # unusable files
        "zero bytes.pdf": b"",
        "truncated.pdf": samples.pdf_from_jpegs([samples.jpeg_bytes(page(4), 60)])[:-900],
        "locked.pdf": samples.make_encrypted_pdf("secret", source=samples.make_vector_pdf(1)),
        "no-pages.pdf": samples.make_empty_pdf(),
        "word document.pdf": b"PK\x03\x04" + b"\x00" * 200,
        "error page.jpg": b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
        "truncated.jpg": samples.jpeg_bytes(page(5))[:20_000],
        "thumbnail.png": encode(page(6, 40, 56), "PNG"),
        "bomb.png": png_bomb(100_000, 100_000),
        "bomb under pillow's limit.png": png_bomb(11_000, 11_000),
        "notes.txt": b"not a scan",
    }


def _fixable_files() -> dict[str, bytes]:
    return {
        # awkward but fixable
        "owner-only password.pdf": samples.make_encrypted_pdf(
            "", source=samples.pdf_from_jpegs([samples.jpeg_bytes(page(n), 60) for n in (7, 8)])
        ),
        "small.jpg": samples.jpeg_bytes(page(9, 310, 438)),
        "tall.png": encode(page(10, 1200, 9000).convert("L"), "PNG"),
        "heavy.bmp": heavy_bmp(),
        "cmyk.jpg": samples.jpeg_bytes(page(11).convert("CMYK")),
        "palette.png": encode(page(12).convert("P"), "PNG"),
        "sixteen-bit.png": sixteen_bit_png(),
        "alpha.png": alpha_png(),
        "three pages.tif": samples.make_multipage_tiff([_SEED + 18, _SEED + 19, _SEED + 20]),
        "with space.jpg": samples.jpeg_bytes(page(21)),
        "ünïcødé 作业.jpg": samples.jpeg_bytes(page(22)),
        "new\nline.jpg": samples.jpeg_bytes(page(23)),
        "homework [final].jpg": samples.jpeg_bytes(page(31)),
        # a folder and file whose joined path reads as console markup: "odd[" + "/]scan.jpg"
        "odd[/]scan.jpg": samples.jpeg_bytes(page(32)),
        "odd[/]notes.txt": b"not a scan either",
        # one bad page among good ones: only that page fails
        "set with a bad page/p1.jpg": samples.jpeg_bytes(page(24)),
        "set with a bad page/p2.jpg": b"<html><body>Not Found</body></html>",
        "set with a bad page/p3.jpg": samples.jpeg_bytes(page(25)),
        "pdf with a bad page.pdf": samples.pdf_from_jpegs(
            [
                samples.jpeg_bytes(page(26), 60),
                samples.jpeg_bytes(page(27), 60)[:5000],
                samples.jpeg_bytes(page(28), 60),
            ]
        ),
    }


def _expected_failures() -> dict[str, Expect]:
    return {
        "good/plain.jpg": Expect(done=1),
        "good/scanned.pdf": Expect(done=2),
        "zero bytes.pdf": Expect(code="empty_file", words="empty (0 bytes)"),
        "truncated.pdf": Expect(code="pdf_corrupt", words="damaged or truncated"),
        "locked.pdf": Expect(code="pdf_encrypted", words="needs a password"),
        "no-pages.pdf": Expect(code="pdf_no_pages", words="no pages"),
        "word document.pdf": Expect(code="pdf_invalid", words="not a PDF: it looks like ZIP"),
        "error page.jpg": Expect(code="not_an_image", words="HTML, not an image"),
        "truncated.jpg": Expect(code="truncated_image", words="truncated or damaged"),
        "thumbnail.png": Expect(code="image_too_small", words="40x56 px"),
        "bomb.png": Expect(code="decompression_bomb", words="too many pixels"),
        "bomb under pillow's limit.png": Expect(
            code="decompression_bomb", words="11000x11000 px, more than the 120,000,000 pixels"
        ),
        "notes.txt": Expect(code="unsupported_type", words="'.txt' files are not scans"),
        "empty folder": Expect(code="empty_folder", words="folder is empty: a missing submission?"),
        "pipe.jpg": Expect(code="unreadable", words="not a regular file (a FIFO)"),
        # root reads a file whatever its mode: then it is just another page
        "no permission.jpg": (
            Expect(done=1)
            if os.geteuid() == 0
            else Expect(code="unreadable", words="cannot open file (Permission denied)")
        ),
        "escape.jpg": Expect(code="outside_root", words="symlink points outside"),
        "dangling.pdf": Expect(code="broken_link", words="symlink target is missing"),
        "latin1 \\xe9.jpg": Expect(code="bad_name", words="not valid UTF-8"),
    }


def _expected_pages() -> dict[str, Expect]:
    return {
        "owner-only password.pdf": Expect(done=2),
        "small.jpg": Expect(done=1),
        "tall.png": Expect(done=1),
        "heavy.bmp": Expect(done=1),
        "cmyk.jpg": Expect(done=1),
        "palette.png": Expect(done=1),
        "sixteen-bit.png": Expect(done=1),
        "alpha.png": Expect(done=1),
        "three pages.tif": Expect(done=3),
        "with space.jpg": Expect(done=1),
        "ünïcødé 作业.jpg": Expect(done=1),
        "new\nline.jpg": Expect(done=1),
        "homework [final].jpg": Expect(done=1),
        "odd[/]scan.jpg": Expect(done=1),
        "odd[/]notes.txt": Expect(code="unsupported_type", words="'.txt' files are not scans"),
        "set with a bad page": Expect(
            done=2, code="not_an_image", words="HTML, not an image", page=2
        ),
        "pdf with a bad page.pdf": Expect(
            done=2, code="truncated_image", words="truncated or damaged", page=2
        ),
    }


def write_corpus(root: Path, outside: Path) -> dict[str, Expect]:
    """Write the corpus under ``root`` (``outside`` is a directory next to it)."""
    files = {**_unusable_files(), **_fixable_files()}
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty folder").mkdir()
    os.mkfifo(root / "pipe.jpg")
    (root / "no permission.jpg").write_bytes(samples.jpeg_bytes(page(33)))
    (root / "no permission.jpg").chmod(0)
    (outside / "elsewhere.jpg").write_bytes(samples.jpeg_bytes(page(29)))
    (root / "escape.jpg").symlink_to(outside / "elsewhere.jpg")
    (root / "dangling.pdf").symlink_to(root / "gone.pdf")
    with open(os.fsencode(root) + b"/latin1 \xe9.jpg", "wb") as f:
        f.write(samples.jpeg_bytes(page(30)))

    return {**_expected_failures(), **_expected_pages()}
