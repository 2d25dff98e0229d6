"""``scangrade``: the operator's commands.

Exit codes: 0 success; 1 the batch ended with failures; 2 usage error; 3 a service
(Postgres, Redis, S3, a webhook) is unreachable; 4 configuration error (no API key, S3
credentials missing or refused, a webhook refused); 5 ``check`` found rows their other rows
do not back; 130 stopped with Ctrl-C (``status --watch``). A command stopped by one of
scangrade's errors prints its one-line message, never a traceback (``_Commands``).

Results, tables and summaries go to stdout (``scangrade status X > night.log``); progress bars,
errors and log lines to stderr, where only warnings show unless ``-v``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from pipeline.adapters.db.models import Batch, Document, Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import DocumentState, PageState
from pipeline.adapters.provider.apis import API_NAMES, SCENES, Choices
from pipeline.adapters.services import ServiceDown, ensure_services, migrate
from pipeline.domain.progress import BatchProgress, batch_progress
from pipeline.domain.routing import MANIFEST_NAME, Routing, routing
from pipeline.domain.students import STUDENT_MANIFEST_NAME, Students, read_students
from pipeline.errors import EXIT_CODES, NO_API_KEY, ConfigurationError, ScangradeError
from pipeline.settings import get_settings, load_env_file
from pipeline.telemetry.logs import configure_logging, one_line

if TYPE_CHECKING:
    from pipeline.operator.watch import WatchEvent

EXIT_FAILURES, EXIT_SERVICE, EXIT_CONFIG, EXIT_FINDINGS, EXIT_INTERRUPTED = 1, 3, 4, 5, 130
console = Console()  # results: stdout
progress_console = Console(stderr=True)  # progress bars, live views and errors: stderr

#: Services whose log is their output: they log at SCANGRADE_LOG_LEVEL without -v.
_SERVICES = frozenset({"workers", "simulator"})


class _Commands(click.Group):
    """The command group: one of scangrade's errors ends a command as one line and its code."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a service down exits 3, a configuration error 4 (``EXIT_CODES``)."""
        try:
            return super().invoke(ctx)
        except ScangradeError as e:
            code = next((code for kind, code in EXIT_CODES if isinstance(e, kind)), None)
            if code is None:
                raise
            progress_console.print(Text(one_line(str(e)), style="red"), soft_wrap=True)
            ctx.exit(code)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show the log on stderr: -v at SCANGRADE_LOG_LEVEL (INFO), -vv DEBUG.",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read SCANGRADE_* settings from this file, over the environment's (the demo writes "
    "var/demo/scangrade.env, which reaches its database and S3).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, env_file: Path | None) -> None:
    """Bulk grading of school scans through the provider's education OCR APIs."""
    if env_file is not None:
        load_env_file(env_file)
    level = {0: "WARNING", 1: None}.get(verbose, "DEBUG")
    if ctx.invoked_subcommand in _SERVICES and not verbose:
        level = None
    configure_logging(get_settings(), level=level)


