from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select
from support.ingest import animation, small_crop

from devkit import samples
from pipeline.adapters.db.models import Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.documents.blank import ink, is_blank
from pipeline.adapters.documents.document import document_pages
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider.apis import Choices, build_options, spec
from pipeline.domain.routing import Route, Routing
from pipeline.domain.students import read_students
from pipeline.settings import Settings, get_settings
from pipeline.stages.enqueue import enqueue_directory
from pipeline.stages.ingest import ingest_document
from pipeline.stages.plan import plan_directory


def _ingested_pages(root: Path, route: Route) -> list[Page]:
    """Enqueue ``root`` for ``route`` and ingest its one document here, in this process."""
    store = get_store()
    report = enqueue_directory(root, store, routes=Routing(route), settle_s=0)
    with session_scope() as session:
        [document_id] = session.scalars(
            select(Document.id).where(Document.batch_id == report.batch_id)
        ).all()
    ingest_document(document_id, store)  # or a worker did, if one runs in this session
    deadline = time.monotonic() + 60
    while True:
        with session_scope() as session:
            state = session.get_one(Document, document_id).state
            pages = list(session.scalars(select(Page).where(Page.document_id == document_id)))
        if state == "ingested" or time.monotonic() > deadline:
            assert state == "ingested"
            return sorted(pages, key=lambda page: page.page_no)
        time.sleep(0.2)


@pytest.mark.parametrize("api", ["formula", "custom_ocr"])
def test_small_crops_are_never_skipped_as_blank(env: Settings, tmp_path: Path, api: str) -> None:
    crop = small_crop()
    assert is_blank(ink(crop, "image/png"))  # a duplex back, were it a page for correct_edu
    (tmp_path / f"crop-{api}").mkdir()
    (tmp_path / f"crop-{api}" / "q1.png").write_bytes(crop)
    options = build_options(api, Choices(), default_endpoint=samples.CUSTOM_MODEL_PATH)

    [page] = _ingested_pages(tmp_path / f"crop-{api}", Route(api, options))

    assert page.state != "skipped" and page.error_code is None
    assert page.ink_ratio is None  # never measured


def test_blank_pages_are_still_skipped_for_correct_edu(env: Settings, tmp_path: Path) -> None:
    (tmp_path / "backs").mkdir()
    (tmp_path / "backs" / "back.jpg").write_bytes(samples.blank_page())

    [page] = _ingested_pages(tmp_path / "backs", Route("correct_edu", {}))

    assert (page.state, page.error_code) == ("skipped", "blank")


def test_an_animated_webp_is_one_page_with_a_note(env: Settings, tmp_path: Path) -> None:
    (tmp_path / "gif").mkdir()
    (tmp_path / "gif" / "answer.webp").write_bytes(animation("WEBP", 42))

    [page] = _ingested_pages(tmp_path / "gif", Route("correct_edu", {}))

    assert page.state != "failed"
    assert any("dropped the other 41 of 42 frames" in note for note in page.notes)

    # SCANGRADE_EVERY_FRAME keeps every frame; split here, where the setting is handed in
    # (a worker of this session could ingest an enqueued copy with its own settings first).
    limits = spec("correct_edu").limits
    split = document_pages(
        "image", [animation("WEBP", 3)], limits, sends_pdf=False, every_frame=True
    )
    assert [number for number, _ in split] == [1, 2, 3]
    assert get_settings().every_frame is False  # one frame unless asked


@pytest.mark.parametrize("api", ["formula", "custom_ocr"])
def test_the_dry_run_never_counts_small_crops_as_blank(
    env: Settings, tmp_path: Path, api: str
) -> None:
    (tmp_path / "q1.png").write_bytes(small_crop())
    (tmp_path / "answer.webp").write_bytes(animation("WEBP", 5))
    options = build_options(api, Choices(), default_endpoint=samples.CUSTOM_MODEL_PATH)

    plan = plan_directory(
        tmp_path,
        Settings(settle_s=0),  # the files were just written
        routes=Routing(Route(api, options)),
        students=read_students(tmp_path),
    )

    assert {(doc.rel_path, doc.pages, len(doc.blank)) for doc in plan.documents} == {
        ("q1.png", 1, 0),
        ("answer.webp", 1, 0),  # an animation is its first frame, as ingest sends it
    }
