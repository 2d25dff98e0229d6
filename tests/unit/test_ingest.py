from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw
from support.ingest import _animation

from devkit import samples
from pipeline.adapters.documents import (
    CORRECT_EDU_LIMITS,
    Limits,
    b64_size,
    discover,
    iter_pdf_pages,
    natural_key,
    normalise,
    pdf_page_count,
    sha256_files,
    sniff,
    split_image,
    split_pdf,
)
from pipeline.adapters.documents.document import document_pages
from pipeline.errors import BadInput


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def rejections(root: Path) -> dict[str, str]:
    return {r.rel_path: r.code for r in discover(root).rejected}


@pytest.fixture(scope="module")
def page_jpeg() -> bytes:
    return samples.jpeg_bytes(samples.make_page_image(1), quality=60)


def test_sample_batch_round_trip(tmp_path: Path) -> None:
    expected = samples.write_sample_batch(tmp_path)
    result = discover(tmp_path)

    assert result.rejected == []
    assert [d.rel_path for d in result.documents] == sorted(expected)
    kinds = {d.rel_path: d.kind for d in result.documents}
    assert kinds["7A/alice/homework.pdf"] == "pdf"
    assert kinds["7B/lee"] == "image_set"
    assert kinds["extra.png"] == "image"
    assert sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()) < 3_000_000

    for document in result.documents:
        pages = []
        for path in document.files:
            data = path.read_bytes()
            if document.kind == "pdf":
                pages += [page.image for page in split_pdf(data)]
            else:
                pages += [normalise(frame) for frame in split_image(data)]
        assert len(pages) == expected[document.rel_path], document.rel_path
        assert all(page is not None for page in pages)


def test_image_set_pages_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "class" / "worksheet"
    folder.mkdir(parents=True)
    for name in ("page10.jpg", "page2.jpg", "Page1.JPG", "page11.png"):
        (folder / name).write_bytes(b"x" * 10)

    [document] = discover(tmp_path).documents

    assert document.rel_path == "class/worksheet"
    assert document.kind == "image_set"
    assert [f.name for f in document.files] == [
        "Page1.JPG",
        "page2.jpg",
        "page10.jpg",
        "page11.png",
    ]
    assert all(f.is_absolute() for f in document.files)
    assert document.size_bytes == 40
    assert sorted(["p10", "p9", "p1"], key=natural_key) == ["p1", "p9", "p10"]


def test_folder_mixing_images_with_pdf_or_folders_is_not_an_image_set(tmp_path: Path) -> None:
    (tmp_path / "mixed" / "sub").mkdir(parents=True)
    (tmp_path / "mixed" / "a.jpg").write_bytes(b"x")
    (tmp_path / "mixed" / "b.pdf").write_bytes(b"x")
    (tmp_path / "withdir" / "sub").mkdir(parents=True)
    (tmp_path / "withdir" / "c.png").write_bytes(b"x")
    (tmp_path / "withdir" / "sub" / "d.png").write_bytes(b"x")
    (tmp_path / "top.jpg").write_bytes(b"x")

    result = discover(tmp_path)

    assert [(d.rel_path, d.kind) for d in result.documents] == [
        ("mixed/a.jpg", "image"),
        ("mixed/b.pdf", "pdf"),
        ("top.jpg", "image"),
        ("withdir/c.png", "image"),
        ("withdir/sub", "image_set"),
    ]


