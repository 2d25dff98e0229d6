"""Students: from the manifest, the folders or a roster split; unmatched files listed, never
guessed; blank backs skipped before any call; ``enqueue --dry-run`` shows it all and sends
nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from support.students import back, page, write

from devkit.samples import pdf_from_jpegs
from pipeline.adapters.db.models import Batch
from pipeline.adapters.db.session import session_scope
from pipeline.domain.polling import unknown_first_s
from pipeline.domain.routing import Route, Routing
from pipeline.domain.students import read_students
from pipeline.operator.cli import main
from pipeline.settings import Settings, get_settings
from pipeline.stages.plan import plan_directory


def test_dry_run_lists_everything_and_records_nothing(
    env: Settings, tmp_path: Path, sim_http: httpx.Client
) -> None:
    root = tmp_path / "dry"
    write(root / "7C.pdf", pdf_from_jpegs([page(801), back(3), page(802)]))
    write(root / "3A" / "li" / "hw.jpg", page(803))
    write(root / "loose.jpg", page(804))
    write(root / "notes.txt", "not a scan")
    roster = write(tmp_path / "roster.csv", "student_id,name,class\nS1,Amy,7C\n")
    calls_before = sim_http.get("/_sim/stats").json()
    with session_scope() as session:
        batches_before = session.scalar(select(func.count()).select_from(Batch))
    result = CliRunner().invoke(
        main,
        ["enqueue", str(root), "--dry-run", "--pages-per-student", "2", "--roster", str(roster)],
    )
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output  # a rejected file needs a look
    assert "3 documents, 5 pages found; 4 pages would be sent, 1 blank pages skipped" in out
    assert "1 files rejected" in out
    plan = plan_directory(
        root,
        get_settings(),
        routes=Routing(Route("correct_edu", {})),
        students=read_students(root, roster=roster, pages_per_student=2),
    )
    [correct_edu] = plan.apis.values()
    assert (correct_edu.api, correct_edu.pages) == ("correct_edu", 4)
    assert correct_edu.calls == {"create_task": 4, "get_result": 5}  # 1.1 polls per task
    # The scarcer of the two quotas over every key, then a first poll of unknown times.
    settings = get_settings()
    keys = max(1, len(settings.api_keys()))
    create, get = (settings.qps("correct_edu", op) * keys for op in ("create_task", "get_result"))
    expected = max(4 / create, 5 / get) + unknown_first_s(settings)
    assert correct_edu.seconds == pytest.approx(expected) and plan.seconds == correct_edu.seconds
    assert "rejected notes.txt" in out and "[unsupported_type]" in out
    assert "blank 7C.pdf: page(s) 2 skipped" in out
    assert "unowned 7C.pdf: page(s) 3 are past the roster's last student" in out
    assert "unowned loose.jpg: no student" in out
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == batches_before
    assert sim_http.get("/_sim/stats").json() == calls_before
