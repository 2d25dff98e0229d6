"""Blank-page detection on synthetic scans: what a duplex back looks like, and what it is not.

Every page is A4 at 150 dpi (1240x1754 px) unless its name says otherwise, built here from a
seed so the same bytes come back on every run.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw
from support.blank_pages import (
    BLANK,
    BMP,
    INKED,
    JPEG,
    PDF,
    PNG,
    SPARSE,
    dust,
    paper,
    pencil_word_image,
)

from devkit.samples import (
    blank_page,
    jpeg_bytes,
    make_page_image,
    make_vector_pdf,
    pdf_from_jpegs,
    png_bytes,
)
from pipeline.adapters.documents.blank import DEFAULT_BLANK_INK_RATIO, InkMeasure, ink, is_blank
from pipeline.errors import BadInput


@pytest.fixture(scope="module")
def sparse() -> dict[str, InkMeasure]:
    return {name: ink(*make()) for name, make in SPARSE.items()}


@pytest.mark.parametrize("name", SPARSE)
def test_a_line_of_print_or_writing_is_never_blank(
    name: str, sparse: dict[str, InkMeasure]
) -> None:
    assert not is_blank(sparse[name]), f"{name}: {sparse[name]}"


def test_small_print_weighs_under_the_threshold_yet_is_a_line(
    sparse: dict[str, InkMeasure],
) -> None:
    """The share alone would skip these: the line is what keeps them."""
    light = {name: m for name, m in sparse.items() if m.ratio < DEFAULT_BLANK_INK_RATIO}
    assert {"'1 + 1 = 2', 9 px, A4 150 dpi", "formula 'y = 2x + 1', 10 px"} <= set(light)
    assert all(m.line for m in light.values()), light


def test_no_blank_back_holds_a_line(measured: dict[str, InkMeasure]) -> None:
    assert not [name for name in BLANK if measured[name].line]
    assert not [seed for seed in range(6, 40) if ink(*dust(seed)).line]


@pytest.fixture(scope="module")
def measured() -> dict[str, InkMeasure]:
    return {name: ink(*make()) for name, make in {**BLANK, **INKED}.items()}


@pytest.mark.parametrize("name", BLANK)
def test_blank_backs_are_blank(name: str, measured: dict[str, InkMeasure]) -> None:
    assert is_blank(measured[name]), f"{name}: {measured[name]}"


@pytest.mark.parametrize("name", INKED)
def test_pages_with_ink_are_not_blank(name: str, measured: dict[str, InkMeasure]) -> None:
    assert not is_blank(measured[name]), f"{name}: {measured[name]}"


def test_threshold_is_far_from_both_groups(measured: dict[str, InkMeasure]) -> None:
    table = "\n".join(f"{m.ratio:10.6f} {m.pixels:7d}  {name}" for name, m in measured.items())
    most_blank = max(measured[name].ratio for name in BLANK)
    least_inked = min(measured[name].ratio for name in INKED)
    assert most_blank < DEFAULT_BLANK_INK_RATIO / 3, table
    assert least_inked > DEFAULT_BLANK_INK_RATIO * 3, table


def test_pure_white_has_no_ink(measured: dict[str, InkMeasure]) -> None:
    assert measured["pure white"] == InkMeasure(ratio=0.0, pixels=0)


def test_a_written_page_is_a_few_percent_ink(measured: dict[str, InkMeasure]) -> None:
    sample = measured["sample page"]
    assert 0.005 < sample.ratio < 0.2
    assert sample.pixels > 1000


def test_ratio_does_not_depend_on_resolution_or_format() -> None:
    """The same pencil word weighs the same however it was scanned and stored."""
    img = pencil_word_image(40)
    at_200 = img.resize((1653, 2339), Image.Resampling.BICUBIC)
    at_300 = img.resize((2480, 3508), Image.Resampling.BICUBIC)
    ratios = [
        ink(jpeg_bytes(img), JPEG).ratio,
        ink(png_bytes(img), PNG).ratio,
        ink(jpeg_bytes(at_200), JPEG).ratio,
        ink(jpeg_bytes(at_300), JPEG).ratio,
        ink(pdf_from_jpegs([jpeg_bytes(img)]), PDF).ratio,
    ]
    assert max(ratios) < 1.4 * min(ratios), ratios


def test_ink_in_the_margin_is_ignored() -> None:
    """A dark border 2 % deep (scanner edge, punch holes) does not count; moved inward it does."""
    edge = paper(30)
    ImageDraw.Draw(edge).rectangle((0, 0, 24, 1753), fill=20)
    inward = paper(30)
    ImageDraw.Draw(inward).rectangle((200, 300, 224, 1453), fill=20)
    assert is_blank(ink(jpeg_bytes(edge), JPEG))
    assert not is_blank(ink(jpeg_bytes(inward), JPEG))


def test_threshold_is_the_first_non_blank_ratio() -> None:
    assert is_blank(InkMeasure(ratio=DEFAULT_BLANK_INK_RATIO * 0.99, pixels=1))
    assert not is_blank(InkMeasure(ratio=DEFAULT_BLANK_INK_RATIO, pixels=1))
    assert not is_blank(InkMeasure(ratio=0.002, pixels=900), threshold=0.001)
    assert is_blank(InkMeasure(ratio=0.002, pixels=900), threshold=0.01)


def _truncated_jpeg() -> bytes:
    data = jpeg_bytes(make_page_image(1))
    return data[: len(data) // 3]


def _two_page_pdf() -> bytes:
    return make_vector_pdf(2)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"", JPEG),
        (b"definitely not an image", PNG),
        (b"<html><body>502 Bad Gateway</body></html>", BMP),
        (_truncated_jpeg(), JPEG),
        (b"%PDF-1.4\n1 0 obj broken", PDF),
        (blank_page(), PDF),
        (_two_page_pdf(), PDF),
        (blank_page(), "text/plain"),
    ],
    ids=[
        "empty",
        "text",
        "html",
        "truncated jpeg",
        "broken pdf",
        "jpeg called pdf",
        "two-page pdf",
        "unknown type",
    ],
)
def test_undecodable_pages_are_bad_input(data: bytes, content_type: str) -> None:
    with pytest.raises(BadInput) as caught:
        ink(data, content_type)
    assert caught.value.code == "blank_check_failed"
    assert str(caught.value)
