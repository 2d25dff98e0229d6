"""A document's pages, in order: the one place that splits PDFs, TIFFs and image sets."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.errors import BadInput
from pipeline.ingest.images import Limits, NormalisedPage, normalise, split_image
from pipeline.ingest.pdf import iter_pdf_page_files, iter_pdf_pages


def document_pages(
    kind: str, originals: list[bytes], limits: Limits, *, sends_pdf: bool
) -> Iterator[tuple[int, NormalisedPage | BadInput]]:
    """Every page of the document in order, within the API's limits, or why it cannot be.

    APIs that read PDFs (``sends_pdf``) get each page as a one-page PDF; the others get
    images. A single image that cannot be used raises; one bad page of many is yielded.
    """
    if kind == "pdf":
        split = iter_pdf_page_files if sends_pdf else iter_pdf_pages
        for pdf_page in split(originals[0], limits):
            yield pdf_page.number, pdf_page.image or pdf_page.error  # type: ignore[misc]
        return
    number = 0
    for data in originals:
        try:
            frames = split_image(data, limits)
        except BadInput as e:
            if len(originals) == 1:
                raise
            # One file of an image set that cannot be opened is one failed page.
            number += 1
            yield number, e
            continue
        for frame in frames:
            number += 1
            try:
                yield number, normalise(frame, limits)
            except BadInput as e:
                if len(originals) == 1 and len(frames) == 1:
                    raise  # a single image that cannot be used fails its document
                yield number, e
