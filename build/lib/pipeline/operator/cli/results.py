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
from pipeline.operator.export import (
    FORMATS,
    HANDBACK,
    SHEET_FORMATS,
    HandedBack,
    SheetWritten,
    export_handback,
    export_sheet,
    export_slots,
)
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


EXPORT_FORMATS = (*FORMATS, *SHEET_FORMATS, HANDBACK)
_DEFAULT_NAMES = {"csv": "slots-{}.csv", "parquet": "slots-{}.parquet", HANDBACK: "handback-{}"}


@click.command()
@click.argument("batch")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default="csv",
    show_default=True,
    help="csv or parquet: a row per answer slot (analysts); wide: a row per student, a column "
    "per question; canvas, moodle: gradebook imports, a column per assignment; handback: a "
    "PDF per student with their marked pages and a zip per class, into a directory.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(writable=True, path_type=Path),
    help="File to write (default: slots-BATCH.csv, wide-BATCH.csv, … in the current "
    "directory); for handback the directory (default: handback-BATCH).",
)
def export(batch: str, fmt: str, output: Path | None) -> None:
    """Write BATCH's results (name or id) as a file for analysts or for the school.

    csv and parquet hold the v_slot_results view (docs/analysts.md): batch, class, student,
    document, page, question, the answer read and its grade. wide, canvas and moodle list every
    student of the batch's classes, those without work in it too; handback writes
    <class>/<student>.pdf and <class>.zip.
    """
    need_services()
    batch_id = batch_id_of(batch)
    path = output or Path(_DEFAULT_NAMES.get(fmt, f"{fmt}-{{}}.csv").format(_file_name(batch)))
    if path.exists() and path.is_dir() != (fmt == HANDBACK):
        want = "a directory" if fmt == HANDBACK else "a file"
        raise click.UsageError(f"--output {path}: {fmt} writes {want}")
    try:
        done = _export(batch_id, path, fmt)
    except OSError as e:
        raise click.FileError(str(path), hint=e.strerror or str(e)) from e
    except Transient as e:
        raise ImagesUnreadable(f"the page images could not be read: {e}") from e
    console.print(done, markup=False, highlight=False, soft_wrap=True)


def _export(batch_id: int, path: Path, fmt: str) -> str:
    """Write the export; what was written, in a line."""
    if fmt in FORMATS:
        slots = export_slots(batch_id, path, fmt)
        return f"wrote {slots.path}: {slots.rows} slots, {len(slots.columns)} columns"
    if fmt == HANDBACK:
        return _handback_line(export_handback(batch_id, path, get_store()))
    return _sheet_line(export_sheet(batch_id, path, fmt), fmt)


def _sheet_line(sheet: SheetWritten, fmt: str) -> str:
    columns = (
        f"{sheet.questions} questions" if fmt == "wide" else f"{sheet.assignments} assignments"
    )
    line = (
        f"wrote {sheet.path}: {sheet.students} students ({sheet.without_work} without work in "
        f"this batch), {columns}"
    )
    return line + _unmatched(sheet.unmatched_pages)


def _handback_line(done: HandedBack) -> str:
    zips = ", ".join(path.name for path in done.zips) or "none"
    line = (
        f"wrote {done.directory}: {done.pdfs} student PDFs, class zips {zips}; "
        f"{done.without_work} students without work in this batch"
    )
    if done.missing_pictures:
        line += f"; {done.missing_pictures} pages shown without their picture (see the log)"
    return line


def _unmatched(pages: int) -> str:
    if not pages:
        return ""
    return f"; {pages} pages no student was matched to are left out (the report lists them)"


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