def test_rejects_what_can_never_be_ingested(tmp_path: Path) -> None:
    (tmp_path / "report.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "notes.TXT").write_bytes(b"hello")
    (tmp_path / "README").write_bytes(b"hello")
    (tmp_path / "blank.pdf").write_bytes(b"")
    os.mkfifo(tmp_path / "pipe.pdf")

    assert rejections(tmp_path) == {
        "README": "unsupported_type",
        "blank.pdf": "empty_file",
        "notes.TXT": "unsupported_type",
        "pipe.pdf": "unreadable",
        "report.docx": "unsupported_type",
    }
    reasons = {r.rel_path: r.reason for r in discover(tmp_path).rejected}
    assert "FIFO" in reasons["pipe.pdf"]
    assert "'.docx'" in reasons["report.docx"]
    assert discover(tmp_path).documents == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can open a chmod 000 file")
def test_rejects_file_without_read_permission(tmp_path: Path) -> None:
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF-1.4")
    secret.chmod(0)
    try:
        assert rejections(tmp_path) == {"secret.pdf": "unreadable"}
    finally:
        secret.chmod(0o644)


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / ".archive").mkdir(parents=True)
    (root / ".archive" / "scan.pdf").write_bytes(b"%PDF")
    (root / "real.pdf").write_bytes(b"%PDF-real")
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(b"%PDF")
    (root / "escape.pdf").symlink_to(outside)
    (root / "escape-dir").symlink_to(tmp_path)
    (root / "today.pdf").symlink_to(root / ".archive" / "scan.pdf")
    (root / "alias.pdf").symlink_to("real.pdf")
    (root / "dangling.pdf").symlink_to(root / "missing.pdf")
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to(root)

    result = discover(root)

    # in-root links are followed; a second path to a file already found is not a new document
    assert [d.rel_path for d in result.documents] == ["real.pdf", "today.pdf"]
    assert result.documents[1].files == (root / "today.pdf",)
    assert {r.rel_path: r.code for r in result.rejected} == {
        "dangling.pdf": "broken_link",
        "escape-dir": "outside_root",
        "escape.pdf": "outside_root",
    }


def test_symlinked_folder_inside_root_is_walked_once(tmp_path: Path) -> None:
    (tmp_path / ".store" / "set").mkdir(parents=True)
    (tmp_path / ".store" / "set" / "p1.jpg").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / ".store" / "set")
    (tmp_path / "again").symlink_to(tmp_path / ".store" / "set")

    [document] = discover(tmp_path).documents

    assert (document.rel_path, document.kind) == ("again", "image_set")


def test_hidden_junk_is_skipped_silently_and_empty_folders_listed(tmp_path: Path) -> None:
    (tmp_path / ".hidden.pdf").write_bytes(b"%PDF")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.pdf").write_bytes(b"%PDF")
    (tmp_path / "Thumbs.db").write_bytes(b"junk")
    (tmp_path / "empty").mkdir()
    (tmp_path / "only-hidden").mkdir()
    (tmp_path / "only-hidden" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "p1.png").write_bytes(b"x")
    (tmp_path / "set" / "desktop.ini").write_bytes(b"junk")

    result = discover(tmp_path)

    assert [(d.rel_path, d.kind) for d in result.documents] == [("set", "image_set")]
    assert result.rejected == []
    assert [(f.rel_path, f.code) for f in result.empty_folders] == [
        ("empty", "empty_folder"),
        ("only-hidden", "empty_folder"),
    ]
    assert "folder is empty: a missing submission?" in result.empty_folders[0].reason


def test_awkward_names(tmp_path: Path) -> None:
    names = ["with space.pdf", "ünïcødé 作业.jpg", "new\nline.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    bad = os.fsencode(tmp_path) + b"/bad\xff.pdf"
    with open(bad, "wb") as f:
        f.write(b"x")

    result = discover(tmp_path)

    assert [d.rel_path for d in result.documents] == sorted(names)
    assert [(r.rel_path, r.code) for r in result.rejected] == [("bad\\xff.pdf", "bad_name")]


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as missing:
        discover(tmp_path / "nope")
    (tmp_path / "file.pdf").write_bytes(b"x")
    with pytest.raises(BadInput) as not_dir:
        discover(tmp_path / "file.pdf")
    assert missing.value.code == not_dir.value.code == "not_a_directory"


def test_sha256_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"alpha" * 500_000)
    b.write_bytes(b"beta")
    digest_a = hashlib.sha256(a.read_bytes()).hexdigest()
    digest_b = hashlib.sha256(b"beta").hexdigest()

    assert sha256_files([a]) == digest_a
    combined = hashlib.sha256(f"{digest_a}\n{digest_b}\n".encode()).hexdigest()
    assert sha256_files([a, b]) == combined
    assert sha256_files([b, a]) != combined
    with pytest.raises(ValueError):
        sha256_files([])
    with pytest.raises(BadInput):
        sha256_files([tmp_path / "gone"])


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


