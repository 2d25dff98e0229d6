"""Where the ceiling's CPU goes: the meter finds every process of a part, dead ones too."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest

from bench.cpu import CpuMeter, per_unit_ms
from bench.metrics import CpuUse, Observation
from bench.report import RunInfo, markdown
from bench.run import Outcome
from bench.scenarios import SCENARIOS

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {s}: pass\n"


def _burn_in_a_child(seconds: float) -> str:
    """A process that burns CPU in a child of its own, as a worker's pool child does."""
    child = BURN.format(s=seconds)
    return f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {child!r}])\n"


def _measured(argv: list[str], part: str) -> tuple[dict[str, float], dict[str, float]]:
    """The meter's totals before and after ``argv`` ran to its end, watched as ``part``."""
    meter = CpuMeter(None, interval_s=0.05)
    meter.start()
    try:
        before = meter.totals()
        parent = subprocess.Popen(argv)
        meter.watch(part, parent.pid)
        parent.wait(timeout=30)
        time.sleep(0.2)
        return before, meter.totals()
    finally:
        meter.stop()


@pytest.mark.skipif(not CpuMeter(None).available, reason="no /proc on this host")
def test_meter_counts_a_tree_of_processes_after_they_exit() -> None:
    before, after = _measured([sys.executable, "-c", _burn_in_a_child(0.5)], "ingest")
    spent = after.get("ingest", 0.0) - before.get("ingest", 0.0)
    assert 0.4 <= spent <= 2.0, spent
    assert set(after) - set(before) <= {"ingest"}


def _burn_in_a_lingering_child(seconds: float) -> str:
    """A node that leaves its finished child unreaped for a while, as a pool that replaces it."""
    child = BURN.format(s=seconds)
    return (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child!r}, '-n', 'ingest@host'])\n"
        "stat = f'/proc/{child.pid}/stat'\n"
        "while open(stat).read().rsplit(')', 1)[1].split()[0] != 'Z': time.sleep(0.02)\n"
        "time.sleep(0.5)\n"
        "child.wait()\n"
    )


@pytest.mark.skipif(not CpuMeter(None).available, reason="no /proc on this host")
def test_meter_keeps_an_exited_childs_cpu_in_its_part() -> None:
    argv = [sys.executable, "-c", _burn_in_a_lingering_child(0.5), "-n", "ingest@host"]
    before, after = _measured(argv, "workers")
    spent = after.get("ingest", 0.0) - before.get("ingest", 0.0)
    assert 0.4 <= spent <= 2.0, spent
    assert set(after) - set(before) <= {"ingest"}, after


def test_per_unit_ms_leaves_idle_parts_out() -> None:
    start = {"ingest": 1.0, "s3": 2.0}
    end = {"ingest": 3.0, "s3": 2.0, "postgres": 0.5}
    assert per_unit_ms(start, end, 100) == {"ingest": 20.0, "postgres": 5.0}
    assert per_unit_ms(start, end, 0) == {}


def test_report_splits_the_pipelines_own_cpu_from_the_stand_ins() -> None:
    ceiling = next(s for s in SCENARIOS if s.noop_chains)
    cpu = CpuUse({"ingest": 30.0, "simulator": 100.0, "s3": 40.0}, 1.9, {"ingest": 4.0}, 1.8)
    observation = Observation(0.0, [], [], [], [], None, cpu=cpu)
    outcome = Outcome(ceiling, observation, None, None, 1.0)
    text = markdown([outcome], RunInfo(10, 2.0, datetime.now(), 2, 1.0), None)
    assert f"## Where the CPU goes ({ceiling.name})" in text
    assert "| ingest | 30.0 | 4.0 |" in text
    assert "| simulator | 100.0 | 0.0 |" in text
    assert "| **pipeline's own** (all but stand-ins) | 30.0 | 4.0 |" in text
    assert "| **stand-ins** (simulator, S3) | 140.0 | 0.0 |" in text
    assert "| **all** | 170.0 | 4.0 |" in text
    assert "| cores kept busy on average | 1.90 | 1.80 |" in text
    # Were the simulator and S3 elsewhere, CPU would allow at most 4 ms ÷ 30 ms of the chains.
    bound = "ceiling ratio if the stand-ins cost this host nothing (chain ÷ page, own CPU)"
    assert f"| {bound} | 0.133 |  |" in text
    # The stand-ins share this host: even a pipeline costing nothing gets 4 ms ÷ 140 ms of them.
    free = (
        "ceiling ratio if the pipeline's own code cost nothing (chain ÷ page, the stand-ins' CPU)"
    )
    assert f"| {free} | 0.029 |  |" in text


def test_report_sets_the_cpu_per_page_beside_the_run_it_replaces() -> None:
    ceiling = next(s for s in SCENARIOS if s.noop_chains)

    def report(per_page: dict[str, float], earlier: str = "") -> str:
        cpu = CpuUse(per_page, 1.9, {"ingest": 4.0}, 1.8)
        outcome = Outcome(ceiling, Observation(0.0, [], [], [], [], None, cpu=cpu), None, None, 1.0)
        started = datetime(2026, 12, 1, 9, 30)
        return markdown([outcome], RunInfo(10, 1.0, started, 2, 1.0), None, earlier=earlier)

    before = report({"ingest": 30.0, "persist": 20.0, "simulator": 100.0})
    assert "Against the run before" not in before
    after = report({"ingest": 12.5, "poll": 3.0, "simulator": 90.0}, earlier=before)
    assert "### Against the run before (2026-12-01T09:30:00)" in after
    assert "| ingest | 30.0 | 12.5 | -17.5 |" in after
    assert "| poll | 0.0 | 3.0 | +3.0 |" in after
    assert "| **pipeline's own** (all but stand-ins) | 50.0 | 15.5 | -34.5 |" in after
    assert "| **all** | 150.0 | 105.5 | -44.5 |" in after
