"""Labelled pages through enqueue and ingest, against the database (issue 19).

One night: a class's labelled homework scanned as one shuffled PDF, sideways and upside down
pages among them, one student's last page never handed in, one page scanned again in a later
file with an unlabelled sheet after it, and a labelled page filed in another student's folder.
Ingest must give every labelled page its label's student (ahead of the folder), put each
student's pages in their labels' order, turn them upright, send the earlier of two scans of
a label never, and ``v_label_gaps``, ``status`` and ``--dry-run`` must list what is missing,
extra and replaced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from support.students import page as plain_page
from support.students import write

from devkit.labelled import Damage, LabelledScan, corpus, shuffled_class_pdf
from devkit.samples import pdf_from_jpegs
from pipeline.adapters.db.models import Document, Page, SchoolClass, Student
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.domain.routing import Route, Routing
from pipeline.domain.students import read_students
from pipeline.operator.cli import main
from pipeline.operator.report import write_report
from pipeline.operator.report.data import load_report
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory
from pipeline.stages.ingest import ingest_document

STUDENTS, PAGES = 5, 3


@dataclass(frozen=True)
class Night:
    root: Path
    scans: list[LabelledScan]
    shuffled: list[LabelledScan]
    again: LabelledScan
    filed_elsewhere: LabelledScan


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    root = tmp_path_factory.mktemp("labelled-night")
    scans = list(corpus(STUDENTS, PAGES, damage=Damage(dpi=200), seed=19))
    by_label = {(s.label.student_code, s.label.page): s for s in scans}
    never_handed_in = by_label[("S003", 3)]
    filed_elsewhere = by_label[("S005", 2)]
    again = by_label[("S001", 2)]
    in_class_pdf = [s for s in scans if s not in (never_handed_in, filed_elsewhere)]
    pdf, shuffled = shuffled_class_pdf(in_class_pdf, seed=19)
    write(root / "scan-1.pdf", pdf)
    # A later file: S001's page 2 scanned again, then a sheet nobody labelled.
    write(root / "scan-2.pdf", pdf_from_jpegs([again.jpeg, plain_page(1901)], dpi=200))
    write(root / "7B" / "zhang" / "hw.pdf", pdf_from_jpegs([filed_elsewhere.jpeg], dpi=200))
    return Night(root, scans, shuffled, again, filed_elsewhere)


def _ingest(root: Path) -> int:
    """Enqueue ``root`` and ingest its documents here, in scan (document id) order."""
    store = get_store()
    report = enqueue_directory(root, store, routes=Routing(Route("correct_edu", {})), settle_s=0)
    with session_scope() as session:
        documents = session.scalars(
            select(Document.id).where(Document.batch_id == report.batch_id).order_by(Document.id)
        ).all()
    for document_id in documents:
        ingest_document(document_id, store)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with session_scope() as session:
            states = set(session.scalars(select(Document.state).where(Document.id.in_(documents))))
        if states == {"ingested"}:
            return report.batch_id
        time.sleep(0.2)
    raise AssertionError(f"documents still {states}")


@pytest.fixture(scope="module")
def batch_id(env: Settings, night: Night) -> int:
    return _ingest(night.root)


def _pages(batch_id: int) -> list[dict[str, object]]:
    with session_scope() as session:
        rows = session.execute(
            select(
                Document.rel_path,
                Page.page_no,
                Page.state,
                Page.error_code,
                Page.width,
                Page.height,
                Page.label_assignment,
                Page.label_page,
                Page.label_turn,
                Page.label_replaced_by,
                Student.code.label("student"),
                SchoolClass.name.label("class_name"),
            )
            .join(Document, Document.id == Page.document_id)
            .outerjoin(Student, Student.id == Page.student_id)
            .outerjoin(SchoolClass, SchoolClass.id == Student.class_id)
            .where(Page.batch_id == batch_id)
            .order_by(Document.id, Page.page_no)
        ).all()
    return [row._asdict() for row in rows]


def test_every_labelled_page_is_its_labels_students_and_upright(
    batch_id: int, night: Night
) -> None:
    pages = {(row["rel_path"], row["page_no"]): row for row in _pages(batch_id)}
    expected = {("scan-1.pdf", n): scan for n, scan in enumerate(night.shuffled, start=1)}
    expected[("scan-2.pdf", 1)] = night.again
    expected[("7B/zhang/hw.pdf", 1)] = night.filed_elsewhere  # the label wins over the folder

    for where, scan in expected.items():
        row = pages[where]
        label = scan.label
        assert (row["class_name"], row["student"]) == ("7A", label.student_code), where
        assert (row["label_assignment"], row["label_page"]) == ("hw-7", label.page), where
        assert row["label_turn"] == scan.turn, where
        assert row["height"] > row["width"], f"{where} is not upright"  # type: ignore[operator]
    unlabelled = pages[("scan-2.pdf", 2)]
    assert unlabelled["label_page"] is None and unlabelled["student"] is None
    assert {row["label_turn"] for row in pages.values()} >= {0, 90, 180, 270}


def test_a_students_pages_are_in_their_labels_order_and_the_later_scan_wins(
    batch_id: int, night: Night
) -> None:
    with session_scope() as session:
        owned = session.execute(
            text(
                "SELECT o.student_code, p.label_page, d.rel_path, p.page_no "
                "FROM v_page_owners o JOIN pages p ON p.id = o.page_id "
                "JOIN documents d ON d.id = p.document_id "
                "WHERE p.batch_id = :batch_id AND o.owner_source = 'label' "
                "ORDER BY o.student_code, p.label_page"
            ),
            {"batch_id": batch_id},
        ).all()
    pages_of = {code: [row for row in owned if row.student_code == code] for code in ("S001",)}
    assert [row.label_page for row in pages_of["S001"]] == [1, 2, 3]
    assert (pages_of["S001"][1].rel_path, pages_of["S001"][1].page_no) == ("scan-2.pdf", 1)
    scanned = [scan.label for scan in night.shuffled]
    assert scanned != sorted(scanned, key=lambda label: (label.student_code, label.page))

    replaced = [row for row in _pages(batch_id) if row["label_replaced_by"] is not None]
    assert len(replaced) == 1
    [earlier] = replaced
    assert (earlier["rel_path"], earlier["student"], earlier["label_page"]) == (
        "scan-1.pdf",
        "S001",
        2,
    )
    assert (earlier["state"], earlier["error_code"]) == ("skipped", "label_replaced")  # not sent

    with session_scope() as session:
        report = load_report(session, batch_id)
    [s001] = [student for student in report.students if student.row.label == "S001"]
    assert [page.label for page in s001.pages] == [f"hw-7, page {n} of 3" for n in (1, 2, 3)]
    assert {gap.kind for gap in report.label_gaps} == {"missing", "extra", "duplicate"}


def test_the_report_lists_the_findings_and_each_pages_label(batch_id: int, tmp_path: Path) -> None:
    written = write_report(batch_id, tmp_path / "report.html", get_store())

    html = written.path.read_text(encoding="utf-8")
    assert 'id="labels">Labelled work: missing, extra and replaced pages' in html
    assert html.count('<tr class="label-missing">') == 1
    assert html.count('<tr class="label-extra">') == 1
    assert html.count('<tr class="label-duplicate">') == 1
    assert "(hw-7, page 2 of 3 by its label" in html
    assert "° upright)" in html


def test_the_gaps_view_lists_the_missing_extra_and_replaced_pages(batch_id: int) -> None:
    with session_scope() as session:
        gaps = session.execute(
            text(
                "SELECT kind, class_name, student_code, assignment, label_page, rel_path, "
                "page_no FROM v_label_gaps WHERE batch_id = :batch_id ORDER BY kind"
            ),
            {"batch_id": batch_id},
        ).all()
    assert [tuple(row) for row in gaps] == [
        ("duplicate", "7A", "S001", "hw-7", 2, "scan-1.pdf", _page_of(batch_id, "S001", 2)),
        ("extra", None, None, "hw-7", None, "scan-2.pdf", 2),
        ("missing", "7A", "S003", "hw-7", 3, None, None),
    ]


def _page_of(batch_id: int, student: str, label_page: int) -> int:
    [row] = [
        row
        for row in _pages(batch_id)
        if row["student"] == student
        and row["label_page"] == label_page
        and row["rel_path"] == "scan-1.pdf"
    ]
    page_no = row["page_no"]
    assert isinstance(page_no, int)
    return page_no


def test_status_lists_the_findings(batch_id: int) -> None:
    result = CliRunner().invoke(main, ["status", str(batch_id)])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert f"pages labelled (student and page from their code) │ {STUDENTS * PAGES}" in out
    assert "labelled pages missing (no scan carries the label) │ 1" in out
    assert "missing 7A/S003 hw-7 page 3: no scan carries this page's label [label_missing]" in out
    assert "extra scan-2.pdf page 2: no label among labelled pages [label_extra]" in out
    assert "replaced 7A/S001 hw-7 page 2: scan-1.pdf page" in out
    assert "is replaced by the later scan scan-2.pdf page 1 [label_duplicate]" in out


def test_the_dry_run_shows_the_labels_ahead_of_the_folders_and_the_gaps(
    env: Settings, night: Night
) -> None:
    # --force: the files were sent in the module's batch; the dry run shows them as new.
    command = ["enqueue", str(night.root), "--dry-run", "--batch", "dry", "--force"]
    result = CliRunner().invoke(main, command)
    out = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    labelled = STUDENTS * PAGES - 2
    assert f"labels scan-1.pdf: {labelled} of {labelled} page(s) labelled" in out
    assert (
        "label 7B/zhang/hw.pdf page 1: 7A/S005 hw-7 p2/3 from its label, not 7B/zhang "
        "[label_owner]" in out
    )
    assert (
        "labels 7B/zhang/hw.pdf: 1 of 1 page(s) labelled" in out and "ahead of the directory" in out
    )
    assert "missing 7A/S003 hw-7 page 3: no scan carries this page's label" in out
    assert "extra scan-2.pdf page 2: no label among labelled pages" in out
    assert "replaced 7A/S001 hw-7 page 2: scan-1.pdf page" in out
    assert "unowned scan-1.pdf" not in out  # every page of it has its label's student
    assert "unowned scan-2.pdf: 1 page(s) without a label" in out


def test_enqueue_again_with_a_manifest_keeps_the_labels_students(
    batch_id: int, night: Night, tmp_path: Path
) -> None:
    manifest = write(
        tmp_path / "students.csv",
        "file,student_id,name,class\nscan-1.pdf,S999,Nobody,9Z\nscan-2.pdf,S998,Late,9Z\n",
    )
    with session_scope() as session:
        batch = session.scalar(text("SELECT name FROM batches WHERE id = :id"), {"id": batch_id})
    students = read_students(night.root, manifest=manifest)
    enqueue_directory(
        night.root,
        get_store(),
        batch_name=batch,
        routes=Routing(Route("correct_edu", {})),
        students=students,
        settle_s=0,
    )
    pages = {(row["rel_path"], row["page_no"]): row["student"] for row in _pages(batch_id)}
    assert {code for (path, _), code in pages.items() if path == "scan-1.pdf"} <= {
        f"S{n:03d}" for n in range(1, STUDENTS + 1)
    }
    # The late file: its labelled page keeps its label's student, the other takes the manifest's.
    assert (pages[("scan-2.pdf", 1)], pages[("scan-2.pdf", 2)]) == ("S001", "S998")
