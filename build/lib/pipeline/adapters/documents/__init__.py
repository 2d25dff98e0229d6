"""Turn a nightly scan directory into page images the provider accepts.

Pure logic: paths and bytes in, values out; no database, object store or network. Failures
that doom one file or page raise (or carry) :class:`~pipeline.errors.BadInput` with a stable
``code``; the caller records it and goes on.
"""

from __future__ import annotations

from pipeline.adapters.documents.discovery import (
    IMAGE_EXTENSIONS,
    PDF_EXTENSIONS,
    DiscoveredDocument,
    DiscoveryResult,
    DocumentKind,
    Rejected,
    discover,
    natural_key,
    sha256_files,
)
from pipeline.adapters.documents.images import (
    CORRECT_EDU_LIMITS,
    Limits,
    NormalisedPage,
    PageSource,
    b64_size,
    load_image,
    normalise,
    normalise_image,
    sniff,
    split_image,
)
from pipeline.adapters.documents.pdf import PdfPage, iter_pdf_pages, pdf_page_count, split_pdf

__all__ = [
    "CORRECT_EDU_LIMITS",
    "IMAGE_EXTENSIONS",
    "PDF_EXTENSIONS",
    "DiscoveredDocument",
    "DiscoveryResult",
    "DocumentKind",
    "Limits",
    "NormalisedPage",
    "PageSource",
    "PdfPage",
    "Rejected",
    "b64_size",
    "discover",
    "iter_pdf_pages",
    "load_image",
    "natural_key",
    "normalise",
    "normalise_image",
    "pdf_page_count",
    "sha256_files",
    "sniff",
    "split_image",
    "split_pdf",
]
