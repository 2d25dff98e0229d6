"""Students: from the manifest, the folders or a roster split; unmatched files listed, never
guessed; blank backs skipped before any call; ``enqueue --dry-run`` shows it all and sends
nothing; labelled pages sent upright, a page scanned twice sent once."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import select, text
from support.batches import wait_until_done
from support.students import back, page, write

from devkit.labelled import Damage, corpus, shuffled_class_pdf
from devkit.samples import pdf_from_jpegs
from devkit.standins import Service
from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.domain.students import read_students
from pipeline.operator.cli import main
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory


@pytest.fixture(scope="module")
def night(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A class scanned duplex as one PDF (fronts written on, backs blank), a student's
    folder, a manifest row, and a loose file nobody owns."""
    root = tmp_path_factory.mktemp("students") / "night"
    fronts_and_backs = [page(701), back(1), page(702), back(2), page(703)]
    write(root / "7C.pdf", pdf_from_jpegs(fronts_and_backs))
    write(root / "7A" / "li-lei" / "homework.jpg", page(704))
    write(root / "inbox" / "scan-17.jpg", page(705))
    write(root / "loose.jpg", page(706))
    write(
        root / "manifest.csv",
        "file,student_id,name,class,assignment\ninbox/scan-17.jpg,1042,Wang Fang,3B,week 12\n",
    )
    roster = write(root.parent / "roster-7c.csv", "student_id,name\nS1,Amy\nS2,Bo\n")
    students = read_students(root, roster=roster, pages_per_student=2)
    report = enqueue_directory(root, get_store(), batch_name="students", students=students)
    wait_until_done(report.batch_id)
    return root, report


def owners(batch_id: int) -> dict[tuple[str, int], tuple[Any, ...]]:
    with session_scope() as session:
        rows = session.execute(
            text(
                """
                SELECT d.rel_path, p.page_no, p.state, p.error_code, o.class_name, o.student,
                       o.student_code, o.assignment, o.owner_source
                FROM v_page_owners o JOIN pages p ON p.id = o.page_id
                JOIN documents d ON d.id = p.document_id
                WHERE p.batch_id = :b
                """
            ),
            {"b": batch_id},
        ).all()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def test_every_page_has_its_student_and_blank_backs_are_never_sent(
    night: Any, sim_http: httpx.Client
) -> None:
    _, report = night
    assert [(u.rel_path, u.code) for u in report.unmatched] == [("loose.jpg", "no_student")]
    assert report.rejected == []  # the manifest is no scan
    found = owners(report.batch_id)
    amy, bo = ("7C", "Amy", "S1", None, "roster"), ("7C", "Bo", "S2", None, "roster")
    assert found == {
        ("7C.pdf", 1): ("done", None, *amy),
        ("7C.pdf", 2): ("skipped", "blank", *amy),
        ("7C.pdf", 3): ("done", None, *bo),
        ("7C.pdf", 4): ("skipped", "blank", *bo),
        ("7C.pdf", 5): ("done", None, "7C", None, None, None, "roster"),  # past the roster
        # A folder of images is one document: the student's own, or named by the manifest.
        ("7A/li-lei", 1): ("done", None, "7A", "li-lei", "li-lei", None, "directory"),
        ("inbox", 1): ("done", None, "3B", "Wang Fang", "1042", "week 12", "manifest"),
        ("loose.jpg", 1): ("done", None, None, None, None, None, None),
    }
    with session_scope() as session:
        sent = session.scalars(
            select(Page.sha256).where(Page.batch_id == report.batch_id, Page.state == "done")
        ).all()
        skipped = session.scalars(
            select(Page.sha256).where(Page.batch_id == report.batch_id, Page.state == "skipped")
        ).all()
        progress = session.execute(
            text(
                "SELECT pages_skipped, pages_in_flight, ended_share FROM v_batch_progress "
                "WHERE batch_id = :b"
            ),
            {"b": report.batch_id},
        ).one()
    uploads = set(sim_http.get("/_sim/uploads").json()["uploads"])
    assert set(sent) <= uploads and not set(skipped) & uploads
    assert tuple(progress) == (2, 0, 1)


def test_a_corrected_manifest_corrects_the_owners_of_pages_already_made(night: Any) -> None:
    root, report = night
    write(
        root / "manifest.csv",
        "file,student_id,name,class\n"
        "inbox/scan-17.jpg,1042,Wang Fang,3B\n"
        "loose.jpg,1077,Zhao Min,3B\n",
    )
    again = enqueue_directory(
        root, get_store(), batch_name="students", students=read_students(root)
    )
    assert again.queued == [] and again.unmatched == [] and again.batch_id == report.batch_id
    assert owners(report.batch_id)[("loose.jpg", 1)][2:5] == ("3B", "Zhao Min", "1077")


def test_status_shows_blank_and_unowned_pages(night: Any) -> None:
    _, report = night
    result = CliRunner().invoke(main, ["status", str(report.batch_id)])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()]
    assert "pages skipped 2" in lines
    # 7C.pdf's page past the roster (loose.jpg has a student since the corrected manifest).
    assert "pages with no student (see enqueue's list) 1" in lines


@pytest.fixture(scope="module")
def labelled(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A class's labelled pages shuffled into one PDF, lying every way up, and one of them
    scanned again in a later file; graded by the workers."""
    root = tmp_path_factory.mktemp("labelled") / "night"
    scans = list(corpus(3, 2, damage=Damage(dpi=200), seed=23))
    pdf, _ = shuffled_class_pdf(scans, seed=23)
    write(root / "scan-1.pdf", pdf)
    write(root / "scan-2.pdf", pdf_from_jpegs([scans[0].jpeg], dpi=200))
    report = enqueue_directory(root, get_store(), batch_name="labelled", settle_s=0)
    wait_until_done(report.batch_id)
    return scans, report


def test_labelled_pages_are_sent_upright_and_a_replaced_scan_never(
    labelled: Any, sim_http: httpx.Client
) -> None:
    scans, report = labelled
    with session_scope() as session:
        pages = session.execute(
            select(Page.state, Page.sha256, Page.image_key, Page.label_turn, Page.error_code).where(
                Page.batch_id == report.batch_id
            )
        ).all()
    uploads = sim_http.get("/_sim/uploads").json()["uploads"]
    store = get_store()
    done = [p for p in pages if p.state == "done"]
    assert len(done) == len(scans) and {p.label_turn for p in done} == {s.turn for s in scans}
    for sent in done:
        assert sent.sha256 in uploads
        with Image.open(io.BytesIO(store.get(sent.image_key))) as image:
            assert image.height > image.width  # upright, as the provider got it
    [replaced] = [p for p in pages if p.state != "done"]
    assert (replaced.state, replaced.error_code) == ("skipped", "label_replaced")
    assert uploads[replaced.sha256]["calls"] == 1  # the same scan twice: its later copy alone