@main.command("migrate")
def migrate_cmd() -> None:
    """Create the database if needed and apply every migration."""
    settings = get_settings()
    _services_or_exit()
    migrate(settings)
    console.print("[green]database is at the latest migration[/]")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--batch", "batch_name", help="Batch name (default: the directory's name).")
@click.option(
    "--api",
    type=click.Choice(API_NAMES),
    help="Provider API of the batch (default: the manifest's, else correct_edu).",
)
@click.option(
    "--manifest",
    "manifests",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"A .toml choosing the API per sub-directory (default: DIRECTORY/{MANIFEST_NAME}), "
    "or a .csv naming each file's student: file,student_id,name,class,assignment (default: "
    f"DIRECTORY/{STUDENT_MANIFEST_NAME}). Give both by repeating the option.",
)
@click.option(
    "--pages-per-student",
    type=click.IntRange(min=1),
    help="A class scanned as one file: every N pages are the next student of --roster.",
)
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of student_id,name,class in scan order, for --pages-per-student.",
)
@click.option(
    "--keep-blank",
    is_flag=True,
    help="Send blank pages too (by default a page with almost no ink, such as the back of "
    "a duplex scan, is stored but not sent).",
)
@click.option(
    "--notify",
    "notify_url",
    metavar="URL",
    help="POST the batch's summary as JSON to this http(s) URL when it ends (webhooks only).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would be sent, rejected and skipped, the provider calls and the time "
    "they take at the configured quotas; record, upload and send nothing.",
)
@click.option("--scene", type=click.Choice(SCENES), help="paper_cut: paper or answer_sheet.")
@click.option("--enhance", is_flag=True, default=None, help="paper_cut: correct the page image.")
@click.option(
    "--only-split",
    is_flag=True,
    default=None,
    help="correct_edu, paper_cut: only cut out questions (synchronous; no grading).",
)
@click.option(
    "--granularity",
    help="composition: none, line or word (default word); formula: big or small.",
)
@click.option(
    "--endpoint-path",
    help="custom_ocr: URL path of the trained model, e.g. rpc/2.0/ai_custom/v1/ocr/my_model.",
)
@click.option("--language", help="custom_ocr: language_type, e.g. CHN_ENG (default), ENG.")
@click.option(
    "--wait", is_flag=True, help="Show progress until every page ended; exit 1 if any failed."
)
@click.option(
    "--force",
    is_flag=True,
    help="Send files again even when the same content already went to the same API with "
    "the same options (done or on its way); each such page is paid for again.",
)
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
) -> None:
    """Record DIRECTORY's scans as a batch and queue them for grading.

    Each file's student comes from the CSV manifest, else from the folders
    DIRECTORY/<class>/<student>/, else (with --pages-per-student) from the roster in scan
    order; files matched to no student are listed and sent all the same.
    """
    from pipeline.adapters.objectstore import get_store
    from pipeline.stages.enqueue import enqueue_directory

    settings = get_settings()
    try:
        routes, students = _sources(directory, api, manifests, pages_per_student, roster, choices)
        if notify_url is not None:
            _check_notify_url(notify_url)
    except ConfigurationError as e:
        raise click.UsageError(str(e)) from e
    if dry_run:
        from pipeline.operator.plan_view import print_plan
        from pipeline.stages.plan import plan_directory

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
        sys.exit(EXIT_FAILURES if plan.problems else 0)
    _key_or_refuse(settings)
    _services_or_exit()
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
    console.print(
        f"batch [bold]{report.batch_name}[/] (id {report.batch_id}): "
        f"{len(report.queued)} documents queued, {len(report.already_known)} already known, "
        f"{len(report.duplicates)} already sent, {len(report.rejected)} rejected, "
        f"{len(report.unmatched)} with no student"
    )
    for skipped in report.duplicates:
        _print_failure("skipped", _shown(skipped.rel_path), skipped.reason, skipped.code)
    for found in (*report.rescanned, *report.missing):
        label = "rescan" if found.code == "rescan" else "missing"
        _print_failure(label, _shown(found.rel_path), found.reason, found.code)
    for rejected in report.rejected:
        _print_failure("rejected", _shown(rejected.rel_path), rejected.reason, rejected.code)
    for unmatched in report.unmatched:
        _print_failure("unowned", _shown(unmatched.rel_path), unmatched.reason, unmatched.code)
    for row in report.unused_rows:
        _print_failure(
            "unused",
            f"manifest line {row.line}",
            f"{row.path} is not in the directory",
            "no_file",
        )
    if wait:
        sys.exit(wait_for_batch(report.batch_id))


def _key_or_refuse(settings: Any) -> None:
    """No page could be sent without an API key: record nothing (exit 4)."""
    if not settings.api_keys():
        raise ConfigurationError(
            f"{NO_API_KEY} (any pair for the simulator, which accepts the settings' keys); "
            "nothing was recorded"
        )


def _check_notify_url(url: str) -> None:
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigurationError(f"--notify {url!r}: give the http:// or https:// URL of a webhook")


