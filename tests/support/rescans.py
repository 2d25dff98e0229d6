"""Rescans: a file whose content changed at the same path is a new version of its document in
the same batch; the old version is kept, superseded, and out of the views, the report, status
and retry. ``enqueue --force`` does what ``enqueue --force --dry-run`` says, page for page.

Real workers, Postgres, Redis, S3 and the simulator over HTTP.
"""

from __future__ import annotations

from sqlalchemy import select

from devkit.samples import jpeg_bytes, make_page_image
from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope


def rescan_jpeg(seed: int) -> bytes:
    return jpeg_bytes(make_page_image(seed, 640, 905))


def pages_of(document_id: int) -> list[Page]:
    with session_scope() as session:
        pages = list(
            session.scalars(
                select(Page).where(Page.document_id == document_id).order_by(Page.page_no)
            )
        )
        session.expunge_all()
        return pages
