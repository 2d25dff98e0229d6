from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw
from support.ingest import decode, mean_difference

from devkit import samples
from pipeline.adapters.documents import (
    CORRECT_EDU_LIMITS,
    discover,
    iter_pdf_pages,
    pdf_page_count,
    split_pdf,
)
from pipeline.errors import BadInput


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
    assert mean_difference(sent, img.crop(box)) < 4
    assert any(note.startswith("cut to what the page shows") for note in page.image.notes)


def test_rotated_scan_is_cut_then_turned() -> None:
    img, box = _framed_scan((20, 90, 60, 30))
    data = _with_cropbox(samples.pdf_from_jpegs([samples.jpeg_bytes(img, 95)], rotate=90), box)

    [page] = split_pdf(data)

    assert page.image is not None and page.image.source == "embedded"
    sent = decode(page.image.data)
    expected = img.crop(box).transpose(Image.Transpose.ROTATE_270)  # 90° clockwise
    assert _colours_left(sent) == set()
    assert mean_difference(sent, expected) < 4
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
    assert mean_difference(sent, img.crop((30, 0, 1240, 1714))) < 4
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
