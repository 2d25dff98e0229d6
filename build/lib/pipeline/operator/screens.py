"""The live status screen of ``scangrade status --watch``, drawn with rich from ``live``.

Presentation only: the figures come from :class:`pipeline.operator.live.StatusWatch`, and this
module turns one :class:`~pipeline.operator.live.LiveStatus` into tables and bars, and
refreshes them.
"""

from __future__ import annotations

import time

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from pipeline.adapters.db.session import session_scope
from pipeline.operator.live import KeyLoad, LiveStatus, Rates, StatusWatch


def duration(seconds: float | None) -> str:
    """``1h02m``, ``3m05s``, ``42s``; ``unknown`` for None."""
    if seconds is None:
        return "unknown"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def rates_line(rates: Rates, *, finished: bool) -> str:
    """One line: pages per minute lately and since the start, what is left and the ETA."""
    since = f"{rates.per_min_overall:.1f}/min since start"
    if finished:
        return f"{rates.ended} pages ended in {duration(rates.elapsed_s)} ({since})"
    eta = rates.eta_s
    eta_text = "unknown (nothing ended in the last minute)" if eta is None else duration(eta)
    return (
        f"{rates.per_min_recent:.1f} pages/min over the last {duration(rates.recent_s)}, "
        f"{since}; {rates.remaining} pages to go, ETA {eta_text}"
    )


def render(status: LiveStatus) -> RenderableType:
    """The whole screen for one refresh."""
    progress = status.progress
    head = Text.assemble(
        (f"batch {progress.name}", "bold"),
        f" (id {progress.batch_id}): {progress.state}, started ",
        status.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
    )
    parts: list[RenderableType] = [head, _stages(status)]
    parts.append(Text(rates_line(status.rates, finished=progress.finished)))
    if progress.ambiguous_submits:
        parts.append(
            Text(
                f"{progress.ambiguous_submits} pages resent after a lost answer (may be billed "
                "twice)",
                style="yellow",
            )
        )
    if status.failures:
        failures = Table("failed: error code", "documents", "pages", title_justify="left")
        for failure in status.failures:
            failures.add_row(failure.error_code, str(failure.documents), str(failure.pages))
        parts.append(failures)
    if status.keys:
        parts.append(_keys(status.keys))
    return Group(*parts)


def _stages(status: LiveStatus) -> Table:
    table = Table.grid(padding=(0, 1))
    for stage in status.stages:
        bar = ProgressBar(total=max(stage.total, 1), completed=stage.done, width=40)
        share = f"{100 * stage.done / stage.total:.0f}%" if stage.total else "-"
        table.add_row(stage.name, bar, f"{stage.done}/{stage.total} {stage.unit}", share)
    return table


def _keys(keys: tuple[KeyLoad, ...]) -> Table:
    table = Table("API key", "lane", "calls/min", "quota/min", "headroom", "calls today", "state")
    for key in keys:
        budget = (
            f"{key.calls_today}/{key.daily_budget}" if key.daily_budget else str(key.calls_today)
        )
        state = Text("open", style="green")
        if key.parked is not None:
            until = f" for {duration(key.parked_for_s)}" if key.parked_for_s else ""
            state = Text(f"parked{until}: {key.parked}", style="red")
        for index, lane in enumerate(key.lanes or ()):
            first = index == 0
            table.add_row(
                key.key_id if first else "",
                f"{lane.api} {lane.op}",
                "…" if lane.calls_per_min is None else f"{lane.calls_per_min:.0f}",
                "-" if lane.quota_per_min is None else f"{lane.quota_per_min:.0f}",
                _headroom(lane.headroom_per_min),
                budget if first else "",
                state if first else "",
            )
        if not key.lanes:
            table.add_row(key.key_id, "-", "", "", "", budget, state)
    return table


def _headroom(free: float | None) -> Text:
    if free is None:
        return Text("-")
    return Text(f"{free:.0f}", style="red" if free <= 0 else "")


def watch_batch(console: Console, watch: StatusWatch, interval_s: float) -> LiveStatus:
    """Refresh the screen every ``interval_s`` until the batch ended; its last status."""
    with session_scope() as session:
        status = watch.refresh(session)
    with Live(render(status), console=console, auto_refresh=False) as live:
        while not status.progress.finished:
            time.sleep(interval_s)
            with session_scope() as session:
                status = watch.refresh(session)
            live.update(render(status), refresh=True)
    return status