def _sources(
    directory: Path,
    api: str | None,
    manifests: tuple[Path, ...],
    pages_per_student: int | None,
    roster: Path | None,
    choices: dict[str, Any],
) -> tuple[Routing, Students]:
    """The batch's routes (TOML manifest) and students (CSV manifest, roster)."""
    by_kind: dict[str, Path] = {}
    for path in manifests:
        kind = {".toml": "toml", ".csv": "csv"}.get(path.suffix.lower())
        if kind is None:
            raise ConfigurationError(f"--manifest {path}: a manifest is a .toml or a .csv file")
        if kind in by_kind:
            raise ConfigurationError(f"--manifest: two .{kind} files given; give one of each")
        by_kind[kind] = path
    routes = routing(
        directory,
        api=api,
        choices=Choices(**choices),
        manifest=by_kind.get("toml"),
        default_endpoint=get_settings().custom_ocr_endpoint_path,
    )
    students = read_students(
        directory,
        manifest=by_kind.get("csv"),
        roster=roster,
        pages_per_student=pages_per_student,
    )
    return routes, students


@main.command()
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
def status(batch: str | None, live: bool, interval: float) -> None:
    """Progress of BATCH (name or id), or of the latest batches."""
    from pipeline.operator.live import batch_rates, db_now
    from pipeline.operator.screens import rates_line
    from pipeline.stages.repair import repair_counts

    _services_or_exit()
    if live:
        if batch is None:
            raise click.UsageError("--watch needs a BATCH; `scangrade status` lists them")
        sys.exit(_watch_status(_batch_id(batch), interval))
    with session_scope() as session:
        if batch is None:
            ids = list(session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(10)))
        else:
            ids = [_batch_id(batch)]
        for batch_id in ids:
            progress = batch_progress(session, batch_id)
            _print_status(progress, repair_counts(session, batch_id))
            if not progress.finished:
                _print_waiting(batch_id)
                rates = batch_rates(session, progress, db_now(session))
                console.print(rates_line(rates, finished=False), markup=False, highlight=False)
            if batch is not None:
                _print_failures(batch_id)
    _print_parked_keys()


@main.command("check")
@click.argument("batch", required=False)
def check_cmd(batch: str | None) -> None:
    """List every row whose state its other rows do not back, with its repair (exit 5).

    Of BATCH (name or id), or of every batch. The reconciler repairs the ones marked auto
    once they are older than SCANGRADE_STALE_AFTER_S; the others need a person.
    """
    from pipeline.operator.check_view import print_findings
    from pipeline.stages.check import check

    _services_or_exit()
    batch_id = None if batch is None else _batch_id(batch)
    with session_scope() as session:
        findings = check(session, get_settings(), batch_id)
    print_findings(Console(), findings)
    sys.exit(EXIT_FINDINGS if findings else 0)


def _watch_status(batch_id: int, interval_s: float) -> int:
    from pipeline.adapters.provider import get_redis
    from pipeline.adapters.provider.keys import pool_from
    from pipeline.operator.live import StatusWatch
    from pipeline.operator.screens import watch_batch

    settings = get_settings()
    watch = StatusWatch(
        batch_id, pool_from(settings), get_redis(), poll_floor_s=settings.poll_give_up_s
    )
    try:
        last = watch_batch(progress_console, watch, interval_s)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    _print_failures(batch_id)
    return EXIT_FAILURES if last.progress.failed else 0


@main.command("watch")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--batch",
    "batch_name",
    help="Put every file in this batch (default: one batch per local day, "
    "DIRECTORY-NAME-YYYY-MM-DD).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between two looks at DIRECTORY (default: SCANGRADE_WATCH_INTERVAL_S).",
)
@click.option(
    "--api",
    type=click.Choice(API_NAMES),
    help="Provider API of the files (default: DIRECTORY's manifest's, else correct_edu).",
)
@click.option(
    "--notify",
    "notify_url",
    metavar="URL",
    help="POST a batch's summary as JSON to this http(s) URL each time it ends (webhooks "
    "only; mailto: is not supported).",
)
def watch_cmd(
    directory: Path,
    batch_name: str | None,
    interval: float | None,
    api: str | None,
    notify_url: str | None,
) -> None:
    """Keep queueing the scans dropped into DIRECTORY (a scanner's share) until stopped.

    A file is taken once it has not changed for SCANGRADE_SETTLE_S seconds, and only once;
    one line is printed each time a file's outcome changes (queued, waiting, rejected,
    already sent). The manifests in DIRECTORY are read at start. Stop with Ctrl-C or
    SIGTERM: it says what it did and exits 0.
    """
    from pipeline.adapters.objectstore import get_store
    from pipeline.operator.watch import DirectoryWatch

    settings = get_settings()
    try:
        routes, students = _sources(directory, api, (), None, None, {})
        if notify_url is not None:
            _check_notify_url(notify_url)
    except ConfigurationError as e:
        raise click.UsageError(str(e)) from e
    _key_or_refuse(settings)
    _services_or_exit()
    watcher = DirectoryWatch(
        directory,
        get_store(),
        settle_s=settings.settle_s,
        batch_name=batch_name,
        routes=routes,
        students=students,
        notify_url=notify_url,
    )
    every = interval or settings.watch_interval_s
    console.print(
        f"watching {_shown(str(directory))} every {every:g} s (files settle for "
        f"{settings.settle_s:g} s); batch {watcher.batch_name()}; Ctrl-C stops",
        markup=False,
        highlight=False,
    )
    stop = threading.Event()
    with _stopped_by_signals(stop):
        done = watcher.run(stop, every, _print_watch_event)
    console.print(
        f"stopped: {done.queued} files queued, {done.rejected} rejected, {done.duplicates} "
        f"already sent, into {', '.join(done.batches) or 'no batch'}"
        + (f"; {done.failed_passes} passes failed" if done.failed_passes else ""),
        markup=False,
        highlight=False,
    )


