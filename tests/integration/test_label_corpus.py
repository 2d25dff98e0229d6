"""How well labels read on bad scans: at least 99 % of codes, and never a wrong student.

The corpus (``devkit.labelled``): 80 students × 3 pages of an assignment, half with header
strips and half with stickers near the top right corner, printed by the product's own
layout and pasted at 200 dpi onto sample pages (so a code is its printed 12 mm: 3.25 px a
module), turned 0/90/180/270° at random plus 1–3° of skew, salt-and-pepper noise on 0.2 %
of the pixels, JPEG quality 40. The class's pages then go through a shuffled class PDF and
the dry run's own splitting, so each page is read as ingest reads it (the scan embedded in
the PDF, normalised). Slow to make (about 30 s), so it lives here, not in tests/unit; it
needs no service. ``make bench`` reports the CPU the search costs per page.
"""

from __future__ import annotations

import time

import pytest

from devkit.labelled import Damage, LabelledScan, corpus, shuffled_class_pdf
from pipeline.adapters.documents.document import document_pages
from pipeline.adapters.documents.images import NormalisedPage
from pipeline.adapters.provider.apis import spec
from pipeline.domain.label_pages import label_page

STUDENTS, PAGES = 80, 3


@pytest.fixture(scope="module")
def shuffled() -> tuple[bytes, list[LabelledScan]]:
    scans = list(corpus(STUDENTS, PAGES, damage=Damage(dpi=200), seed=7))
    return shuffled_class_pdf(scans, seed=7)


def test_codes_read_on_at_least_99_percent_of_bad_scans_and_never_a_wrong_student(
    shuffled: tuple[bytes, list[LabelledScan]],
) -> None:
    pdf, order = shuffled
    limits = spec("correct_edu").limits
    read = wrong = turned_wrong = 0
    started = time.process_time()
    for (number, page), scanned in zip(
        document_pages("pdf", [pdf], limits, sends_pdf=False), order, strict=True
    ):
        assert isinstance(page, NormalisedPage), (number, page)
        labelled = label_page(page, limits)
        if labelled.label is None:
            continue
        read += 1
        wrong += labelled.label.label != scanned.label
        turned_wrong += labelled.label.turn != scanned.turn
    per_page_ms = 1000 * (time.process_time() - started) / len(order)

    assert len(order) == STUDENTS * PAGES >= 200
    assert wrong == 0 and turned_wrong == 0
    assert read / len(order) >= 0.99, f"{read} of {len(order)} codes read"
    print(f"{read}/{len(order)} read, {per_page_ms:.1f} ms CPU a page (reading and turning)")
