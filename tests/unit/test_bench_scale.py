"""The scale study: its runs, the figures it reads, and the verdict of its table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from bench import scale
from bench.cpu import CpuMeter
from bench.metrics import CpuUse, Measurements, Observation, PeriodicTotals
from bench.observe import periodic_totals
from bench.report import RunInfo, markdown, scale_markdown
from bench.run import Outcome
from bench.scenarios import LEAN_RETENTION_S, SCALE_SIZES, SCENARIOS, selected, simulator_args

STUDY = next(s for s in SCENARIOS if s.sizes)


def test_the_study_runs_one_night_per_size_with_the_same_settings() -> None:
    runs = STUDY.runs()
    assert [r.pages for r in runs] == list(SCALE_SIZES) == [600, 5_000, 20_000]
    assert [r.name for r in runs] == ["scale-600", "scale-5000", "scale-20000"]
    assert all(r.keys == STUDY.keys > 1 and r.measures_cpu and not r.sizes for r in runs)
    assert {(r.create_qps, r.get_qps, r.poll_policy) for r in runs} == {
        (STUDY.create_qps, STUDY.get_qps, STUDY.poll_policy)
    }
    assert [r.pages for r in selected(("scale",), (50, 200))[0].runs()] == [50, 200]
    assert all(s.runs() == (s,) for s in selected() if not s.sizes)
    # A night of 20,000 pages must fit the stand-ins' memory: they forget what is done with.
    args = simulator_args(runs[-1], 2.0)
    assert args[args.index("--task-retention-s") + 1] == f"{LEAN_RETENTION_S / 2:g}"
    assert all("--task-retention-s" not in simulator_args(s, 1.0) for s in selected() if not s.lean)


def test_periodic_totals_read_every_process_histograms(tmp_path: Path) -> None:
    """Two processes time runs into multiprocess files; the bench adds them up per task."""
    script = (
        "import sys\n"
        "from pipeline.telemetry import metrics\n"
        "metrics.periodic_timing('dispatch_polls', 0.030, 0.010)\n"
        "metrics.periodic_timing('dispatch_polls', 0.050, 0.020)\n"
        "metrics.periodic_timing('reconcile', float(sys.argv[1]), 0.100)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for seconds in ("0.2", "0.4"):
        subprocess.run([sys.executable, "-c", script, seconds], env=env, check=True)
    totals = periodic_totals(tmp_path)
    assert totals["dispatch_polls"].runs == 4
    assert totals["dispatch_polls"].mean_ms == pytest.approx(40.0)
    assert totals["dispatch_polls"].mean_query_ms == pytest.approx(15.0)
    assert totals["reconcile"].runs == 2
    assert totals["reconcile"].mean_ms == pytest.approx(300.0)
    window = totals["reconcile"].since(PeriodicTotals(1, 0.2, 0.1))
    assert (window.runs, window.mean_ms, window.mean_query_ms) == (1, pytest.approx(400.0), 100.0)
    assert PeriodicTotals(0, 0.0, 0.0).mean_ms is None


_GROW = "import time\nblock = bytearray({mb} * 2**20)\ntime.sleep(0.6)\n"


@pytest.mark.skipif(not CpuMeter(None).available, reason="no /proc on this host")
def test_meter_keeps_each_parts_largest_process() -> None:
    meter = CpuMeter(None, interval_s=0.05)
    meter.start()
    try:
        small = subprocess.Popen([sys.executable, "-c", _GROW.format(mb=20)])
        big = subprocess.Popen([sys.executable, "-c", _GROW.format(mb=200)])
        meter.watch("ingest", small.pid)
        meter.watch("persist", big.pid)
        small.wait(timeout=30)
        big.wait(timeout=30)
        time.sleep(0.1)
    finally:
        meter.stop()
    largest = meter.largest_mb()
    assert 20 <= largest["ingest"] < 120, largest
    assert 200 <= largest["persist"] < 320, largest


def _night(pages: int, *, reconcile_query_ms: float, persist_mb: float) -> Outcome:
    """One night of the study as its observation would say, the reconciler's SQL given."""
    cpu = CpuUse({"ingest": 30.0, "persist": 60.0, "postgres": 10.0, "s3": 40.0}, 1.5)
    passes = 100
    periodic = {
        "dispatch_polls": PeriodicTotals(1000, 1000 * 0.004, 1000 * 0.002),
        "reconcile": PeriodicTotals(passes, passes * 0.05, passes * reconcile_query_ms / 1000),
    }
    observation = Observation(
        t0=0.0,
        calls=[],
        sim_tasks=[],
        seen=[],
        pages=[],
        limiter_round_trips=None,
        cpu=cpu,
        periodic=periodic,
        largest_mb={"persist": persist_mb, "ingest": 150.0, "s3": 50.0 * pages},
    )
    measurements = Measurements(
        pages, 0, None, 0, None, None, None, None, None, None, 5.0, None, None
    )
    scenario = replace(STUDY, name=f"scale-{pages}", pages=pages, sizes=())
    return Outcome(scenario, observation, measurements, None, 60.0)


def _row(rows: list[tuple[str, ...]], label: str) -> tuple[str, ...]:
    return next(row for row in rows if row[0].startswith(label))


def test_a_reconciler_query_that_grows_with_the_night_is_not_flat() -> None:
    nights = [
        _night(600, reconcile_query_ms=10.0, persist_mb=300.0),
        _night(20_000, reconcile_query_ms=40.0, persist_mb=330.0),
        _night(5_000, reconcile_query_ms=12.0, persist_mb=310.0),
    ]
    runs = scale.study_runs(nights)
    assert [r.scenario.pages for r in runs] == [600, 5_000, 20_000]
    rows = scale.rows(runs)
    assert scale.header(runs)[1:4] == ("600 pages", "5,000 pages", "20,000 pages")
    assert _row(rows, "reconciler: SQL ms")[1:] == ("10.0", "12.0", "40.0", "4.00", "<= 1.2", "NO")
    assert _row(rows, "pipeline CPU ms")[1:] == ("90.0", "90.0", "90.0", "1.00", "<= 1.2", "yes")
    assert _row(rows, "Postgres CPU ms")[-1] == "yes"
    assert _row(rows, "dispatcher: SQL ms")[-1] == "yes"
    # The stand-ins' memory (moto keeps every object) is theirs, not the pipeline's.
    assert _row(rows, "largest pipeline process")[1:] == (
        "300.0",
        "310.0",
        "330.0",
        "1.10",
        "<= 1.2",
        "yes",
    )
    assert _row(rows, "stand-ins' CPU")[-2:] == ("", "")


def test_the_study_is_in_results_md_and_its_own_report(tmp_path: Path) -> None:
    runs = [
        _night(600, reconcile_query_ms=10.0, persist_mb=300.0),
        _night(5_000, reconcile_query_ms=10.5, persist_mb=300.0),
    ]
    info = RunInfo(600, 1.0, datetime(2026, 12, 7).astimezone(), 2, 600.0)
    assert "## Scale: what a page costs as the night grows" in markdown(runs, info, None)
    assert scale.write_plot(runs, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:4] == b"\x89PNG"
    report = scale_markdown(runs, info, "scale.png")
    assert "| reconciler: SQL ms per pass | 10.0 | 10.5 | 1.05 | <= 1.2 | yes |" in report
    assert "![the scale study](scale.png)" in report
    scale.write_json(runs, tmp_path / "scale.json")
    assert '"pages": 5000' in (tmp_path / "scale.json").read_text()