@contextlib.contextmanager
def _stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM stop the loop after the pass in progress; a second one at once."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def stop_soon(*_: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for sig in previous:
        signal.signal(sig, stop_soon)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_watch_event(event: WatchEvent) -> None:
    when = time.strftime("%H:%M:%S")
    path = _shown(event.rel_path)
    if event.outcome == "queued":
        console.print(f"{when} queued   {path} (batch {event.batch_name})", markup=False)
    elif event.outcome == "waiting":
        console.print(f"{when} waiting  {path}: still being written", markup=False)
    elif event.outcome == "error":
        _print_failure("error", f"{when} this pass", f"{event.reason}; trying again", None)
    else:
        label = "skipped" if event.outcome == "already sent" else "rejected"
        _print_failure(label, f"{when} {path}", event.reason, event.code)


@main.command("notify")
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
    from pipeline.domain.notify import deliver
    from pipeline.errors import Transient

    if url is not None:
        try:
            _check_notify_url(url)
        except ConfigurationError as e:
            raise click.UsageError(str(e)) from e
    _services_or_exit()
    try:
        sent = deliver(_batch_id(batch), get_settings(), url=url)
    except Transient as e:
        progress_console.print(f"not sent, try again later: {e}", markup=False, soft_wrap=True)
        sys.exit(EXIT_SERVICE)
    except ConfigurationError as e:
        progress_console.print(f"not sent: {e}", markup=False, soft_wrap=True)
        sys.exit(EXIT_CONFIG)
    console.print(f"summary of batch {batch} accepted (HTTP {sent.status})", markup=False)


@main.command()
@click.argument("batch")
def retry(batch: str) -> None:
    """Queue BATCH's failed pages and documents again (name or id).

    Pages go back to ready with their retry counts cleared; documents that failed to ingest
    go back to pending. Files rejected before ingest (not a scan, unreadable) need
    ``enqueue`` once fixed.
    """
    from pipeline.stages.retry import retry_failed

    _services_or_exit()
    again = retry_failed(_batch_id(batch))
    console.print(
        f"batch [bold]{batch}[/]: {again.pages} failed pages and {again.documents} failed "
        "documents queued again"
    )
    if not again.pages and not again.documents:
        console.print("nothing had failed; nothing to do")


