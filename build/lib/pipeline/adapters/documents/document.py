"""A document's pages, in order: the one place that splits PDFs, TIFFs and image sets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from pipeline.adapters.documents.images import Limits, NormalisedPage, image_frames, normalise
from pipeline.adapters.documents.pdf import iter_pdf_page_files, iter_pdf_pages
from pipeline.errors import BadInput


def document_pages(
    kind: str,
    originals: list[bytes],
    limits: Limits,
    *,
    sends_pdf: bool,
    every_frame: bool = False,
) -> Iterator[tuple[int, NormalisedPage | BadInput]]:
    """Every page of the document in order, within the API's limits, or why it cannot be.

    APIs that read PDFs (``sends_pdf``) get each page as a one-page PDF; the others get
    images. An animation is its first frame unless ``every_frame``. A single image that
    cannot be used raises; one bad page of many is yielded.
    """
    if kind == "pdf":
        split = iter_pdf_page_files if sends_pdf else iter_pdf_pages
        for pdf_page in split(originals[0], limits):
            yield pdf_page.number, pdf_page.image or pdf_page.error  # type: ignore[misc]
        return
    number = 0
    for data in originals:
        try:
            frames = image_frames(data, limits, every_frame=every_frame)
        except BadInput as e:
            if len(originals) == 1:
                raise
            # One file of an image set that cannot be opened is one failed page.
            number += 1
            yield number, e
            continue
        for frame in frames.pages:
            number += 1
            try:
                page = normalise(frame, limits)
            except BadInput as e:
                if len(originals) == 1 and len(frames.pages) == 1:
                    raise  # a single image that cannot be used fails its document
                yield number, e
                continue
            if frames.note is not None:
                page = replace(page, notes=(*page.notes, frames.note))
            yield number, page
