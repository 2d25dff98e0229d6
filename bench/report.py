"""The benchmark's output: console tables, ``results.md`` and ``calls_per_second.png``.

The same lines feed the console and the Markdown file, so the two never disagree. The run's
scale heads both: at any scale but 1 only the ratios describe the real provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from bench import labels, scale
from bench.cpu import PARTS, STAND_INS
from bench.metrics import Observation, calls_per_second
from bench.run import Outcome
from bench.scenarios import CONCURRENCY, MEMORY, Check, simulator_args

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COMPARED = ("adaptive-2get", "naive-2get")
"""The two poll policies, shown side by side when both ran."""
BIN_DOCUMENTED_S = 5.0
"""Plot bins of five seconds at scale 1 (shorter at higher scales): at 2 calls/s, one second
holds too few calls to show a rate."""
MIN_BINS = 30
"""A short run (the ceiling is not slowed by any quota) gets narrower bins, to show a shape."""
_OPERATION_COLORS = {"create_task": "tab:blue", "get_result": "tab:orange"}
_OUTCOME_STYLES = {"ok": "-", "refused": ":", "error": "--"}


@dataclass(frozen=True)
class RunInfo:
    """The run's parameters, stated next to its results."""

    pages: int
    scale: float
    started: datetime
    cores: int
    elapsed_s: float


@dataclass(frozen=True)
class Line:
    """One measurement of one scenario, formatted."""

    scenario: str
    label: str
    value: str
    target: str
    verdict: str


def scale_banner(scale: float) -> str:
    """What the scale means for the numbers; said first, so no one misreads them."""
    if scale == 1:
        return "Scale ×1: the provider's documented quotas and processing times."
    return (
        f"Scale ×{scale:g}: simulator quotas and pipeline QPS settings ×{scale:g}, processing "
        f"and poll times ÷{scale:g}. Ratios carry over to the real provider; absolute rates, "
        f"delays and durations do not."
    )


def lines(outcome: Outcome) -> list[Line]:
    """The scenario's pages, then each of its checks; ``n/a`` where nothing was measured."""
    name = outcome.scenario.name
    m = outcome.measurements
    pages = f"{m.pages_done} / {m.pages_failed}" if m else "n/a"
    result = [Line(name, "pages done / failed", pages, "", "")]
    for check in (*outcome.scenario.checks, *MEMORY):
        value = getattr(m, check.measure.value) if m else None
        result.append(
            Line(name, check.label, _fmt(value), str(check.target or ""), _verdict(check, value))
        )
    return result


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _verdict(check: Check, value: float | None) -> str:
    if check.target is None or value is None:
        return ""
    return "yes" if check.target.met(value) else "NO"


