"""PDFs for the APIs that read PDFs themselves: one page per call, never rasterised."""

from __future__ import annotations

import io
from dataclasses import replace

from pypdf import PdfReader

from devkit.samples import jpeg_bytes, make_page_image, make_scanned_pdf, pdf_from_jpegs
from pipeline.adapters.documents.pdf import PDF_CONTENT_TYPE, iter_pdf_page_files
from pipeline.adapters.provider.apis import SPECS

LIMITS = SPECS["paper_cut"].limits


def test_each_page_becomes_a_one_page_pdf_with_the_scan_untouched() -> None:
    scans = [jpeg_bytes(make_page_image(seed), quality=60) for seed in (1, 2, 3)]
    pages = list(iter_pdf_page_files(pdf_from_jpegs(scans), LIMITS))
    assert [page.number for page in pages] == [1, 2, 3]
    for page, scan in zip(pages, scans, strict=True):
        assert page.image is not None
        assert page.image.content_type == PDF_CONTENT_TYPE
        assert page.image.source == "pdf_page"
        reader = PdfReader(io.BytesIO(page.image.data))
        assert len(reader.pages) == 1
        (xobject,) = reader.pages[0]["/Resources"]["/XObject"].values()
        assert xobject.get_object().get_data() == scan  # the scanner's JPEG, byte for byte
    assert len({page.image.sha256 for page in pages if page.image}) == 3


def test_a_page_over_the_size_limit_is_sent_as_an_image() -> None:
    data = make_scanned_pdf([4, 5], quality=95)
    tight = replace(LIMITS, max_b64_bytes=20_000)
    pages = list(iter_pdf_page_files(data, tight))
    assert all(page.image is not None for page in pages)
    for page in pages:
        assert page.image is not None
        assert page.image.content_type == "image/jpeg"
        assert any("sent as an image" in note for note in page.image.notes)
