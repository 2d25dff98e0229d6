"""``scangrade``: the operator's commands.

Exit codes: 0 success; 1 the batch ended with failures; 2 usage error; 3 a service
(Postgres, Redis, S3) is unreachable; 4 configuration error.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from pipeline.db.models import Batch, Document, Page
from pipeline.db.session import session_scope
from pipeline.db.states import DocumentState, PageState
from pipeline.errors import ConfigurationError
from pipeline.logs import configure_logging
from pipeline.manifest import MANIFEST_NAME, routing
from pipeline.progress import BatchProgress, batch_progress
from pipeline.provider.apis import API_NAMES, SCENES, Choices
from pipeline.services import ServiceDown, ensure_services, migrate
from pipeline.settings import get_settings

EXIT_FAILURES, EXIT_SERVICE = 1, 3
console = Console(stderr=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Bulk grading of school scans through the provider's education OCR APIs."""
    configure_logging(get_settings())


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
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"TOML file choosing the API per sub-directory (default: DIRECTORY/{MANIFEST_NAME}).",
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
def enqueue(
    directory: Path,
    batch_name: str | None,
    api: str | None,
    manifest: Path | None,
    wait: bool,
    **choices: Any,
) -> None:
    """Record DIRECTORY's scans as a batch and queue them for grading."""
    from pipeline.stages.enqueue import enqueue_directory
    from pipeline.storage import get_store

    try:
        routes = routing(
            directory,
            api=api,
            choices=Choices(**choices),
            manifest=manifest,
            default_endpoint=get_settings().custom_ocr_endpoint_path,
        )
    except ConfigurationError as e:
        raise click.UsageError(str(e)) from e
    _services_or_exit()
    report = enqueue_directory(directory, get_store(), batch_name=batch_name, routes=routes)
    console.print(
        f"batch [bold]{report.batch_name}[/] (id {report.batch_id}): "
        f"{len(report.queued)} documents queued, {len(report.already_known)} already known, "
        f"{len(report.rejected)} rejected"
    )
    for rejected in report.rejected:
        console.print(f"  [red]rejected[/] {rejected.rel_path}: {rejected.reason}")
    if wait:
        sys.exit(wait_for_batch(report.batch_id))


@main.command()
@click.argument("batch", required=False)
def status(batch: str | None) -> None:
    """Progress of BATCH (name or id), or of the latest batches."""
    _services_or_exit()
    with session_scope() as session:
        if batch is None:
            ids = list(session.scalars(select(Batch.id).order_by(Batch.id.desc()).limit(10)))
        else:
            ids = [_batch_id(batch)]
        for batch_id in ids:
            _print_status(batch_progress(session, batch_id))
            if batch is not None:
                _print_failures(batch_id)
    _print_parked_keys()


@main.command()
@click.option("--unpark", "unpark_id", metavar="KEY_ID", help="Let a parked key take calls again.")
def keys(unpark_id: str | None) -> None:
    """The API keys of the pool: calls today, budget, and which are parked and why."""
    from pipeline.provider import get_redis
    from pipeline.provider.keys import key_states, pool_from, unpark

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
    """Run every worker kind and Celery beat in the foreground, restarting any that dies."""
    from pipeline.supervisor import Supervisor, worker_specs

    _services_or_exit()
    # Beat's schedule file only remembers when interval tasks last ran: a private one per run
    # keeps two runs in one directory (tests, a benchmark) from sharing a shelf.
    with tempfile.TemporaryDirectory(prefix="scangrade-beat-") as state_dir:
        code = Supervisor(worker_specs(get_settings(), Path(state_dir))).run()
    sys.exit(code)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def simulator(ctx: click.Context) -> None:
    """Run the provider simulator (see --help of the simulator for its options)."""
    from pipeline.simulator.__main__ import main as simulator_main

    simulator_main(ctx.args)


@main.command()
@click.option("--keep", is_flag=True, help="Leave the services running at the end.")
def demo(keep: bool) -> None:
    """Run a bundled sample batch end to end on local stand-ins, and show what landed where."""
    from pipeline.demo import run_demo

    _services_or_exit()
    sys.exit(run_demo(console, keep=keep))


def wait_for_batch(batch_id: int, poll_s: float = 1.0) -> int:
    """Show a progress bar until the batch ends; the exit code says whether any page failed."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
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


def _print_status(progress: BatchProgress) -> None:
    table = Table(title=f"batch {progress.name} (id {progress.batch_id}): {progress.state}")
    table.add_column("stage")
    table.add_column("count", justify="right")
    for state, count in sorted(progress.documents.items()):
        table.add_row(f"documents {state}", str(count))
    for state in PageState:
        if progress.pages.get(state):
            table.add_row(f"pages {state}", str(progress.pages[state]))
    console.print(table)


def _print_parked_keys() -> None:
    """The operator must know when a key stopped: its pages wait for the others."""
    from pipeline.provider import get_redis
    from pipeline.provider.keys import key_states, pool_from

    for state in key_states(get_redis(), pool_from(get_settings())):
        if state.parked is not None:
            console.print(f"[red]API key {state.key_id} is parked[/]: {state.parked}")


def _print_failures(batch_id: int) -> None:
    with session_scope() as session:
        docs = session.execute(
            select(Document.rel_path, Document.error_code, Document.error).where(
                Document.batch_id == batch_id, Document.state == DocumentState.FAILED
            )
        ).all()
        pages = session.execute(
            select(Document.rel_path, Page.page_no, Page.error_code, Page.error)
            .join(Document, Document.id == Page.document_id)
            .where(Page.batch_id == batch_id, Page.state == PageState.FAILED)
        ).all()
    for path, code, error in docs:
        console.print(f"[red]failed[/] {path}: {error} [{code}]")
    for path, page_no, code, error in pages:
        console.print(f"[red]failed[/] {path} page {page_no}: {error} [{code}]")


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
        console.print(f"[red]{e}[/]")
        sys.exit(EXIT_SERVICE)


if __name__ == "__main__":
    logging.captureWarnings(True)
    main()  # pylint: disable=no-value-for-parameter