def results_table(outcomes: Sequence[Outcome], scale: float) -> Table:
    """Every scenario's lines, failed scenarios marked."""
    table = Table(title=f"scangrade bench, scale ×{scale:g}", title_style="bold")
    for column in ("scenario", "measure", "value", "target", "met"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for outcome in outcomes:
        title = (
            f"{outcome.scenario.name}\n[red]FAILED[/]" if outcome.failed else outcome.scenario.name
        )
        for index, line in enumerate(lines(outcome)):
            met = {"yes": "[green]yes[/]", "NO": "[red]NO[/]"}.get(line.verdict, "")
            table.add_row(title if index == 0 else "", line.label, line.value, line.target, met)
        table.add_section()
    return table


def comparison_table(outcomes: Sequence[Outcome]) -> Table | None:
    """Adaptive and fixed polling side by side, if both ran."""
    rows = _comparison_rows(outcomes)
    if rows is None:
        return None
    table = Table(title="poll policy: adaptive vs fixed", title_style="bold")
    for column in ("measure", "target", *COMPARED):
        table.add_column(column, justify="right" if column in COMPARED else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _comparison_rows(outcomes: Sequence[Outcome]) -> list[tuple[str, ...]] | None:
    by_name = {o.scenario.name: o for o in outcomes}
    if not all(name in by_name for name in COMPARED):
        return None
    columns = [lines(by_name[name]) for name in COMPARED]
    return [
        (first.label, first.target, *(column[i].value for column in columns))
        for i, first in enumerate(columns[0])
    ]


def labels_table(runs: Sequence[labels.LabelRun]) -> Table:
    """The label search at each resolution, side by side."""
    table = Table(title="label search (this host alone: no provider)", title_style="bold")
    for index, column in enumerate(labels.header(runs)):
        table.add_column(column, justify="right" if index else "left")
    for row in labels.rows(runs):
        table.add_row(*row)
    return table


def markdown(
    outcomes: Sequence[Outcome],
    info: RunInfo,
    plot: str | None,
    label_runs: Sequence[labels.LabelRun] = (),
    earlier: str = "",
) -> str:
    """``results.md``: the scale, the run's parameters, the tables, failures and the plot.

    ``earlier`` is the ``results.md`` this one replaces: the CPU per page of each scenario
    it also measured is shown beside this run's.
    """
    parts = [
        "# scangrade benchmark",
        f"> **{scale_banner(info.scale)}**",
        _parameters(info),
    ]
    if label_runs:
        parts += [LABELS_HEADING, labels_section(label_runs)]
    parts += [
        "## Results",
        _md_table(
            ("scenario", "measure", "value", "target", "met"),
            [
                (ln.scenario, ln.label, ln.value, ln.target, ln.verdict)
                for o in outcomes
                for ln in lines(o)
            ],
        ),
    ]
    rows = _comparison_rows(outcomes)
    if rows is not None:
        parts += [
            "## Poll policy: adaptive vs fixed",
            _md_table(("measure", "target", *COMPARED), rows),
        ]
    for outcome in outcomes:
        parts += _cpu_sections(outcome, earlier)
    study = scale.study_runs(outcomes)
    if study:
        parts += [SCALE_HEADING, scale_section(study)]
    failures = [f"- **{o.scenario.name}**: {o.problem}" for o in outcomes if o.failed]
    if failures:
        parts += ["## Failed scenarios", "\n".join(failures)]
    parts += ["## Scenarios", _scenarios(outcomes, info.scale)]
    if plot:
        parts += ["## Provider calls per second", f"![provider calls per second]({plot})"]
    return "\n\n".join(parts) + "\n"


LABELS_HEADING = "## Label search (no provider)"
SCALE_HEADING = "## Scale: what a page costs as the night grows"


def scale_section(runs: Sequence[Outcome], plot: str | None = None) -> str:
    """The scale study's table (and plot), under SCALE_HEADING."""
    section = _SCALE_NOTE + "\n\n" + _md_table(scale.header(runs), scale.rows(runs))
    return section + (f"\n\n![the scale study]({plot})" if plot else "")


def scale_markdown(runs: Sequence[Outcome], info: RunInfo, plot: str | None) -> str:
    """``scale.md``: the study alone, with the run's parameters and its nights' settings."""
    parts = [
        "# scangrade benchmark: scale",
        f"> **{scale_banner(info.scale)}**",
        _parameters(info, "each night's size, in single-page correct_edu JPEGs"),
        SCALE_HEADING,
        scale_section(runs, plot),
        "## Runs",
        _scenarios(runs, info.scale),
    ]
    return "\n\n".join(parts) + "\n"


_SCALE_NOTE = (
    "The same pipeline and the same settings on nights of growing size, one after the other. "
    "CPU and resident memory are read from /proc for every process of the scenario, Postgres "
    "as the CPU of the backends of the scenario's database; the dispatcher's and the "
    "reconciler's times are the workers' own histograms (`scangrade_periodic_seconds`, "
    "`scangrade_periodic_query_seconds`) over the batch. *largest ÷ smallest* is the highest "
    "value of the larger nights over the smallest night's: flat is at most "
    f"{scale.FLAT:g}."
)


def labels_section(runs: Sequence[labels.LabelRun]) -> str:
    """The label search's section of ``results.md``, under LABELS_HEADING."""
    return _LABELS_NOTE + "\n\n" + _md_table(labels.header(runs), labels.rows(runs))


def splice_labels(results: str, runs: Sequence[labels.LabelRun]) -> str:
    """``results.md`` with its label section replaced (or added after the parameters).

    ``--only labels`` keeps the scenarios' results of the last full run.
    """
    section = f"{LABELS_HEADING}\n\n{labels_section(runs)}\n\n"
    start = results.find(LABELS_HEADING)
    if start >= 0:
        end = results.find("\n## ", start + len(LABELS_HEADING))
        return results[:start] + section + (results[end + 1 :] if end >= 0 else "")
    first = results.find("\n## ")
    if first < 0:
        return (results.rstrip("\n") + "\n\n" if results.strip() else "") + section
    return results[: first + 1] + section + results[first + 1 :]


_LABELS_NOTE = (
    "CPU time (this process's clock) of looking for a label's QR code on a page, on the "
    "corpus of the label tests: labels printed by `scangrade labels`, pasted at the scan's "
    "resolution (12 mm codes), turned 0/90/180/270° plus 1–3° of skew, salt-and-pepper "
    "noise, JPEG quality 40. A page without a label runs the whole search before it gives up "
    "(`SCANGRADE_READ_LABELS=false` saves it when no labels are used)."
)

_CPU_NOTE = (
    "CPU time (user + system) of each part's processes while the batch ran, per page, and "
    "while the no-op chains ran, per chain (from /proc). Both runs keep the host's cores busy, "
    "so pages/s ÷ chains/s is about the inverse ratio of these totals. The simulator and the "
    "S3 server (moto) stand in for the provider and the object store: they share this host "
    "with the pipeline here, not in production. Not counted: Redis (shared by the host) and "
    "the bench process, which sends the chains."
)


def _cpu_sections(outcome: Outcome, earlier: str) -> list[str]:
    """Where the scenario's CPU went, and beside the earlier run's when it has one."""
    cpu = _cpu_rows(outcome)
    if cpu is None:
        return []
    name = outcome.scenario.name
    sections = [
        f"{CPU_HEADING} ({name})",
        _CPU_NOTE,
        _md_table(("part", "ms CPU per page", "ms CPU per no-op chain"), cpu),
    ]
    before = earlier_cpu(earlier, name)
    if not before:
        return sections
    rows = []
    for part, now, _ in cpu[: next(i for i, row in enumerate(cpu) if row[0] == "**all**") + 1]:
        was = before.get(part, "0.0")
        rows.append((part, was, now, f"{float(now) - float(was):+.1f}"))
    when = re.search(r"^\| date \| (.+?) \|$", earlier, re.MULTILINE)
    return [
        *sections,
        f"### Against the run before ({when.group(1) if when else 'undated'})",
        "The same table in the `results.md` this run replaced: two runs of the same scenario "
        "on this host, before and after whatever changed between them.",
        _md_table(("part", "ms CPU per page, before", "now", "change"), rows),
    ]


CPU_HEADING = "## Where the CPU goes"


def earlier_cpu(results: str, scenario: str) -> dict[str, str]:
    """Each part's ms CPU per page for ``scenario`` in an earlier ``results.md`` (or none)."""
    heading = f"{CPU_HEADING} ({scenario})\n"
    start = results.find(heading)
    if start < 0:
        return {}
    end = results.find("\n#", start + len(heading))
    found = {}
    for line in results[start : end if end >= 0 else None].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"\d+(\.\d+)?", cells[1]):
            found[cells[0]] = cells[1]
    return found


def _cpu_rows(outcome: Outcome) -> list[tuple[str, str, str]] | None:
    """Per part, CPU ms per page and per chain; then the pipeline's own, stand-ins, all."""
    cpu = outcome.observation.cpu if outcome.observation else None
    if cpu is None or not cpu.per_page_ms:
        return None
    chain = cpu.per_chain_ms or {}
    seen = {p for p, v in [*cpu.per_page_ms.items(), *chain.items()] if v >= 0.05}
    names = [p for p in PARTS if p in seen] + sorted(seen - set(PARTS))

    def total(values: Mapping[str, float], parts: Iterable[str]) -> float:
        return sum(values.get(p, 0.0) for p in parts)

    def ms(values: Mapping[str, float], parts: Iterable[str]) -> str:
        return f"{total(values, parts):.1f}" if values else "n/a"

    own = [p for p in names if p not in STAND_INS]
    rows = [(name, ms(cpu.per_page_ms, [name]), ms(chain, [name])) for name in names]
    rows += [
        ("**pipeline's own** (all but stand-ins)", ms(cpu.per_page_ms, own), ms(chain, own)),
        ("**stand-ins** (simulator, S3)", ms(cpu.per_page_ms, STAND_INS), ms(chain, STAND_INS)),
        ("**all**", ms(cpu.per_page_ms, names), ms(chain, names)),
        (
            "cores kept busy on average",
            f"{cpu.page_cores:.2f}",
            f"{cpu.chain_cores:.2f}" if cpu.chain_cores is not None else "n/a",
        ),
    ]
    # What one side alone would allow: the stand-ins elsewhere (the pipeline's own CPU against
    # the chain's), or the pipeline free (the stand-ins, which must share this host, against
    # the whole chain).
    bounds = ((_BOUND_LABEL, own, own), (_FREE_PIPELINE_LABEL, names, STAND_INS))
    for label, chain_parts, page_parts in bounds:
        page_ms = total(cpu.per_page_ms, page_parts)
        if chain and page_ms > 0:
            rows.append((label, f"{total(chain, chain_parts) / page_ms:.3f}", ""))
    return rows


_BOUND_LABEL = "ceiling ratio if the stand-ins cost this host nothing (chain ÷ page, own CPU)"
_FREE_PIPELINE_LABEL = (
    "ceiling ratio if the pipeline's own code cost nothing (chain ÷ page, the stand-ins' CPU)"
)


def _parameters(info: RunInfo, pages: str | None = None) -> str:
    per_scenario = f"{info.pages} single-page correct_edu JPEGs per scenario, unless its line says"
    rows = [
        ("date", info.started.isoformat(timespec="seconds")),
        ("machine", f"{info.cores} CPU cores"),
        ("pages", pages or per_scenario),
        ("workers", ", ".join(f"{name}={value}" for name, value in CONCURRENCY.items())),
        ("scale", f"×{info.scale:g}"),
        ("run time", f"{info.elapsed_s / 60:.1f} min"),
    ]
    return _md_table(("parameter", "value"), rows)


def _scenarios(outcomes: Sequence[Outcome], scale: float) -> str:
    entries = []
    for outcome in outcomes:
        scenario = outcome.scenario
        flags = " ".join(simulator_args(scenario, scale))
        entries.append(
            f"- **{scenario.name}** ({outcome.elapsed_s:.0f} s): {scenario.purpose}\n"
            f"  - {scenario.describe(scale)}\n  - simulator flags: `{flags}`"
        )
    return "\n".join(entries)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([row(header), row(["---"] * len(header)), *(row(r) for r in rows)])


def write_plot(outcomes: Sequence[Outcome], path: Path, scale: float) -> bool:
    """One panel per scenario: API calls per second by operation, ok vs refused; False if none."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = [o for o in outcomes if o.observation is not None]
    if not shown:
        return False
    figure = Figure(figsize=(11, 3.2 * len(shown)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(shown), 1, squeeze=False)[:, 0]
    for ax, outcome in zip(axes, shown, strict=True):
        _panel(ax, outcome, scale)
    figure.suptitle(f"Provider API calls per second (scale ×{scale:g})", fontweight="bold")
    figure.savefig(path, dpi=100)
    return True


def _panel(ax: Axes, outcome: Outcome, scale: float) -> None:
    observation = outcome.observation
    assert observation is not None
    bin_s = _bin_width(observation, scale)
    series = calls_per_second(observation.calls, observation.t0, bin_s)
    for (operation, kind), rates in sorted(series.items()):
        op = operation.rpartition(".")[2]
        ax.step(  # the last value repeated, so the last bin is drawn as wide as the others
            [index * bin_s for index in range(len(rates) + 1)],
            [*rates, rates[-1]],
            where="post",
            color=_OPERATION_COLORS.get(op, "tab:gray"),
            linestyle=_OUTCOME_STYLES[kind],
            label=f"{op} {kind}",
        )
    scenario = outcome.scenario
    for op, qps in (("create_task", scenario.create_qps), ("get_result", scenario.get_qps)):
        if qps:
            quota = qps * scenario.keys * scale
            ax.axhline(quota, color=_OPERATION_COLORS[op], alpha=0.35, linewidth=3)
    failed = " [FAILED]" if outcome.failed else ""
    ax.set_title(f"{scenario.name}{failed}: {scenario.purpose}", loc="left", fontsize=10)
    ax.set_xlabel("seconds since the batch was created")
    ax.set_ylabel("calls/s")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper right", fontsize=8, title="thick lines: quota", title_fontsize=8)


def _bin_width(observation: Observation, scale: float) -> float:
    """Five documented seconds, narrower if that leaves fewer than ``MIN_BINS`` in the run."""
    span = max((call.at - observation.t0 for call in observation.calls), default=0.0)
    return max(0.1, min(BIN_DOCUMENTED_S / scale, span / MIN_BINS))
