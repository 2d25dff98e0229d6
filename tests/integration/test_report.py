"""``scangrade report``: a graded batch becomes one HTML file a browser shows offline.

The batch goes through the real pipeline (real workers, simulator, moto S3); the report is
written by the CLI and opened in headless Chromium with name resolution switched off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support.review import graded_page, new_batch, student

from devkit.samples import make_scanned_pdf
from pipeline.adapters.db.models import Document
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.operator.report import write_report
from pipeline.operator.report.data import load_report
from pipeline.operator.report.pictures import MAX_WIDTH, NoPicture, Picture, page_picture
from pipeline.settings import Settings


def test_pictures_of_pdf_pages_and_missing_images(env: Settings) -> None:
    store = get_store()
    store.put("report-test/page.pdf", make_scanned_pdf([607]), "application/pdf")
    picture = page_picture(store, "report-test/page.pdf", "application/pdf")
    assert isinstance(picture, Picture)
    assert picture.width <= MAX_WIDTH and picture.data_uri.startswith("data:image/jpeg;base64,")
    assert picture.source_width / picture.source_height == pytest.approx(1240 / 1754, rel=0.01)
    missing = page_picture(store, "report-test/nothing.jpg", "image/jpeg")
    assert missing == NoPicture("the archived page image is missing")


def test_unknown_batch_is_a_usage_error(env: Settings, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "no-such-night", "-o", str(tmp_path / "x.html")])
    assert result.exit_code == 2
    assert "no batch named 'no-such-night'" in result.output
    assert not (tmp_path / "x.html").exists()


def test_a_file_that_gave_no_page_is_in_the_report_with_its_student(
    env: Settings, tmp_path: Path
) -> None:
    """A student whose only file failed has no page: the report lists the file and why."""
    batch_id = new_batch("report-failed")
    class_id, student_id = student("5D", "song-yu")
    graded_page(batch_id, "5D/ma-li/homework.pdf", [(1, [1])], owner=student("5D", "ma-li"))
    with session_scope() as session:
        session.add(
            Document(
                batch_id=batch_id,
                rel_path="5D/song-yu/homework.pdf",
                kind="pdf",
                api="correct_edu",
                state="failed",
                error="unreadable PDF: no pages [bad_pdf]",
                class_id=class_id,
                student_id=student_id,
            )
        )
    with session_scope() as session:
        data = load_report(session, batch_id)
    assert [(f.rel_path, f.student, f.class_name) for f in data.failed] == [
        ("5D/song-yu/homework.pdf", "song-yu", "5D")
    ]
    html = write_report(batch_id, tmp_path / "r.html", get_store()).path.read_text()
    section = html.split('id="failed"', 1)[1].split("</table>", 1)[0]
    assert "song-yu" in section and "unreadable PDF: no pages [bad_pdf]" in section
    assert "ma-li" not in section  # graded: shown with its pages, not here
