"""``scangrade report``: a graded batch becomes one HTML file a browser shows offline.

The batch goes through the real pipeline (real workers, simulator, moto S3); the report is
written by the CLI and opened in headless Chromium with name resolution switched off.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageChops
from sqlalchemy import func, select
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image, make_scanned_pdf
from devkit.standins import Service
from pipeline.adapters.db.models import Page, Question
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.operator.report.pictures import MAX_WIDTH
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory

PAGES = 6


STUDENTS = {"li-lei": "3A", "wang-fang": "3A", "zhao-min": "3B", "loose.jpg": "—"}


INK = (20, 40, 160)  # make_page_image's handwriting


CORRECT_SLOT, WRONG_SLOT = (214, 236, 221), (248, 213, 214)  # 18 % green or red over white


IMG_SRC = re.compile(r'<img class="scan" src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "headless Chromium is needed to check the report: `make test` installs it, "
            "or run `apt-get install -y chromium`",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="module")
def graded_batch(env: Settings, workers: Service, tmp_path_factory: pytest.TempPathFactory) -> int:
    root = tmp_path_factory.mktemp("scans") / "report-night"
    # <class>/<student>/… as teachers file scans; seeds of their own, so no page is a
    # duplicate of another test's and skipped.
    for rel, seed in (("3A/li-lei/page1.jpg", 601), ("3A/li-lei/page2.jpg", 602)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(jpeg_bytes(make_page_image(seed)))
    (root / "3A/wang-fang").mkdir(parents=True)
    (root / "3A/wang-fang/homework.pdf").write_bytes(make_scanned_pdf([603, 604]))
    (root / "3B/zhao-min").mkdir(parents=True)
    (root / "3B/zhao-min/page1.jpg").write_bytes(jpeg_bytes(make_page_image(605)))
    (root / "loose.jpg").write_bytes(jpeg_bytes(make_page_image(606)))
    enqueued = enqueue_directory(root, get_store(), batch_name="report-night", settle_s=0)
    wait_until_done(enqueued.batch_id)
    return enqueued.batch_id


@pytest.fixture(scope="module")
def report_html(graded_batch: int, tmp_path_factory: pytest.TempPathFactory) -> Path:
    here = tmp_path_factory.mktemp("report")
    with contextlib.chdir(here):  # the default file is written in the current directory
        result = CliRunner().invoke(main, ["report", "report-night"])
    out = here / "report-report-night.html"
    assert result.exit_code == 0, result.output
    assert f"wrote report-report-night.html ({out.stat().st_size / 1e6:.1f} MB)" in result.output
    assert f"{PAGES} pages, {PAGES} pictures" in result.output
    return out


def test_report_is_self_contained_with_every_page_charts_and_students(
    graded_batch: int, report_html: Path
) -> None:
    html = report_html.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?!["']|data:|#)""", html)
    pictures = IMG_SRC.findall(html)
    assert len(pictures) == PAGES
    for encoded in pictures:
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as img:
            assert img.format == "JPEG" and 0 < img.width <= MAX_WIDTH
    assert html.count('<svg class="chart"') == 2
    assert html.count('<svg class="overlay"') == PAGES
    for student, class_name in STUDENTS.items():
        assert re.search(
            rf"<tr><td>{class_name}</td>\s*<td><a href=\"#student-\d+\">{student}<", html
        )


def test_boxes_are_coloured_by_grade(graded_batch: int, report_html: Path) -> None:
    html = report_html.read_text(encoding="utf-8")
    with session_scope() as session:
        by_result = dict(
            session.execute(
                select(Question.correct_result, func.count())
                .join(Page, Page.id == Question.page_id)
                .where(Page.batch_id == graded_batch)
                .group_by(Question.correct_result)
            ).all()
        )
    assert sum(by_result.values()) > PAGES, "the simulator graded questions on every page"
    drawn = {
        result: len(re.findall(rf'<rect class="question r{result}"', html)) for result in range(4)
    }
    # Every question has at least one box; correct_edu gives a few two (questionArea is a list).
    for result in range(4):
        assert drawn[result] >= by_result.get(result, 0)
        assert (drawn[result] == 0) == (by_result.get(result, 0) == 0)
    assert html.count('<rect class="slot r') > 0


def test_output_names_the_file(graded_batch: int, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "3A.html"
    result = CliRunner().invoke(main, ["report", str(graded_batch), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert len(IMG_SRC.findall(out.read_text(encoding="utf-8"))) == PAGES
    assert [p.name for p in out.parent.iterdir()] == ["3A.html"], "no partial file is left"


def test_chromium_shows_every_picture_offline(report_html: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    offline = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing may come from a network
        "--virtual-time-budget=10000",
    ]
    dom = subprocess.run(
        [*offline, "--dump-dom", report_html.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'data-pictures="{PAGES}/{PAGES}"' in dom.stdout, dom.stdout[:500]
    assert 'class="page broken"' not in dom.stdout

    # A window tall enough for the header, charts, table and the first page.
    shot = tmp_path / "report.png"
    size, hidden = "--window-size=1100,4000", "--hide-scrollbars"
    done = subprocess.run(
        [*offline, size, hidden, f"--screenshot={shot}", report_html.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    with Image.open(shot) as img:
        screen = img.convert("RGB")
    assert _pixels_near(screen, INK, 45) > 1000, "the scan's handwriting is on screen"
    # Translucent answer boxes over white paper: colours found nowhere else in the report.
    assert _pixels_near(screen, CORRECT_SLOT, 12) + _pixels_near(screen, WRONG_SLOT, 12) > 5000


def _pixels_near(img: Image.Image, colour: tuple[int, int, int], tolerance: int) -> int:
    """How many pixels are within ``tolerance`` of ``colour`` on every channel."""
    difference = ImageChops.difference(img, Image.new("RGB", img.size, colour))
    red, green, blue = difference.split()
    worst = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return sum(worst.histogram()[: tolerance + 1])
