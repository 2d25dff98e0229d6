"""The scale study: one night of each size in turn, and what grows with the night.

A night of 20,000 pages should cost per page what one of 600 costs: the same CPU in the
pipeline's own processes, the same Postgres time, the same time per tick in the dispatcher and
per pass in the reconciler (whose queries see every row of the night's tables), and processes
that do not grow. Each measure is shown for every size and as the largest night's value over
the smallest's (``growth``); flat means within :data:`FLAT`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from bench.cpu import STAND_INS
from bench.metrics import Observation
from bench.run import Outcome

FLAT = 1.2
"""The largest night's cost per page, per tick and per process over the smallest's, at most."""
STUDY = "scale"
_NOT_CODE = STAND_INS | {"postgres"}


@dataclass(frozen=True)
class StudyMeasure:
    """One row of the study: a name, its unit, and how to read it from one run."""

    label: str
    read: Callable[[Observation], float | None]
    targeted: bool = True


def _cpu(observation: Observation, parts: Callable[[str], bool]) -> float | None:
    cpu = observation.cpu
    if cpu is None or not cpu.per_page_ms:
        return None
    return sum(ms for part, ms in cpu.per_page_ms.items() if parts(part))


def _periodic(task: str, query: bool) -> Callable[[Observation], float | None]:
    def read(observation: Observation) -> float | None:
        totals = (observation.periodic or {}).get(task)
        if totals is None:
            return None
        return totals.mean_query_ms if query else totals.mean_ms

    return read


def _largest(observation: Observation) -> float | None:
    sizes = {p: mb for p, mb in (observation.largest_mb or {}).items() if p not in _NOT_CODE}
    return max(sizes.values(), default=None)


def _is_code(part: str) -> bool:
    return part not in _NOT_CODE


MEASURES = (
    StudyMeasure("pipeline CPU ms per page (its own processes)", lambda o: _cpu(o, _is_code)),
    StudyMeasure("Postgres CPU ms per page", lambda o: _cpu(o, lambda p: p == "postgres")),
    StudyMeasure("dispatcher: SQL ms per tick", _periodic("dispatch_polls", query=True)),
    StudyMeasure("dispatcher: ms per tick in all", _periodic("dispatch_polls", query=False)),
    StudyMeasure("reconciler: SQL ms per pass", _periodic("reconcile", query=True)),
    StudyMeasure("reconciler: ms per pass in all", _periodic("reconcile", query=False)),
    StudyMeasure("largest pipeline process, MB resident", _largest),
    StudyMeasure(
        "stand-ins' CPU ms per page (simulator, S3: not the pipeline's)",
        lambda o: _cpu(o, lambda p: p in STAND_INS),
        targeted=False,
    ),
)


def study_runs(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The study's runs, smallest night first (none if the study did not run)."""
    runs = [o for o in outcomes if o.scenario.name.startswith(f"{STUDY}-")]
    return sorted(runs, key=lambda o: o.scenario.pages or 0)


def growth(values: Sequence[float | None]) -> float | None:
    """The largest of the later nights' values over the smallest night's; None if unknown."""
    if len(values) < 2 or values[0] is None or not values[0]:
        return None
    later = [v for v in values[1:] if v is not None]
    return max(later) / values[0] if later else None


def rows(runs: Sequence[Outcome]) -> list[tuple[str, ...]]:
    """One row per measure: its value at each size, its growth, the target and the verdict."""
    observations = [o.observation for o in runs]
    table = [
        (
            "pages per second",
            *(_fmt(o.measurements.pages_per_s if o.measurements else None) for o in runs),
            "",
            "",
            "",
        )
    ]
    for measure in MEASURES:
        values = [measure.read(o) if o is not None else None for o in observations]
        grown = growth(values)
        verdict = "" if grown is None or not measure.targeted else _yes(grown <= FLAT)
        target = f"<= {FLAT:g}" if measure.targeted else ""
        shown = "n/a" if grown is None else f"{grown:.2f}"
        table.append((measure.label, *(_fmt(v) for v in values), shown, target, verdict))
    for part in _parts(observations):
        sizes = [(o.largest_mb or {}).get(part) if o is not None else None for o in observations]
        grown = growth(sizes)
        shown = "n/a" if grown is None else f"{grown:.2f}"
        table.append((f"largest {part} process, MB", *(_fmt(v) for v in sizes), shown, "", ""))
    return table


def header(runs: Sequence[Outcome]) -> tuple[str, ...]:
    """The columns: the measure, each night's size, the growth, the target, met."""
    nights = (f"{o.scenario.pages:,} pages" for o in runs)
    return ("measure", *nights, "largest ÷ smallest", "target", "met")


def console_table(runs: Sequence[Outcome]) -> Table:
    """The study as a rich table."""
    table = Table(title="scale: what a page costs as the night grows", title_style="bold")
    for index, column in enumerate(header(runs)):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows(runs):
        verdict = {"yes": "[green]yes[/]", "NO": "[red]NO[/]"}.get(row[-1], row[-1])
        table.add_row(*row[:-1], verdict)
    return table


def write_json(runs: Sequence[Outcome], path: Path) -> None:
    """Every run's raw figures, to redraw the table or the plot without running again."""
    data = [
        {
            "pages": o.scenario.pages,
            "pages_per_s": o.measurements.pages_per_s if o.measurements else None,
            "problem": o.problem,
            "cpu_ms_per_page": dict(o.observation.cpu.per_page_ms)
            if o.observation and o.observation.cpu
            else None,
            "periodic": {
                task: vars(totals) for task, totals in (o.observation.periodic or {}).items()
            }
            if o.observation
            else None,
            "largest_mb": dict(o.observation.largest_mb or {}) if o.observation else None,
        }
        for o in runs
    ]
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_plot(runs: Sequence[Outcome], path: Path) -> bool:
    """Each targeted measure relative to the smallest night, against pages; False if none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    observations = [o.observation for o in runs]
    pages = [o.scenario.pages or 0 for o in runs]
    if len(runs) < 2 or observations[0] is None:
        return False
    figure = Figure(figsize=(9, 5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for measure in MEASURES:
        if not measure.targeted:
            continue
        values = [measure.read(o) if o is not None else None for o in observations]
        if values[0] is None or not values[0]:
            continue
        first = values[0]
        points = [(n, v / first) for n, v in zip(pages, values, strict=True) if v is not None]
        ax.plot(*zip(*points, strict=True), marker="o", label=measure.label)
    ax.axhspan(0, FLAT, color="tab:green", alpha=0.08)
    ax.axhline(FLAT, color="tab:green", linestyle="--", label=f"target: at most ×{FLAT:g}")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(pages, [f"{n:,}" for n in pages])
    ax.set_xlabel("pages in the night")
    ax.set_ylabel(f"÷ the {pages[0]:,}-page night")
    ax.set_ylim(0, max(2.0, ax.get_ylim()[1]))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    figure.suptitle("What a page, a tick and a process cost as the night grows", fontweight="bold")
    figure.savefig(path, dpi=100)
    return True


def _parts(observations: Sequence[Observation | None]) -> list[str]:
    seen: set[str] = set()
    for o in observations:
        if o is not None:
            seen |= {p for p in (o.largest_mb or {}) if p not in STAND_INS}
    return sorted(seen)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _yes(met: bool) -> str:
    return "yes" if met else "NO"
