"""``scangrade watch DIR``: keep taking the files a scanner drops into a directory.

Each pass is an ordinary enqueue of the directory (``enqueue_directory``), so everything
enqueue guarantees holds: a file is recorded once per batch and path, content already sent is
not paid for again, and a file changed less than ``settle_s`` ago is left as
``still_being_written`` for a later pass, which takes it once it has stopped changing. A pass
only runs when the directory's listing changed, when files were waiting to settle, or when the
batch changes, so an idle share costs one walk of names and sizes per interval.

Batches: one per local day by default, named ``<directory name>-<YYYY-MM-DD>``, so a day of
drops reads as one batch in ``status``, reports and exports; ``batch_name`` fixes one name
for everything.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.adapters.db import DB_UNAVAILABLE
from pipeline.adapters.objectstore import ObjectStore
from pipeline.domain.routing import Routing
from pipeline.domain.students import Students
from pipeline.errors import BadInput, Retryable
from pipeline.stages.enqueue import EnqueueReport, enqueue_directory

log = logging.getLogger(__name__)

STILL_BEING_WRITTEN = "still_being_written"

#: Failures of one pass that the next pass may not meet: the service or share came back.
PASSING = (Retryable, BadInput, OSError, *DB_UNAVAILABLE)


@dataclass(frozen=True)
class WatchEvent:
    """A file's outcome changed: ``queued``, ``waiting``, ``rejected`` or ``already sent``.

    ``error`` (with no path) when a pass failed as a whole.
    """

    batch_name: str
    rel_path: str
    outcome: str
    reason: str | None = None
    code: str | None = None


@dataclass
class WatchSummary:
    """What a watch did until it was stopped."""

    passes: int = 0
    queued: int = 0
    rejected: int = 0
    duplicates: int = 0
    failed_passes: int = 0
    batches: list[str] = field(default_factory=list)


def daily_batch_name(root: Path, day: date) -> str:
    """The batch of one day's drops into ``root``."""
    return f"{root.resolve().name}-{day.isoformat()}"


def _listing(root: Path) -> frozenset[tuple[str, int, int]]:
    """Every entry's path, size and change time: a new, grown or touched file changes it."""
    found: set[tuple[str, int, int]] = set()
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue  # gone since the walk listed it
            found.add((os.path.join(folder, name), info.st_size, info.st_mtime_ns))
    return frozenset(found)


class DirectoryWatch:
    """Passes over one directory, each reporting only what changed since the last."""

    def __init__(
        self,
        root: Path,
        store: ObjectStore,
        *,
        settle_s: float,
        batch_name: str | None = None,
        routes: Routing | None = None,
        students: Students | None = None,
        notify_url: str | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.root = root
        self.summary = WatchSummary()
        self._store = store
        self._settle_s = settle_s
        self._batch_name = batch_name
        self._routes = routes
        self._students = students
        self._notify_url = notify_url
        self._today = today
        self._listing: frozenset[tuple[str, int, int]] | None = None
        self._waiting = False
        self._outcomes: dict[str, tuple[str, str | None]] = {}
        self._current: str | None = None

    def batch_name(self) -> str:
        """The batch new files go to now."""
        return self._batch_name or daily_batch_name(self.root, self._today())

    def run_once(self) -> list[WatchEvent]:
        """One look at the directory; the files whose outcome changed."""
        name = self.batch_name()
        if name != self._current:  # a new day: outcomes are per batch
            self._current, self._outcomes, self._listing = name, {}, None
        listing = _listing(self.root)
        if listing == self._listing and not self._waiting:
            return []
        self.summary.passes += 1
        try:
            report = enqueue_directory(
                self.root,
                self._store,
                batch_name=name,
                routes=self._routes,
                students=self._students,
                settle_s=self._settle_s,
                notify_url=self._notify_url,
            )
        except PASSING as e:
            self.summary.failed_passes += 1
            log.warning("watch of %s: this pass failed (%s); trying again", self.root, e)
            self._listing = None
            return self._changed([WatchEvent(name, "", "error", str(e))])
        self._listing = listing
        if name not in self.summary.batches:
            self.summary.batches.append(name)
        events = self._events(report)
        # Enqueue reports every file still settling on each pass: look again until none is.
        self._waiting = any(event.outcome == "waiting" for event in events)
        self._outcomes.pop("", None)  # the pass worked: a later failure is news again
        return self._changed(events)

    def run(
        self,
        stop: threading.Event,
        interval_s: float,
        on_event: Callable[[WatchEvent], None],
    ) -> WatchSummary:
        """Pass after pass until ``stop`` is set; each change goes to ``on_event``."""
        while not stop.is_set():
            for event in self.run_once():
                on_event(event)
            stop.wait(interval_s)
        return self.summary

    def _events(self, report: EnqueueReport) -> list[WatchEvent]:
        name = report.batch_name
        events = [WatchEvent(name, path, "queued") for path in report.queued]
        for rejected in report.rejected:
            waiting = rejected.code == STILL_BEING_WRITTEN
            outcome = "waiting" if waiting else "rejected"
            events.append(
                WatchEvent(name, rejected.rel_path, outcome, rejected.reason, rejected.code)
            )
        events += [
            WatchEvent(name, dup.rel_path, "already sent", dup.reason, dup.code)
            for dup in report.duplicates
        ]
        # A waiting file taken by another enqueue meanwhile is no longer waiting.
        for path in report.already_known:
            if self._outcomes.get(path, ("",))[0] == "waiting":
                self._outcomes[path] = ("queued", None)
        return events

    def _changed(self, events: list[WatchEvent]) -> list[WatchEvent]:
        """The events that tell something new: a file's first outcome, or a different one."""
        news = []
        for event in events:
            outcome = (event.outcome, event.code if event.outcome != "error" else event.reason)
            if self._outcomes.get(event.rel_path) == outcome:
                continue
            self._outcomes[event.rel_path] = outcome
            news.append(event)
            if event.outcome == "queued":
                self.summary.queued += 1
            elif event.outcome == "rejected":
                self.summary.rejected += 1
            elif event.outcome == "already sent":
                self.summary.duplicates += 1
        return news
