"""``scangrade report``: a graded batch becomes one HTML file a browser shows offline.

The batch goes through the real pipeline (real workers, simulator, moto S3); the report is
written by the CLI and opened in headless Chromium with name resolution switched off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from devkit.samples import make_scanned_pdf
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
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