def test_scanned_pdf_keeps_embedded_jpegs_byte_for_byte() -> None:
    jpegs = [samples.jpeg_bytes(samples.make_page_image(s), quality=60) for s in (1, 2, 3)]
    gray = samples.jpeg_bytes(samples.make_page_image(4).convert("L"), quality=60)
    data = samples.pdf_from_jpegs([*jpegs, gray])

    pages = split_pdf(data)

    assert [p.number for p in pages] == [1, 2, 3, 4]
    assert [p.image.data if p.image else None for p in pages] == [*jpegs, gray]
    assert {p.image.source for p in pages if p.image} == {"embedded"}
    assert pdf_page_count(data) == 4


@pytest.mark.parametrize(
    ("mode", "source"),
    [
        ("RGB", "embedded"),  # DCTDecode
        ("1", "embedded"),  # CCITTFaxDecode, decoded through pypdf
        ("CMYK", "rendered"),  # a CMYK JPEG's colours are PDFium's business
        ("P", "rendered"),  # indexed colours likewise
    ],
)
def test_pillow_made_pdfs(mode: str, source: str) -> None:
    buf = io.BytesIO()
    pages = [samples.make_page_image(s).convert(mode) for s in (1, 2)]
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=150)

    result = split_pdf(buf.getvalue())

    assert [p.image.source if p.image else None for p in result] == [source, source]


def test_low_resolution_scan_is_upscaled_from_the_embedded_image() -> None:
    small = samples.jpeg_bytes(samples.make_page_image(5, 310, 438))
    [page] = split_pdf(samples.pdf_from_jpegs([small], dpi=40))
    assert page.image is not None
    assert (page.image.source, page.image.width) == ("embedded", 512)


def test_vector_pdf_is_rendered() -> None:
    pages = split_pdf(samples.make_vector_pdf(2))

    assert len(pages) == 2
    for page in pages:
        assert page.image is not None and page.error is None
        assert page.image.source == "rendered"
        assert (page.image.width, page.image.height) == (1653, 2339)  # A4 at 200 dpi
        assert decode(page.image.data).convert("L").getextrema()[0] < 50  # some ink


def test_render_respects_provider_limits() -> None:
    pages = split_pdf(samples.make_vector_pdf(1), dpi=1200)
    assert pages[0].image is not None
    assert max(pages[0].image.width, pages[0].image.height) <= 8192


@pytest.mark.parametrize(
    "extra",
    [
        b"BT /F1 12 Tf 10 10 Td (visible words) Tj ET",
        b"0 0 1 RG 10 10 m 200 200 l S",
    ],
)
def test_scan_with_something_drawn_on_it_is_rendered(page_jpeg: bytes, extra: bytes) -> None:
    [page] = split_pdf(samples.pdf_from_jpegs([page_jpeg], extra_content=extra))
    assert page.image is not None and page.image.source == "rendered"


def test_invisible_ocr_text_layer_keeps_the_scan(page_jpeg: bytes) -> None:
    ocr = b"BT 3 Tr /F1 12 Tf 10 10 Td (hidden OCR text) Tj ET"
    [page] = split_pdf(samples.pdf_from_jpegs([page_jpeg], extra_content=ocr))
    assert page.image is not None and page.image.data == page_jpeg


def test_image_not_covering_the_page_is_rendered(page_jpeg: bytes) -> None:
    data = samples.pdf_from_jpegs([page_jpeg], placement=(100, 100, 300, 400))
    [page] = split_pdf(data)
    assert page.image is not None and page.image.source == "rendered"


