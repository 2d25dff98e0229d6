"""The commands that make and steer a batch: enqueue, status, check, cancel, retry, replay.

Each returns its exit code (None: 0) or raises; the group turns either into the exit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.apis import API_NAMES, SCENES
from pipeline.adapters.provider.keys import pool_from
from pipeline.domain.batch_view import latest_batches
from pipeline.domain.routing import MANIFEST_NAME
from pipeline.domain.students import STUDENT_MANIFEST_NAME
from pipeline.errors import ExitCode
from pipeline.operator.batch_output import (
    print_batch,
    print_enqueue_report,
    print_failures,
    print_parked_keys,
    wait_for_batch,
)
from pipeline.operator.check_view import print_findings
from pipeline.operator.cli_support import (
    batch_id_of,
    batch_sources,
    console,
    key_or_refuse,
    need_services,
    notify_url_option,
    progress_console,
)
from pipeline.operator.live import StatusWatch
from pipeline.operator.plan_view import print_plan
from pipeline.operator.screens import watch_batch
from pipeline.settings import get_settings
from pipeline.stages.cancel import cancel_batch
from pipeline.stages.check import check
from pipeline.stages.enqueue import enqueue_directory
from pipeline.stages.plan import plan_directory
from pipeline.stages.replay import replay_batch
from pipeline.stages.retry import retry_failed

_F = TypeVar("_F", bound=Callable[..., Any])

_ENQUEUE_OPTIONS = (
    click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path)),
    click.option("--batch", "batch_name", help="Batch name (default: the directory's name)."),
    click.option(
        "--api",
        type=click.Choice(API_NAMES),
        help="Provider API of the batch (default: the manifest's, else correct_edu).",
    ),
    click.option(
        "--manifest",
        "manifests",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=f"A .toml choosing the API per sub-directory (default: DIRECTORY/{MANIFEST_NAME}), "
        "or a .csv naming each file's student: file,student_id,name,class,assignment (default: "
        f"DIRECTORY/{STUDENT_MANIFEST_NAME}). Give both by repeating the option.",
    ),
    click.option(
        "--pages-per-student",
        type=click.IntRange(min=1),
        help="A class scanned as one file: every N pages are the next student of --roster.",
    ),
    click.option(
        "--roster",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="CSV of student_id,name,class in scan order, for --pages-per-student.",
    ),
    click.option(
        "--keep-blank",
        is_flag=True,
        help="Send blank pages too (by default a page with almost no ink, such as the back of "
        "a duplex scan, is stored but not sent).",
    ),
    click.option(
        "--notify",
        "notify_url",
        metavar="URL",
        help="POST the batch's summary as JSON to this http(s) URL when it ends (webhooks only).",
    ),
    click.option(
        "--dry-run",
        is_flag=True,
        help="Show what would be sent, rejected and skipped, the provider calls and the time "
        "they take at the configured quotas; record, upload and send nothing.",
    ),
    click.option("--scene", type=click.Choice(SCENES), help="paper_cut: paper or answer_sheet."),
    click.option(
        "--enhance", is_flag=True, default=None, help="paper_cut: correct the page image."
    ),
    click.option(
        "--only-split",
        is_flag=True,
        default=None,
        help="correct_edu, paper_cut: only cut out questions (synchronous; no grading).",
    ),
    click.option(
        "--granularity",
        help="composition: none, line or word (default word); formula: big or small.",
    ),
    click.option(
        "--endpoint-path",
        help="custom_ocr: URL path of the trained model, e.g. rpc/2.0/ai_custom/v1/ocr/my_model.",
    ),
    click.option("--language", help="custom_ocr: language_type, e.g. CHN_ENG (default), ENG."),
    click.option(
        "--wait", is_flag=True, help="Show progress until every page ended; exit 1 if any failed."
    ),
    click.option(
        "--force",
        is_flag=True,
        help="Send files again even when the same content already went to the same API with "
        "the same options (done or on its way); each such page is paid for again.",
    ),
)


def _enqueue_options(command: _F) -> _F:
    """The options of ``enqueue``, in the order --help lists them."""
    for option in reversed(_ENQUEUE_OPTIONS):
        command = option(command)
    return command


@click.command()
@_enqueue_options
def enqueue(
    directory: Path,
    batch_name: str | None,
    api: str | None,
    manifests: tuple[Path, ...],
    pages_per_student: int | None,
    roster: Path | None,
    keep_blank: bool,
    notify_url: str | None,
    dry_run: bool,
    wait: bool,
    force: bool,
    **choices: Any,
) -> int:
    """Record DIRECTORY's scans as a batch and queue them for grading.

    Each file's student comes from the CSV manifest, else from the folders
    DIRECTORY/<class>/<student>/, else (with --pages-per-student) from the roster in scan
    order; files matched to no student are listed and sent all the same.
    """
    settings = get_settings()
    routes, students = batch_sources(directory, api, manifests, pages_per_student, roster, choices)
    notify_url_option(notify_url)
    if dry_run:
        plan = plan_directory(
            directory,
            settings,
            routes=routes,
            students=students,
            skip_blank=not keep_blank,
            force=force,
            batch_name=batch_name,
        )
        print_plan(console, plan)
        return ExitCode.FAILED if plan.problems else ExitCode.OK
    key_or_refuse(settings)
    need_services()
    report = enqueue_directory(
        directory,
        get_store(),
        batch_name=batch_name,
        routes=routes,
        force=force,
        students=students,
        skip_blank=not keep_blank,
        notify_url=notify_url,
    )
    print_enqueue_report(report)
    return wait_for_batch(report.batch_id) if wait else ExitCode.OK


@click.command()
@click.argument("batch", required=False)
@click.option(
    "--watch",
    "live",
    is_flag=True,
    help="Redraw BATCH's progress per stage, pages/min, ETA, failures by code and each API "
    "key's calls against its quota until the batch ends; exit 1 if anything failed, 130 on "
    "Ctrl-C.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between two refreshes of --watch.",
)
def status(batch: str | None, live: bool, interval: float) -> int | None:
    """Progress of BATCH (name or id), or of the latest batches."""
    need_services()
    if live:
        if batch is None:
            raise click.UsageError("--watch needs a BATCH; `scangrade status` lists them")
        return _watch_status(batch_id_of(batch), interval)
    with session_scope() as session:
        ids = latest_batches(session) if batch is None else [batch_id_of(batch)]
        for batch_id in ids:
            print_batch(session, batch_id, with_failures=batch is not None)
    print_parked_keys()
    return None


def _watch_status(batch_id: int, interval_s: float) -> int:
    """The live screen until the batch ends (exit 1 if anything failed) or Ctrl-C (130)."""
    settings = get_settings()
    watch = StatusWatch(
        batch_id, pool_from(settings), get_redis(), poll_floor_s=settings.poll_give_up_s
    )
    try:
        last = watch_batch(progress_console, watch, interval_s)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    print_failures(batch_id)
    return ExitCode.FAILED if last.progress.failed else ExitCode.OK


@click.command("check")
@click.argument("batch", required=False)
def check_cmd(batch: str | None) -> int:
    """List every row whose state its other rows do not back, with its repair (exit 5).

    Of BATCH (name or id), or of every batch. The reconciler repairs the ones marked auto
    once they are older than SCANGRADE_STALE_AFTER_S; the others need a person.
    """
    need_services()
    batch_id = None if batch is None else batch_id_of(batch)
    with session_scope() as session:
        findings = check(session, get_settings(), batch_id)
    print_findings(Console(), findings)
    return ExitCode.FINDINGS if findings else ExitCode.OK


@click.command()
@click.argument("batch")
def cancel(batch: str) -> None:
    """Stop BATCH (name or id): pages not yet sent fail as cancelled; sent ones finish.

    Nothing already paid for is thrown away; ``scangrade retry BATCH`` takes it up again.
    """
    need_services()
    stopped = cancel_batch(batch_id_of(batch))
    console.print(
        f"batch [bold]{batch}[/] cancelled: {stopped.pages} pages and {stopped.documents} "
        "documents will not be sent; pages already sent finish"
    )


@click.command()
@click.argument("batch")
def retry(batch: str) -> None:
    """Queue BATCH's failed pages and documents again (name or id).

    Pages go back to ready with their retry counts cleared; documents that failed to ingest
    go back to pending. Files rejected before ingest (not a scan, unreadable) need
    ``enqueue`` once fixed.
    """
    need_services()
    again = retry_failed(batch_id_of(batch))
    console.print(
        f"batch [bold]{batch}[/]: {again.pages} failed pages and {again.documents} failed "
        "documents queued again"
    )
    if not again.pages and not again.documents:
        console.print("nothing had failed; nothing to do")


@click.command()
@click.argument("batch")
def replay(batch: str) -> None:
    """Rebuild BATCH's result rows from the raw answers archived in S3, with no provider call."""
    need_services()
    done = replay_batch(batch_id_of(batch), get_store())
    console.print(
        f"batch [bold]{batch}[/]: {done.tasks} tasks rebuilt from S3"
        + (f"; {done.skipped} not yet persisted were left to their workers" if done.skipped else "")
    )


COMMANDS = (enqueue, status, check_cmd, cancel, retry, replay)
