"""``scangrade watch``: keep queueing what a scanner drops into a directory, until stopped."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import click

from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider.apis import API_NAMES
from pipeline.operator.batch_output import print_failure, shown
from pipeline.operator.cli_support import (
    batch_sources,
    console,
    key_or_refuse,
    need_services,
    notify_url_option,
)
from pipeline.operator.watch import DirectoryWatch, WatchEvent, WatchSummary
from pipeline.settings import get_settings


@click.command("watch")
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
    settings = get_settings()
    routes, students = batch_sources(directory, api)
    notify_url_option(notify_url)
    key_or_refuse(settings)
    need_services()
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
        f"watching {shown(str(directory))} every {every:g} s (files settle for "
        f"{settings.settle_s:g} s); batch {watcher.batch_name()}; Ctrl-C stops",
        markup=False,
        highlight=False,
    )
    stop = threading.Event()
    with _stopped_by_signals(stop):
        done = watcher.run(stop, every, _print_watch_event)
    _print_stopped(done)


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
    path = shown(event.rel_path)
    if event.outcome == "queued":
        console.print(f"{when} queued   {path} (batch {event.batch_name})", markup=False)
    elif event.outcome == "waiting":
        console.print(f"{when} waiting  {path}: still being written", markup=False)
    elif event.outcome == "error":
        print_failure("error", f"{when} this pass", f"{event.reason}; trying again", None)
    else:
        label = "skipped" if event.outcome == "already sent" else "rejected"
        print_failure(label, f"{when} {path}", event.reason, event.code)


def _print_stopped(done: WatchSummary) -> None:
    """What the watch did, once stopped."""
    console.print(
        f"stopped: {done.queued} files queued, {done.rejected} rejected, {done.duplicates} "
        f"already sent, into {', '.join(done.batches) or 'no batch'}"
        + (f"; {done.failed_passes} passes failed" if done.failed_passes else ""),
        markup=False,
        highlight=False,
    )


COMMANDS = (watch_cmd,)