def test_rotated_page_turns_the_scan() -> None:
    img = Image.new("RGB", (1240, 1754), "white")
    ImageDraw.Draw(img).rectangle((0, 0, 199, 199), fill="black")  # top-left of the scan
    data = samples.pdf_from_jpegs([samples.jpeg_bytes(img)], rotate=90)

    [page] = split_pdf(data)

    assert page.image is not None
    assert (page.image.width, page.image.height) == (1754, 1240)
    assert page.image.source == "embedded"
    shown = decode(page.image.data).convert("L")
    # turned 90° clockwise, as PDFium (and any viewer) shows the page
    assert shown.getpixel((1654, 100)) < 60 and shown.getpixel((100, 100)) > 200
    rendered = pdfium.PdfDocument(data)[0].render(scale=1).to_pil().convert("L")
    assert rendered.getpixel((rendered.width - 20, 20)) < 60


def test_broken_page_does_not_sink_the_others(page_jpeg: bytes) -> None:
    data = samples.pdf_from_jpegs([page_jpeg, page_jpeg[: len(page_jpeg) // 2], page_jpeg])

    pages = split_pdf(data)

    assert [p.image is not None for p in pages] == [True, False, True]
    assert pages[1].error is not None and pages[1].error.code == "truncated_image"


@pytest.mark.parametrize("algorithm", [None, "AES-128", "AES-256"])
def test_encrypted_with_empty_user_password_opens(algorithm: str | None) -> None:
    plain = split_pdf(samples.make_scanned_pdf([11, 12]))
    pages = split_pdf(samples.make_encrypted_pdf("", algorithm=algorithm))
    assert [p.image.data for p in pages if p.image] == [p.image.data for p in plain if p.image]

    rendered = split_pdf(samples.make_encrypted_pdf("", source=samples.make_vector_pdf(1)))
    assert rendered[0].image is not None and rendered[0].image.source == "rendered"


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (samples.make_encrypted_pdf("secret"), "pdf_encrypted", "needs a password"),
        (samples.make_vector_pdf(2)[:-700], "pdf_corrupt", "damaged or truncated"),
        (b"<html><body>Not found</body></html>", "pdf_invalid", "HTML"),
        (b"\xff\xd8\xff\xe0 a jpeg", "pdf_invalid", "JPEG image"),
        (samples.make_empty_pdf(), "pdf_no_pages", "no pages"),
    ],
)
def test_whole_document_failures(data: bytes, code: str, words: str) -> None:
    with pytest.raises(BadInput) as error:
        split_pdf(data)
    assert error.value.code == code
    assert words in str(error.value)
    with pytest.raises(BadInput):
        iter_pdf_pages(data)  # raised before iteration starts


def test_a_folder_holding_no_scans_is_listed_as_missing_work(tmp_path: Path) -> None:
    (tmp_path / "7A" / "li").mkdir(parents=True)
    (tmp_path / "7A" / "li" / "homework.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "7A" / "zhang").mkdir()  # a missing submission
    (tmp_path / "7A" / "wang").mkdir()
    (tmp_path / "7A" / "wang" / "notes.txt").write_bytes(b"handed in on paper")
    (tmp_path / "7B" / "zhou" / "week 1").mkdir(parents=True)  # only the deepest is listed

    result = discover(tmp_path)

    assert [d.rel_path for d in result.documents] == ["7A/li/homework.pdf"]
    assert [r.rel_path for r in result.rejected] == ["7A/wang/notes.txt"]
    folders = {f.rel_path: f.reason for f in result.empty_folders}
    assert set(folders) == {"7A/zhang", "7A/wang", "7B/zhou/week 1"}
    assert folders["7A/wang"].startswith("folder holds no scans, only 1 other file(s) (notes.txt)")


MARGINS = {
    "left": (230, 20, 20),
    "top": (20, 200, 20),
    "right": (20, 20, 230),
    "bottom": (230, 200, 0),
}


def _framed_scan(inset: tuple[int, int, int, int], size: tuple[int, int] = (1240, 1754)):
    """A gray page whose edges, ``inset`` px deep (left, top, right, bottom), are coloured."""
    width, height = size
    img = Image.new("RGB", size)
    img.putdata(
        [((x // 40 + y // 40) % 2 * 120 + 60,) * 3 for y in range(height) for x in range(width)]
    )
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = inset
    draw.rectangle((0, 0, left - 1, height), fill=MARGINS["left"])
    draw.rectangle((0, 0, width, top - 1), fill=MARGINS["top"])
    draw.rectangle((width - right, 0, width, height), fill=MARGINS["right"])
    draw.rectangle((0, height - bottom, width, height), fill=MARGINS["bottom"])
    return img, (left, top, width - right, height - bottom)


def _with_cropbox(
    data: bytes, box_px: tuple[int, int, int, int], dpi: int = 150, **page: object
) -> bytes:
    """``data`` (a one-page scan at ``dpi``) with a CropBox around ``box_px`` of its image."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import FloatObject, NameObject, RectangleObject

    writer = PdfWriter()
    pdf_page = writer.add_page(PdfReader(io.BytesIO(data)).pages[0])
    height = float(pdf_page.mediabox.height)
    left, top, right, bottom = (v * 72 / dpi for v in box_px)
    pdf_page.cropbox = RectangleObject((left, height - bottom, right, height - top))
    if "user_unit" in page:
        pdf_page[NameObject("/UserUnit")] = FloatObject(page["user_unit"])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _colours_left(img: Image.Image) -> set[str]:
    """The margins whose colour is still to be seen somewhere in ``img``."""
    rgb = img.convert("RGB")
    small = rgb.resize((rgb.width // 2, rgb.height // 2), Image.Resampling.NEAREST)
    pixels = {colour for _, colour in small.getcolors(small.width * small.height) or []}
    return {
        side
        for side, colour in MARGINS.items()
        if any(all(abs(p[i] - colour[i]) < 40 for i in range(3)) for p in pixels)
    }


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    from PIL import ImageChops, ImageStat

    assert a.size == b.size, (a.size, b.size)
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def _inset_for(share: float, size: tuple[int, int] = (1240, 1754)) -> tuple[int, int, int, int]:
    """Equal insets on every side that trim ``share`` of the page's area."""
    side = (1 - (1 - share) ** 0.5) / 2
    dx, dy = round(side * size[0]), round(side * size[1])
    return dx, dy, dx, dy


@pytest.mark.parametrize("share", [0.03, 0.08, 0.30])
def test_scan_is_cut_to_its_cropbox(share: float) -> None:
    img, box = _framed_scan(_inset_for(share))
    scan = samples.pdf_from_jpegs([samples.jpeg_bytes(img, quality=95)])
    assert _colours_left(decode(split_pdf(scan)[0].image.data)) == set(MARGINS)  # type: ignore[union-attr]

    [page] = split_pdf(_with_cropbox(scan, box))

    assert page.image is not None and page.image.source == "embedded"
    sent = decode(page.image.data)
    assert _colours_left(sent) == set()
    assert _mean_difference(sent, img.crop(box)) < 4
    assert any(note.startswith("cut to what the page shows") for note in page.image.notes)


def test_rotated_scan_is_cut_then_turned() -> None:
    img, box = _framed_scan((20, 90, 60, 30))
    data = _with_cropbox(samples.pdf_from_jpegs([samples.jpeg_bytes(img, 95)], rotate=90), box)

    [page] = split_pdf(data)

    assert page.image is not None and page.image.source == "embedded"
    sent = decode(page.image.data)
    expected = img.crop(box).transpose(Image.Transpose.ROTATE_270)  # 90° clockwise
    assert _colours_left(sent) == set()
    assert _mean_difference(sent, expected) < 4
    viewer = pdfium.PdfDocument(data)[0].render(scale=150 / 72).to_pil()
    assert abs(viewer.width - sent.width) <= 1 and abs(viewer.height - sent.height) <= 1


def test_scan_placed_past_the_page_edge_is_cut_to_the_page() -> None:
    img, _ = _framed_scan((30, 40, 1, 1))
    # At 72 dpi a pixel is a point: the image starts 30 pt left of and 40 pt below the page.
    data = samples.pdf_from_jpegs(
        [samples.jpeg_bytes(img, 95)], dpi=72, placement=(-30, -40, 1240, 1754)
    )

    [page] = split_pdf(data)

    assert page.image is not None and page.image.source == "embedded"
    sent = decode(page.image.data)
    assert _mean_difference(sent, img.crop((30, 0, 1240, 1714))) < 4
    assert _colours_left(sent) <= {"right", "top"}  # the 1 px edges left on the page


def test_uncropped_scan_stays_byte_for_byte(page_jpeg: bytes) -> None:
    data = samples.pdf_from_jpegs([page_jpeg])
    full = _with_cropbox(data, (0, 0, 1240, 1754))
    assert [p.image.data for p in split_pdf(full) if p.image] == [page_jpeg]


def test_rendered_page_shows_its_cropbox_at_its_user_unit() -> None:
    img, box = _framed_scan(_inset_for(0.08))
    jpeg = samples.jpeg_bytes(img, 95)
    drawn = samples.pdf_from_jpegs([jpeg], extra_content=b"0.5 G 300 300 m 310 310 l S")

    [page] = split_pdf(_with_cropbox(drawn, box), dpi=150)
    [double] = split_pdf(_with_cropbox(drawn, box, user_unit=2.0), dpi=75)

    assert page.image is not None and page.image.source == "rendered"
    sent = decode(page.image.data)
    assert _colours_left(sent) == set()
    assert abs(sent.width - (box[2] - box[0])) <= 1 and abs(sent.height - (box[3] - box[1])) <= 1
    assert double.image is not None  # twice the size in points, half the dpi: as many pixels
    assert (double.image.width, double.image.height) == (page.image.width, page.image.height)


def test_page_file_for_pdf_apis_is_only_its_cropbox() -> None:
    from pipeline.adapters.documents.pdf import iter_pdf_page_files

    img, box = _framed_scan(_inset_for(0.03))
    data = _with_cropbox(samples.pdf_from_jpegs([samples.jpeg_bytes(img, 95)]), box)

    [page] = iter_pdf_page_files(data, CORRECT_EDU_LIMITS)

    assert page.image is not None and page.image.source == "pdf_page"
    single = pdfium.PdfDocument(page.image.data)[0]
    assert single.get_mediabox() == single.get_cropbox()
    # Whatever box the provider draws, the coloured margins are not on it.
    assert _colours_left(single.render(scale=150 / 72).to_pil()) == set()


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "PNG"])
def test_an_animation_is_one_page_its_first_frame(fmt: str) -> None:
    data = _animation(fmt, 42 if fmt == "WEBP" else 5)
    frames = 42 if fmt == "WEBP" else 5

    [(number, page)] = list(document_pages("image", [data], CORRECT_EDU_LIMITS, sends_pdf=False))
    every = list(
        document_pages("image", [data], CORRECT_EDU_LIMITS, sends_pdf=False, every_frame=True)
    )

    assert number == 1 and not isinstance(page, BadInput)
    assert f"dropped the other {frames - 1} of {frames} frames" in " ".join(page.notes)
    first = Image.open(io.BytesIO(data))
    assert _mean_difference(decode(page.data), first.convert("RGB")) < 3
    assert [n for n, _ in every] == list(range(1, frames + 1))
    assert not any(isinstance(p, BadInput) or "frames" in " ".join(p.notes) for _, p in every)


def test_a_multipage_tiff_is_still_every_page() -> None:
    tiff = samples.make_multipage_tiff([1, 2, 3])
    pages = list(document_pages("image", [tiff], CORRECT_EDU_LIMITS, sends_pdf=False))
    assert [n for n, _ in pages] == [1, 2, 3]
    assert not any(isinstance(p, BadInput) or p.notes for _, p in pages)