@main.command()
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
    from pipeline.adapters.objectstore import get_store
    from pipeline.errors import Transient
    from pipeline.operator.report import write_report

    _services_or_exit()
    batch_id = _batch_id(batch)
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in batch)
    try:
        written = write_report(batch_id, output or Path(f"report-{safe_name}.html"), get_store())
    except Transient as e:
        progress_console.print(
            f"the page images could not be read: {e}", markup=False, soft_wrap=True
        )
        sys.exit(EXIT_SERVICE)
    console.print(
        f"wrote {written.path} ({written.size / 1_000_000:.1f} MB): {written.pages} pages, "
        f"{written.pictures} pictures",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@main.command()
@click.argument("batch")
def cancel(batch: str) -> None:
    """Stop BATCH (name or id): pages not yet sent fail as cancelled; sent ones finish.

    Nothing already paid for is thrown away; ``scangrade retry BATCH`` takes it up again.
    """
    from pipeline.stages.cancel import cancel_batch

    _services_or_exit()
    stopped = cancel_batch(_batch_id(batch))
    console.print(
        f"batch [bold]{batch}[/] cancelled: {stopped.pages} pages and {stopped.documents} "
        "documents will not be sent; pages already sent finish"
    )


@main.command()
@click.argument("batch")
def replay(batch: str) -> None:
    """Rebuild BATCH's result rows from the raw answers archived in S3, with no provider call."""
    from pipeline.adapters.objectstore import get_store
    from pipeline.stages.replay import replay_batch

    _services_or_exit()
    done = replay_batch(_batch_id(batch), get_store())
    console.print(
        f"batch [bold]{batch}[/]: {done.tasks} tasks rebuilt from S3"
        + (f"; {done.skipped} not yet persisted were left to their workers" if done.skipped else "")
    )


@main.command()
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
    from pipeline.operator.export import export_slots

    _services_or_exit()
    batch_id = _batch_id(batch)
    safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in batch)
    path = output or Path(f"slots-{safe_name}.{fmt}")
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


@main.command()
@click.option("--unpark", "unpark_id", metavar="KEY_ID", help="Let a parked key take calls again.")
def keys(unpark_id: str | None) -> None:
    """The API keys of the pool: calls today, budget, and which are parked and why."""
    from pipeline.adapters.provider import get_redis
    from pipeline.adapters.provider.keys import key_states, pool_from, unpark

    _services_or_exit()
    pool = pool_from(get_settings())
    if not pool:
        raise click.UsageError(
            "no API key configured: set SCANGRADE_BAIDU_API_KEY and SCANGRADE_BAIDU_SECRET_KEY, "
            "or SCANGRADE_BAIDU_KEYS"
        )
    if unpark_id is not None:
        if unpark_id not in {key.key_id for key in pool}:
            raise click.UsageError(f"{unpark_id} is not a key of the pool (see scangrade keys)")
        done = unpark(get_redis(), unpark_id)
        console.print(f"{unpark_id} {'unparked' if done else 'was not parked'}")
    table = Table("key", "calls today", "daily budget", "state")
    for state in key_states(get_redis(), pool):
        parked = "open"
        if state.parked is not None:
            until = f" for {state.parked_for_s:.0f} s" if state.parked_for_s else ""
            parked = f"[red]parked{until}[/]: {state.parked}"
        budget = "-" if state.daily_budget is None else str(state.daily_budget)
        table.add_row(state.key_id, str(state.calls_today), budget, parked)
    Console().print(table)


@main.command()
def workers() -> None:
    """Run this host's worker nodes and beat (one beat in all hosts sends), restarting any."""
    _services_or_exit()
    # The supervisor needs little of what the CLI loaded: start it afresh in this process.
    os.execv(sys.executable, [sys.executable, "-m", "pipeline.runtime.supervisor"])


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def simulator(ctx: click.Context) -> None:
    """Run the provider simulator (see --help of the simulator for its options).

    Without --key it accepts its demo key and the keys of the settings
    (SCANGRADE_BAIDU_API_KEY/SECRET_KEY, SCANGRADE_BAIDU_KEYS), so workers configured for the
    real provider can be pointed at it (SCANGRADE_BAIDU_BASE_URL) as they are.
    """
    from simulator.__main__ import main as simulator_main
    from simulator.config import DEFAULT_KEYS

    args = list(ctx.args)
    if not any(arg == "--key" or arg.startswith("--key=") for arg in args):
        keys = dict(DEFAULT_KEYS) | {
            key.api_key.get_secret_value(): key.secret_key.get_secret_value()
            for key in get_settings().api_keys()
        }
        args = [arg for pair in keys.items() for arg in ("--key", ":".join(pair))] + args
    simulator_main(args)


