"""How the batch commands (and the demo) print what they found.

A batch's table, its failures one greppable line each, what ``enqueue`` did, and the progress
bar of ``--wait``. Figures come from the domain; this module only draws them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.keys import key_states, pool_from, waiting_reason
from pipeline.domain.batch_view import failures
from pipeline.domain.label_gaps import GapRow, batch_gaps
from pipeline.domain.progress import BatchProgress, batch_progress
from pipeline.errors import ExitCode
from pipeline.operator.cli_support import console, progress_console
from pipeline.operator.live import batch_rates, db_now
from pipeline.operator.screens import rates_line
from pipeline.settings import get_settings
from pipeline.stages.enqueue import EnqueueReport
from pipeline.stages.repair import repair_counts
from pipeline.telemetry.logs import one_line


def print_batch(session: Session, batch_id: int, *, with_failures: bool) -> None:
    """A batch's table; while it runs, why it waits and how fast it goes."""
    progress = batch_progress(session, batch_id)
    gaps = batch_gaps(session, batch_id)
    print_status(progress, repair_counts(session, batch_id), gaps)
    if not progress.finished:
        print_waiting(batch_id)
        rates = batch_rates(session, progress, db_now(session))
        console.print(rates_line(rates, finished=False), markup=False, highlight=False)
    if with_failures:
        print_failures(batch_id)
        print_gaps(gaps)


def print_status(
    progress: BatchProgress, repairs: dict[str, int], gaps: Sequence[GapRow] = ()
) -> None:
    """The batch's counts by stage, and what the operator should know about them."""
    table = Table(title=f"batch {progress.name} (id {progress.batch_id}): {progress.state}")
    table.add_column("stage")
    table.add_column("count", justify="right")
    for state, count in sorted(progress.documents.items()):
        table.add_row(f"documents {state}", str(count))
    for state in PageState:
        if progress.pages.get(state):
            table.add_row(f"pages {state}", str(progress.pages[state]))
    if progress.ambiguous_submits:
        table.add_row(
            "resent after a lost answer (may be billed twice)", str(progress.ambiguous_submits)
        )
    if progress.unowned_pages:
        table.add_row("pages with no student (see enqueue's list)", str(progress.unowned_pages))
    if progress.missing_folders:
        table.add_row("folders with no scans (missing work)", str(progress.missing_folders))
    if progress.superseded:
        table.add_row("earlier versions replaced by a rescan", str(progress.superseded))
    if progress.labelled_pages:
        table.add_row(
            "pages labelled (student and page from their code)", str(progress.labelled_pages)
        )
        table.add_row("of those, turned upright by their label", str(progress.turned_pages))
    for kind, shown_as in _GAP_ROWS.items():
        count = sum(1 for gap in gaps if gap.kind == kind)
        if count:
            table.add_row(shown_as, str(count))
    for kind, count in repairs.items():
        table.add_row(f"repaired by the reconciler: {kind} (see scangrade check)", str(count))
    console.print(table)


_GAP_ROWS = {
    "missing": "labelled pages missing (no scan carries the label)",
    "extra": "extra pages (no label among labelled pages)",
    "duplicate": "pages replaced by a later scan of their label",
}
_GAP_LABELS = {"missing": "missing", "extra": "extra", "duplicate": "replaced"}


def print_gaps(gaps: Sequence[GapRow]) -> None:
    """Each missing, extra and replaced page of a labelled assignment, one line each."""
    if gaps:
        console.print(f"{len(gaps)} findings in labelled assignments:")
    for gap in gaps:
        what = (
            gap.subject()
            if gap.kind != "extra"
            else f"{shown(gap.rel_path or '')} page {gap.page_no}"
        )
        reason = gap.reason() if gap.kind != "extra" else "no label among labelled pages"
        if gap.kind == "extra" and gap.student:
            reason += f" (kept as {gap.class_name}/{gap.student_code}'s, from its document)"
        print_failure(_GAP_LABELS[gap.kind], shown(what), reason, f"label_{gap.kind}")


def print_waiting(batch_id: int) -> None:
    """Why the batch's pages wait instead of going out: no API key, every key parked."""
    reason = waiting_reason(get_redis(), batch_id)
    if reason is not None:
        console.print(Text(f"waiting: {one_line(reason)}", style="yellow"), soft_wrap=True)


def print_parked_keys() -> None:
    """The operator must know when a key stopped: its pages wait for the others."""
    for state in key_states(get_redis(), pool_from(get_settings())):
        if state.parked is not None:
            console.print(f"[red]API key {state.key_id} is parked[/]: {state.parked}")


def print_failures(batch_id: int) -> None:
    """Every file and page of the batch that failed: one line each, with its reason and code."""
    with session_scope() as session:
        failed = failures(session, batch_id)
    if failed.documents or failed.pages:
        console.print(f"{len(failed.documents)} files and {len(failed.pages)} pages failed:")
    for doc in failed.documents:
        # "rejected": never taken from the directory; "missing": a folder with no scans;
        # "failed": taken, but unusable.
        label = doc.kind if doc.kind in ("rejected", "missing") else "failed"
        print_failure(label, shown(doc.rel_path), doc.reason, doc.code)
    for page in failed.pages:
        print_failure(
            "failed", f"{shown(page.rel_path)} page {page.page_no}", page.reason, page.code
        )


def print_enqueue_report(report: EnqueueReport) -> None:
    """What ``enqueue`` recorded, then every file it skipped, rejected or could not place."""
    console.print(
        f"batch [bold]{report.batch_name}[/] (id {report.batch_id}): "
        f"{len(report.queued)} documents queued, {len(report.already_known)} already known, "
        f"{len(report.duplicates)} already sent, {len(report.rejected)} rejected, "
        f"{len(report.unmatched)} with no student"
    )
    for skipped in report.duplicates:
        print_failure("skipped", shown(skipped.rel_path), skipped.reason, skipped.code)
    for found in (*report.rescanned, *report.missing):
        label = "rescan" if found.code == "rescan" else "missing"
        print_failure(label, shown(found.rel_path), found.reason, found.code)
    for rejected in report.rejected:
        print_failure("rejected", shown(rejected.rel_path), rejected.reason, rejected.code)
    for unmatched in report.unmatched:
        print_failure("unowned", shown(unmatched.rel_path), unmatched.reason, unmatched.code)
    for row in report.unused_rows:
        where, why = f"manifest line {row.line}", f"{row.path} is not in the directory"
        print_failure("unused", where, why, "no_file")


def wait_for_batch(batch_id: int, poll_s: float = 1.0) -> int:
    """Show a progress bar until the batch ends; the exit code says whether any page failed."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=progress_console, transient=False) as bar:
        task = bar.add_task("pages", total=None, detail="")
        while True:
            with session_scope() as session:
                progress = batch_progress(session, batch_id)
            detail = " ".join(f"{state}:{n}" for state, n in sorted(progress.pages.items()))
            bar.update(
                task,
                total=progress.total_pages or None,
                completed=progress.ended_pages,
                detail=detail,
            )
            if progress.finished:
                break
            time.sleep(poll_s)
    print_failures(batch_id)
    return ExitCode.FAILED if progress.failed else ExitCode.OK


def print_failure(label: str, what: str, reason: str | None, code: str | None) -> None:
    """One line, never wrapped (so it greps), with no markup read from names or reasons."""
    line = Text.assemble(
        (f"  {label:<8} ", "red"),
        what,
        ": ",
        shown(reason or "no reason recorded"),
        (f" [{code}]", "dim") if code else "",
    )
    console.print(line, soft_wrap=True)


def shown(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) as escapes."""
    return one_line(text)
