"""Missing work is listed: a student's folder holding no scans (empty, or only a note) gets a
row with its reason, shown by enqueue, its dry run, ``status``, ``v_failures`` and the report,
and loses it once the scans arrive.

Real workers, Postgres, Redis, S3 and the simulator over HTTP.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select, text
from support.batches import wait_until_done

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service
from pipeline.adapters.db.models import Batch, Document
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.operator.cli import main
from pipeline.operator.report.render import write_report
from pipeline.settings import Settings


def _lines(output: str) -> list[str]:
    return [" ".join(line.replace("│", " ").split()) for line in output.splitlines()]


def _batch_id(name: str) -> int:
    with session_scope() as session:
        found = session.scalar(select(Batch.id).where(Batch.name == name))
        assert found is not None
        return found


def _failures(batch_id: int) -> list[tuple[str, str, str | None, str | None, str]]:
    with session_scope() as session:
        rows = session.execute(
            text(
                "SELECT rel_path, document_kind, class_name, student, error_code FROM v_failures"
                " WHERE batch_id = :b ORDER BY rel_path"
            ),
            {"b": batch_id},
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _check_status_and_report(runner: CliRunner, batch_id: int, out: Path) -> None:
    """`scangrade status` and the teachers' report both list the missing work."""
    status = runner.invoke(main, ["status", "missing-night"])
    assert status.exit_code == 0, status.output
    lines = _lines(status.output)
    assert "folders with no scans (missing work) 2" in lines
    assert any(line.startswith("missing 7A/zhang: folder is empty") for line in lines), lines
    write_report(batch_id, out, get_store())
    html = out.read_text()
    assert '<h2 id="missing">Missing work</h2>' in html
    assert "<td>7A</td><td>zhang</td>\n<td>7A/zhang</td><td>folder is empty" in html


def _kinds(batch_id: int) -> dict[str, str]:
    with session_scope() as session:
        return dict(
            session.execute(
                select(Document.rel_path, Document.kind).where(Document.batch_id == batch_id)
            ).all()
        )


def test_folders_with_no_scans_are_missing_work_everywhere(
    env: Settings, workers: Service, tmp_path: Path
) -> None:
    root = tmp_path / "missing-night"
    for student in ("li", "zhang", "wang"):
        (root / "7A" / student).mkdir(parents=True)
    (root / "7A" / "li" / "homework.jpg").write_bytes(jpeg_bytes(make_page_image(7301, 640, 905)))
    (root / "7A" / "wang" / "notes.txt").write_bytes(b"handed in on paper")
    runner = CliRunner()

    dry = runner.invoke(main, ["enqueue", str(root), "--dry-run"])
    result = runner.invoke(main, ["enqueue", str(root), "--wait"])

    assert "2 folders with no scans" in dry.output, dry.output
    assert "missing 7A/zhang: folder is empty: a missing submission?" in " ".join(
        _lines(dry.output)
    )
    assert result.exit_code == 1, result.output  # missing work is a failure the operator sees
    assert "  missing  7A/zhang: folder is empty: a missing submission? Put its scans" in (
        result.output
    )
    assert "  missing  7A/wang: folder holds no scans, only 1 other file(s) (notes.txt)" in (
        result.output
    )
    batch_id = _batch_id("missing-night")
    assert _failures(batch_id) == [
        ("7A/wang", "missing", "7A", "wang", "empty_folder"),
        ("7A/wang/notes.txt", "rejected", None, None, "unsupported_type"),
        ("7A/zhang", "missing", "7A", "zhang", "empty_folder"),
    ]
    _check_status_and_report(runner, batch_id, tmp_path / "report.html")

    # zhang's scan arrives: that folder is no longer missing, wang's still is.
    (root / "7A" / "zhang" / "homework.jpg").write_bytes(
        jpeg_bytes(make_page_image(7302, 640, 905))
    )
    again = runner.invoke(main, ["enqueue", str(root), "--wait"])

    assert "1 documents queued" in again.output, again.output
    wait_until_done(batch_id)
    assert [row[0] for row in _failures(batch_id)] == ["7A/wang", "7A/wang/notes.txt"]
    kinds = _kinds(batch_id)
    assert kinds == {  # a folder holding only images is one document: an image set
        "7A/li": "image_set",
        "7A/zhang": "image_set",
        "7A/wang": "missing",
        "7A/wang/notes.txt": "rejected",
    }