@main.command()
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the services running at the end; print the exports that reach them and the "
    "pids to stop.",
)
@click.option(
    "--s3-only",
    is_flag=True,
    help="Only start the demo's S3 again, with the objects of every demo so far, and leave it "
    "running (report and replay of a demo batch read it).",
)
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Where the demo keeps its S3 objects, settings file, reports and logs.",
)
def demo(keep: bool, s3_only: bool, root: Path) -> None:
    """Run a bundled sample batch end to end on local stand-ins, and show what landed where.

    It writes the batch's teachers' report and prints the commands that look at the batch
    again; its S3 objects stay on disk under --dir for them.
    """
    from devkit.demo import run_demo, serve_demo_s3

    if s3_only:
        sys.exit(serve_demo_s3(console, root))
    _services_or_exit()
    sys.exit(run_demo(console, keep=keep, root=root))


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
    _print_failures(batch_id)
    return EXIT_FAILURES if progress.failed else 0


def _print_status(progress: BatchProgress, repairs: dict[str, int]) -> None:
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
    for kind, count in repairs.items():
        table.add_row(f"repaired by the reconciler: {kind} (see scangrade check)", str(count))
    console.print(table)


def _print_waiting(batch_id: int) -> None:
    """Why the batch's pages wait instead of going out: no API key, every key parked."""
    from pipeline.adapters.provider import get_redis
    from pipeline.adapters.provider.keys import waiting_reason

    reason = waiting_reason(get_redis(), batch_id)
    if reason is not None:
        console.print(Text(f"waiting: {one_line(reason)}", style="yellow"), soft_wrap=True)


def _print_parked_keys() -> None:
    """The operator must know when a key stopped: its pages wait for the others."""
    from pipeline.adapters.provider import get_redis
    from pipeline.adapters.provider.keys import key_states, pool_from

    for state in key_states(get_redis(), pool_from(get_settings())):
        if state.parked is not None:
            console.print(f"[red]API key {state.key_id} is parked[/]: {state.parked}")


def _print_failures(batch_id: int) -> None:
    """Every file and page of the batch that failed: one line each, with its reason and code."""
    with session_scope() as session:
        docs = session.execute(
            select(Document.rel_path, Document.kind, Document.error_code, Document.error)
            .where(
                Document.batch_id == batch_id,
                Document.state == DocumentState.FAILED,
                Document.superseded_at.is_(None),
            )
            .order_by(Document.rel_path)
        ).all()
        pages = session.execute(
            select(Document.rel_path, Page.page_no, Page.error_code, Page.error)
            .join(Document, Document.id == Page.document_id)
            .where(
                Page.batch_id == batch_id,
                Page.state == PageState.FAILED,
                Document.superseded_at.is_(None),
            )
            .order_by(Document.rel_path, Page.page_no)
        ).all()
    if docs or pages:
        console.print(f"{len(docs)} files and {len(pages)} pages failed:")
    for path, kind, code, error in docs:
        # "rejected": never taken from the directory; "missing": a folder with no scans;
        # "failed": taken, but unusable.
        label = kind if kind in ("rejected", "missing") else "failed"
        _print_failure(label, _shown(path), error, code)
    for path, page_no, code, error in pages:
        _print_failure("failed", f"{_shown(path)} page {page_no}", error, code)


def _print_failure(label: str, what: str, reason: str | None, code: str | None) -> None:
    """One line, never wrapped (so it greps), with no markup read from names or reasons."""
    line = Text.assemble(
        (f"  {label:<8} ", "red"),
        what,
        ": ",
        _shown(reason or "no reason recorded"),
        (f" [{code}]", "dim") if code else "",
    )
    console.print(line, soft_wrap=True)


def _shown(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) as escapes."""
    return one_line(text)


def _batch_id(name_or_id: str) -> int:
    with session_scope() as session:
        query = select(Batch.id).where(Batch.name == name_or_id)
        if name_or_id.isdigit():
            query = select(Batch.id).where(
                (Batch.id == int(name_or_id)) | (Batch.name == name_or_id)
            )
        found = session.scalar(query)
    if found is None:
        raise click.UsageError(f"no batch named {name_or_id!r}; `scangrade status` lists them")
    return found


def _services_or_exit() -> None:
    try:
        ensure_services(get_settings())
    except ServiceDown as e:
        progress_console.print(Text(str(e), style="red"), soft_wrap=True)
        sys.exit(EXIT_SERVICE)


if __name__ == "__main__":
    logging.captureWarnings(True)
    main()  # pylint: disable=no-value-for-parameter
