"""The commands that hand a batch's results on: report, export, notify."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.adapters.objectstore import get_store
from pipeline.domain.notify import Delivery, deliver
from pipeline.errors import (
    ConfigurationError,
    ImagesUnreadable,
    SummaryNotSent,
    SummaryRefused,
    Transient,
)
from pipeline.operator.cli_support import batch_id_of, console, need_services, notify_url_option
from pipeline.operator.export import export_slots
from pipeline.operator.report import write_report
from pipeline.settings import get_settings


@click.command()
@click.argument("batch")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="HTML file to write (default: report-BATCH.html in the current directory).",
)
def report(batch: str, output: Path | None) -> None:
    """Write BATCH's teachers' report (name or id): one HTML file that opens anywhere.

    Correct rates per class and per question as charts, a line per student, and every page
    with its question and answer boxes drawn over it, pictures included.
    """
    need_services()
    batch_id = batch_id_of(batch)
    path = output or Path(f"report-{_file_name(batch)}.html")
    try:
        written = write_report(batch_id, path, get_store())
    except Transient as e:
        raise ImagesUnreadable(f"the page images could not be read: {e}") from e
    console.print(
        f"wrote {written.path} ({written.size / 1_000_000:.1f} MB): {written.pages} pages, "
        f"{written.pictures} pictures",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@click.command()
@click.argument("batch")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
    help="File format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: slots-BATCH.FORMAT in the current directory).",
)
def export(batch: str, fmt: str, output: Path | None) -> None:
    """Write BATCH's graded answer slots (name or id) as CSV or Parquet, one row per slot.

    The columns are the v_slot_results view's (docs/analysts.md): batch, class, student,
    document, page, question, the answer read and its grade.
    """
    need_services()
    batch_id = batch_id_of(batch)
    path = output or Path(f"slots-{_file_name(batch)}.{fmt}")
    try:
        written = export_slots(batch_id, path, fmt)
    except OSError as e:
        raise click.FileError(str(path), hint=e.strerror or str(e)) from e
    console.print(
        f"wrote {written.path}: {written.rows} slots, {len(written.columns)} columns",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@click.command("notify")
@click.argument("batch")
@click.option(
    "--url",
    metavar="URL",
    help="Send to this http(s) URL instead of the batch's own --notify URL (not recorded).",
)
def notify_cmd(batch: str, url: str | None) -> None:
    """POST BATCH's summary (JSON) to its --notify URL now, e.g. once the receiver is fixed.

    Webhooks only (http, https). Exit 0 accepted; 3 unreachable or answering 5xx; 4 refused
    (3xx, 4xx).
    """
    notify_url_option(url)
    need_services()
    sent = _deliver(batch_id_of(batch), url)
    console.print(f"summary of batch {batch} accepted (HTTP {sent.status})", markup=False)


def _deliver(batch_id: int, url: str | None) -> Delivery:
    """Send the summary; an error says it was not sent, and whether to try again (3) or fix (4)."""
    try:
        return deliver(batch_id, get_settings(), url=url)
    except Transient as e:
        raise SummaryNotSent(f"not sent, try again later: {e}") from e
    except ConfigurationError as e:
        raise SummaryRefused(f"not sent: {e}") from e


def _file_name(batch: str) -> str:
    """The batch's name as a safe part of a file name."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in batch)


COMMANDS = (report, export, notify_cmd)
