"""``python -m bench`` (``make bench``): run the scenarios, print the ratios, write the report.

Exit codes: 0 every scenario ran to the end (whether or not it met its targets), 1 some
scenario failed or timed out, 2 usage error, 3 Postgres or Redis unreachable or the bench
extra not installed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

from bench import labels
from bench import scale as scale_study
from bench.pages import page_dir
from bench.report import (
    RunInfo,
    comparison_table,
    labels_table,
    markdown,
    results_table,
    scale_banner,
    scale_markdown,
    splice_labels,
    write_plot,
)
from bench.run import Outcome, RunContext, run_scenario
from bench.scenarios import NAMES, SCALE_SIZES, selected
from devkit.standins import start_s3
from pipeline.adapters.services import problems
from pipeline.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bench"
WORK = ROOT / "var" / "bench"
RESULTS, PLOT = "results.md", "calls_per_second.png"
SCALE_REPORT, SCALE_PLOT, SCALE_DATA = "scale.md", "scale.png", "scale.json"
EXIT_FAILED, EXIT_ENVIRONMENT = 1, 3
LABELS = "labels"
"""``--only labels``: the label search alone, which needs neither the provider nor a service."""


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--pages", default=600, show_default=True, type=click.IntRange(min=10))
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Quotas and QPS settings ×K, processing and poll times ÷K (faster, same ratios).",
)
@click.option(
    "--only",
    type=click.Choice((*NAMES, LABELS)),
    multiple=True,
    help="Run only this scenario (repeat it to run several side by side), or only time the "
    "label search (labels).",
)
@click.option(
    "--sizes",
    type=click.IntRange(min=10),
    multiple=True,
    help="The scale study's nights, in pages (repeat it; default: "
    + ", ".join(f"{n:,}" for n in SCALE_SIZES)
    + ").",
)
@click.option(
    "--keep", is_flag=True, help="Keep every scenario's logs (failed ones are always kept)."
)
def main(
    pages: int, scale: float, only: tuple[str, ...], sizes: tuple[int, ...], keep: bool
) -> None:
    """Benchmark the whole pipeline against the provider simulator, one scenario at a time.

    First, and without any service, the label search's CPU per page.
    """
    console = Console()
    logging.basicConfig(
        level=logging.WARNING, handlers=[RichHandler(console=console)], format="%(message)s"
    )
    labels_only = only == (LABELS,)
    _check_environment(console, services=not labels_only)
    console.print(Panel(scale_banner(scale), title="scangrade bench", style="bold yellow"))
    started, clock = datetime.now().astimezone(), time.monotonic()
    with console.status("timing the label search on this host (no provider, no service)…"):
        label_runs = labels.measure()
    console.print(labels_table(label_runs))
    outcomes: list[Outcome] = []
    logs = WORK / "logs" / started.strftime("%Y%m%d-%H%M%S")
    if not labels_only:
        with console.status(f"generating {pages} pages (once, kept in {WORK})…"):
            pages_dir = page_dir(WORK, pages)
        outcomes = _run_all(console, pages_dir, pages, scale, only, sizes, logs, started=started)
    info = RunInfo(pages, scale, started, os.cpu_count() or 1, time.monotonic() - clock)
    _report(console, outcomes, info, label_runs, partial=bool(only))
    if outcomes:
        _tidy_logs(console, outcomes, logs, keep)
    sys.exit(EXIT_FAILED if any(o.failed for o in outcomes) else 0)


def _check_environment(console: Console, *, services: bool) -> None:
    """Fail in the first second, not after an hour, if something the run needs is missing."""
    if importlib.util.find_spec("matplotlib") is None:
        hint = escape("pip install -e '.[bench]'")
        console.print(f"[red]matplotlib is missing: {hint} (make bench does)[/]")
        sys.exit(EXIT_ENVIRONMENT)
    if not services:
        return
    down = problems(get_settings())
    for name, error in down.items():
        console.print(f"[red]{name} is not reachable: {error}[/]")
    if down:
        sys.exit(EXIT_ENVIRONMENT)


def _run_all(
    console: Console,
    pages_dir: Path,
    pages: int,
    scale: float,
    only: tuple[str, ...],
    sizes: tuple[int, ...],
    logs: Path,
    *,
    started: datetime,
) -> list[Outcome]:
    """Every selected scenario in turn, sharing one S3 stand-in.

    The scale study's report is written again after each of its nights, so an hour-long study
    cut short still leaves the nights it ran.
    """
    settings = get_settings()
    columns = (
        TextColumn("{task.description}", table_column=Column(min_width=15, no_wrap=True)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}", table_column=Column(no_wrap=True, overflow="ellipsis")),
    )
    logs.mkdir(parents=True, exist_ok=True)
    s3 = start_s3(logs / "s3.log")
    try:
        with Progress(*columns, console=console) as progress:
            ctx = RunContext(
                pages_dir,
                pages,
                scale,
                s3.url,
                settings.database_url,
                settings.redis_url,
                logs,
                progress,
                s3_pid=s3.process.pid,
            )
            outcomes: list[Outcome] = []
            for run in (run for scenario in selected(only, sizes) for run in scenario.runs()):
                outcomes.append(run_scenario(run, ctx))
                if run.name.startswith(f"{scale_study.STUDY}-"):
                    elapsed = (datetime.now().astimezone() - started).total_seconds()
                    info = RunInfo(pages, scale, started, os.cpu_count() or 1, elapsed)
                    _write_study(console, scale_study.study_runs(outcomes), info)
            return outcomes
    finally:
        s3.stop()


def _report(
    console: Console,
    outcomes: Sequence[Outcome],
    info: RunInfo,
    label_runs: Sequence[labels.LabelRun],
    *,
    partial: bool,
) -> None:
    """Print the tables and write ``results.md`` and the plot next to this module.

    A ``partial`` run (``--only``) writes its report under ``var/bench`` instead, so the
    tracked one keeps every scenario of the last full run; the scale study's own report
    (``scale.md``) is written next to this module whenever the study ran.
    """
    if not outcomes:  # --only labels: the scenarios' results of the last full run stay
        results = HERE / RESULTS
        earlier = results.read_text(encoding="utf-8") if results.exists() else ""
        results.write_text(splice_labels(earlier, label_runs), encoding="utf-8")
        console.print(f"wrote the label search into {results}")
        return
    console.print(results_table(outcomes, info.scale))
    comparison = comparison_table(outcomes)
    if comparison is not None:
        console.print(comparison)
    for outcome in outcomes:
        if outcome.failed:
            console.print(f"[red]{outcome.scenario.name} failed:[/] {outcome.problem}")
    study = scale_study.study_runs(outcomes)
    if study:
        console.print(scale_study.console_table(study))
    where = WORK if partial else HERE
    where.mkdir(parents=True, exist_ok=True)
    plotted = write_plot(outcomes, where / PLOT, info.scale)
    results = where / RESULTS
    earlier = (HERE / RESULTS).read_text(encoding="utf-8") if (HERE / RESULTS).exists() else ""
    results.write_text(
        markdown(outcomes, info, PLOT if plotted else None, label_runs, earlier), encoding="utf-8"
    )
    console.print(Panel(scale_banner(info.scale), style="bold yellow"))
    console.print(f"wrote {results}" + (f" and {where / PLOT}" if plotted else ""))


def _write_study(console: Console, study: Sequence[Outcome], info: RunInfo) -> None:
    """``scale.md``, ``scale.png`` next to this module, the raw figures in ``var/bench``."""
    WORK.mkdir(parents=True, exist_ok=True)
    scale_study.write_json(study, WORK / SCALE_DATA)
    plotted = scale_study.write_plot(study, HERE / SCALE_PLOT)
    report = scale_markdown(study, info, SCALE_PLOT if plotted else None)
    (HERE / SCALE_REPORT).write_text(report, encoding="utf-8")
    console.print(f"wrote {HERE / SCALE_REPORT}, its plot and {WORK / SCALE_DATA}")


def _tidy_logs(console: Console, outcomes: Sequence[Outcome], logs: Path, keep: bool) -> None:
    """Remove the logs of scenarios that went well, unless asked to keep them."""
    if keep:
        console.print(f"logs kept in {logs}")
        return
    failed = [o.scenario.name for o in outcomes if o.failed]
    for outcome in outcomes:
        if not outcome.failed:
            shutil.rmtree(logs / outcome.scenario.name, ignore_errors=True)
    if failed:
        console.print(f"logs of {', '.join(failed)} kept in {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()  # pylint: disable=no-value-for-parameter
