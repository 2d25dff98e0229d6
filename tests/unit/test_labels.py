"""Labels: the code's text and its checksum, the printed layouts, which way up a page lies,
and the order and gaps of a student's labelled pages (issue 19)."""

from __future__ import annotations

import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import segno
import zxingcpp
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader

from devkit.labelled import Damage, class_roster, label_images, printed, scan
from devkit.samples import jpeg_bytes, make_page_image
from pipeline.adapters.documents.codes import find_code, working_image
from pipeline.adapters.documents.images import NormalisedPage, normalise
from pipeline.adapters.documents.label_sheet import L7160, Sticker, label_pdf
from pipeline.adapters.documents.pdf import iter_pdf_page_files
from pipeline.adapters.documents.turn import turn_page
from pipeline.adapters.provider.apis import spec
from pipeline.domain.label_gaps import Gap, ScannedPage, gaps, in_order
from pipeline.domain.label_pages import label_page
from pipeline.domain.labels import Label, Refused, checksum, decode, encode
from pipeline.errors import ConfigurationError
from pipeline.operator.cli import main

LIMITS = spec("correct_edu").limits
HW = Label("7A", "S012", "hw-7", 2, 3)


def is_label(data: bytes) -> bool:
    return isinstance(decode(data), Label)


# --- the code's text ---------------------------------------------------------------------


def test_a_label_survives_its_code_and_its_checksum_is_the_crc_of_the_rest() -> None:
    text = encode(HW)
    assert text == f"SG1|7A|S012|hw-7|2/3|{checksum('SG1|7A|S012|hw-7|2/3')}"
    assert decode(text) == HW
    assert decode(text.encode()) == HW
    chinese = Label("七年级一班", "李雷", "作业", 1, 1)
    assert decode(encode(chinese).encode("utf-8")) == chinese


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("SG1|7A|S013|hw-7|2/3|{crc}", "checksum"),  # one character misread
        ("SG1|7A|S012|hw-7|3/3|{crc}", "checksum"),
        ("SG1|7A|S012|hw-7|2/3|{crc_lower}", "checksum"),
        ("SG2|7A|S012|hw-7|2/3|{crc}", "not a scangrade label"),
        ("https://example.org/worksheet/7", "not a scangrade label"),
        ("SG1|7A|S012|hw-7|{crc}", "fields"),
        ("SG1|7A|S012|hw-7|2/3|x|{crc}", "fields"),
    ],
)
def test_a_code_that_is_not_exactly_a_label_is_refused(text: str, why: str) -> None:
    crc = checksum("SG1|7A|S012|hw-7|2/3")
    refused = decode(text.format(crc=crc, crc_lower=crc.lower()))
    assert isinstance(refused, Refused) and why in refused.reason


@pytest.mark.parametrize("pages", ["0/3", "4/3", "2/0", "two/3", "2/100", "２/3"])
def test_a_page_number_out_of_its_range_is_refused_even_with_a_good_checksum(pages: str) -> None:
    body = f"SG1|7A|S012|hw-7|{pages}"
    assert isinstance(decode(f"{body}|{checksum(body)}"), Refused)


def test_bytes_that_are_not_utf8_are_refused() -> None:
    assert decode(b"SG1|\xff\xfe") == Refused("not UTF-8 text")


