"""Two ``scangrade enqueue`` of one directory started at the same moment (two operators, or cron
and a person): no document recorded twice in a batch, no content paid twice, never both copies
skipped as each other's duplicate, every file graded, and both commands exit 0.

Real processes: two CLI subprocesses, real workers, Postgres, Redis, S3 and the simulator.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.settings import Settings

FILES = 40


def _night(root: Path, first_seed: int) -> Path:
    root.mkdir(parents=True)
    for index in range(FILES):
        image = make_page_image(first_seed + index, 480, 680)
        (root / f"scan-{index:02d}.jpg").write_bytes(jpeg_bytes(image, 70))
    return root


def _enqueue_together(
    root: Path, batches: tuple[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Both commands started at once; their outcomes."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline.operator.cli", "enqueue", str(root), "--batch", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in batches
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def _documents(names: set[str]) -> list[Document]:
    with session_scope() as session:
        docs = list(
            session.scalars(
                select(Document)
                .join(Batch, Batch.id == Document.batch_id)
                .where(Batch.name.in_(names))
            )
        )
        session.expunge_all()
        return docs


def _wait_graded(senders: list[int], timeout: float = 240) -> list[Page]:
    """The pages of ``senders`` once each document has its page done; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            pages = list(session.scalars(select(Page).where(Page.document_id.in_(senders))))
            session.expunge_all()
        done = {p.document_id for p in pages if p.state == PageState.DONE}
        if done == set(senders):
            return pages
        if time.monotonic() > deadline:
            states = Counter(p.state for p in pages)
            raise AssertionError(f"{len(set(senders) - done)} files never graded: {states}")
        time.sleep(0.5)


@pytest.mark.parametrize(
    ("round_no", "same_batch"), [(1, False), (2, False), (3, False), (4, True)]
)
def test_two_enqueues_of_one_directory_at_once_send_every_file_once(
    env: Settings,
    workers: Service,
    sim_http: httpx.Client,
    tmp_path: Path,
    round_no: int,
    same_batch: bool,
) -> None:
    root = _night(tmp_path / f"together-{round_no}", 7400 + 100 * round_no)
    names = (f"cron-{round_no}", f"cron-{round_no}" if same_batch else f"operator-{round_no}")

    results = _enqueue_together(root, names)

    for result in results:
        assert result.returncode == 0, result.stderr
    docs = _documents(set(names))
    per_batch_path = Counter((doc.batch_id, doc.rel_path) for doc in docs)
    assert set(per_batch_path.values()) == {1}  # no document recorded twice in a batch
    by_content: dict[str, list[Document]] = {}
    for doc in docs:
        assert doc.sha256 is not None and doc.superseded_at is None
        by_content.setdefault(doc.sha256, []).append(doc)
    assert len(by_content) == FILES
    senders = []
    for copies in by_content.values():
        sent = [doc for doc in copies if doc.state != DocumentState.SKIPPED]
        assert len(sent) == 1, [(d.batch_id, d.rel_path, d.state, d.error) for d in copies]
        senders.append(sent[0].id)
        for skipped in (doc for doc in copies if doc.state == DocumentState.SKIPPED):
            assert skipped.duplicate_of == sent[0].id and skipped.error_code == "duplicate"
    pages = _wait_graded(senders)
    assert len(pages) == FILES
    uploads = sim_http.get("/_sim/uploads").json()["uploads"]
    performed = {page.sha256: uploads[page.sha256]["performed"] for page in pages}
    assert set(performed.values()) == {1}, performed  # no content paid twice