@pytest.mark.parametrize(
    ("label", "why"),
    [
        (Label("7A", "S|1", "hw", 1, 1), "'|'"),
        (Label("7A", "", "hw", 1, 1), "empty"),
        (Label("7A", "S1", "hw\n", 1, 1), "control"),
        (Label("7A", "S1", "hw", 3, 2), "pages run from 1"),
        (Label("7A", "S1", "homework on fractions and decimals, part 2", 1, 1), "shorten"),
    ],
)
def test_a_label_that_cannot_be_coded_is_refused_before_printing(label: Label, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        encode(label)


# --- the printed layouts -----------------------------------------------------------------


def codes_on(pdf: bytes, dpi: int = 200) -> list[list[tuple[str, float, float]]]:
    """Per page of ``pdf``: each code's text and its centre, as shares of the page's size."""
    document = pdfium.PdfDocument(pdf)
    found = []
    try:
        for page in document:
            image = page.render(scale=dpi / 72).to_pil()
            codes = []
            for code in zxingcpp.read_barcodes(image):
                corners = code.position
                x = (corners.top_left.x + corners.bottom_right.x) / 2 / image.width
                y = (corners.top_left.y + corners.bottom_right.y) / 2 / image.height
                codes.append((code.text, x, y))
            found.append(codes)
    finally:
        document.close()
    return found


def test_a_sticker_sheet_holds_one_code_per_page_of_each_student_and_they_read_back() -> None:
    made = printed(class_roster("7A", 8), "hw-7", 3)
    pdf = label_pdf([Sticker(item.code, item.lines()) for item in made], "stickers")

    pages = codes_on(pdf)

    assert [len(codes) for codes in pages] == [L7160.per_sheet, 24 - L7160.per_sheet]
    read = [decode(text) for codes in pages for text, _, _ in codes]
    assert sorted(read, key=str) == sorted((item.label for item in made), key=str)
    first = sorted(pages[0], key=lambda code: (round(code[2], 1), code[1]))
    assert decode(first[0][0]) == Label("7A", "S001", "hw-7", 1, 3)  # row by row
    assert decode(first[1][0]) == Label("7A", "S001", "hw-7", 2, 3)


def test_a_header_page_per_label_with_its_code_in_the_top_right_corner() -> None:
    made = printed(class_roster("7B", 3), "quiz", 2)
    pdf = label_pdf([Sticker(item.code, item.lines()) for item in made], "header")

    pages = codes_on(pdf)

    assert len(PdfReader(io.BytesIO(pdf)).pages) == 6
    assert [[decode(text) for text, _, _ in codes] for codes in pages] == [
        [item.label] for item in made
    ]
    assert all(x > 0.85 and y < 0.1 for codes in pages for _, x, y in codes)


def test_the_labels_command_writes_the_pdf_and_refuses_a_roster_without_classes(
    tmp_path: Path,
) -> None:
    roster = tmp_path / "7C.csv"
    roster.write_text("student_id,name\nS1,Amy\nS2,Bo\n", encoding="utf-8")
    out = tmp_path / "labels.pdf"
    base = ["labels", "--roster", str(roster), "--assignment", "hw-1", "--pages", "2"]

    refused = CliRunner().invoke(main, [*base, "-o", str(out)])
    assert refused.exit_code == 2 and "--class" in refused.output and not out.exists()

    done = CliRunner().invoke(main, [*base, "--class", "7C", "--format", "header", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "4 labels (2 students × 2 pages), 4 A4 pages with a header strip" in done.output
    texts = [text for codes in codes_on(out.read_bytes(), dpi=150) for text, _, _ in codes]
    assert [decode(text) for text in texts][-1] == Label("7C", "S2", "hw-1", 2, 2)


# --- which way up a page lies ------------------------------------------------------------


@pytest.fixture(scope="module")
def strip() -> Image.Image:
    [image] = label_images(printed(class_roster("7A", 1), "hw-7", 1), "header", 200)
    return image


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_the_codes_orientation_says_the_turn_that_makes_the_page_upright(
    strip: Image.Image, turn: int
) -> None:
    scanned = scan(strip, seed=turn, turn=turn, damage=Damage(dpi=200), header=True)

    found = find_code(working_image(scanned, "image/jpeg"), is_label)

    assert found is not None and found.turn == turn and found.where.startswith("corner")


def test_a_sideways_page_is_turned_upright_before_it_is_sent(strip: Image.Image) -> None:
    scanned = scan(strip, seed=5, turn=90, damage=Damage(dpi=200, skew=(2, 2)), header=True)
    page = normalise(scanned, LIMITS)
    assert page.width > page.height  # lying on its side

    labelled = label_page(page, LIMITS)

    assert labelled.label is not None and labelled.label.turn == 90
    assert labelled.label.label == Label("7A", "S001", "hw-7", 1, 1)
    upright = labelled.page
    assert (upright.width, upright.height) == (page.height, page.width)
    assert any("turned 90° clockwise" in note for note in upright.notes)
    again = find_code(working_image(upright.data, upright.content_type), is_label)
    assert again is not None and again.turn == 0 and again.where == "corner"


def test_a_one_page_pdf_is_turned_by_its_rotate_entry(strip: Image.Image) -> None:
    scanned = scan(strip, seed=6, turn=180, damage=Damage(dpi=200), header=True)
    with Image.open(io.BytesIO(scanned)) as img:
        pdf = io.BytesIO()
        img.save(pdf, "PDF", resolution=200)
    [pdf_page] = list(iter_pdf_page_files(pdf.getvalue(), spec("paper_cut").limits))
    assert pdf_page.image is not None

    labelled = label_page(pdf_page.image, spec("paper_cut").limits)

    assert labelled.label is not None and labelled.label.turn == 180
    assert PdfReader(io.BytesIO(labelled.page.data)).pages[0].rotation == 180


def test_a_page_without_a_code_or_with_another_code_is_left_as_it_is() -> None:
    plain = normalise(jpeg_bytes(make_page_image(7)), LIMITS)
    assert label_page(plain, LIMITS).page is plain and label_page(plain, LIMITS).label is None

    img = make_page_image(8)
    qr = io.BytesIO()
    segno.make("https://example.org/worksheet/8").save(qr, kind="png", scale=5)
    img.paste(Image.open(qr), (900, 40))
    foreign = normalise(jpeg_bytes(img), LIMITS)

    labelled = label_page(foreign, LIMITS)

    assert labelled.label is None
    assert any("a QR code was ignored: not a scangrade label" in n for n in labelled.page.notes)


def test_turning_by_zero_changes_nothing_and_only_quarter_turns_exist() -> None:
    page = NormalisedPage(b"x", "image/jpeg", 600, 800, "0", "original")
    assert turn_page(page, 0, LIMITS, "why") is page
    with pytest.raises(ValueError, match="quarter"):
        turn_page(page, 45, LIMITS, "why")


# --- order and gaps ----------------------------------------------------------------------


def page(document: int, number: int, code: str | None, n: int = 0, of: int = 3) -> ScannedPage:
    label = Label("7A", code, "hw-7", n, of) if code is not None else None
    return ScannedPage(document, number, label)


def test_pages_come_in_their_labels_order_whatever_order_they_were_scanned_in() -> None:
    scanned = [
        page(0, 1, "S2", 3),
        page(0, 2, "S1", 2),
        page(0, 3, "S2", 1),
        page(1, 1, "S1", 1),  # another file
        page(1, 2, "S2", 2),
        page(1, 3, "S1", 3),
    ]

    ordered = in_order(scanned)

    assert [(p.document, p.page_no) for p in ordered[("7A", "S1", "hw-7")]] == [
        (1, 1),
        (0, 2),
        (1, 3),
    ]
    assert [p.label.page for p in ordered[("7A", "S2", "hw-7")] if p.label] == [1, 2, 3]
    assert gaps(scanned) == []


def test_missing_extra_and_duplicate_pages_are_found_and_the_later_scan_wins() -> None:
    first = page(0, 2, "S1", 1)
    later = page(1, 1, "S1", 1)
    extra = page(0, 3, None)
    scanned = [
        page(0, 1, "S1", 2),
        first,
        extra,
        ScannedPage(0, 4, None, counts=False),  # a blank back: never extra
        later,
        page(1, 2, "S1", 3),
        page(1, 3, "S2", 2),  # S2 handed in page 2 of 3 only
        page(2, 1, None),  # a file without labels: nobody's extra page
    ]

    found = gaps(scanned)

    assert found == [
        Gap("duplicate", ("7A", "S1", "hw-7"), 1, first, later),
        Gap("missing", ("7A", "S2", "hw-7"), 1),
        Gap("missing", ("7A", "S2", "hw-7"), 3),
        Gap("extra", None, page=extra),
    ]
    assert in_order(scanned)[("7A", "S1", "hw-7")][0] is later


def test_a_later_page_of_the_same_file_replaces_an_earlier_one() -> None:
    earlier, again = page(0, 1, "S1", 1, of=1), page(0, 5, "S1", 1, of=1)
    assert gaps([again, earlier]) == [Gap("duplicate", ("7A", "S1", "hw-7"), 1, earlier, again)]
