"""The life cycles of documents, pages and provider tasks.

Postgres holds the state; every transition is a compare-and-set (``UPDATE … WHERE state =
:expected``) so that two deliveries of the same Celery message cannot both act. A message
that finds its row in another state is a duplicate and does nothing.

Page: ``ready → submitting → submitted → persisting → archiving → done``, and ``failed`` from
any stage with a readable ``error``; ``skipped`` at ingest for a blank page (never sent).
``submitting → ready`` when a submit must be retried.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class BatchState(StrEnum):
    """Whether a batch still has pages on their way."""

    RUNNING = "running"
    DONE = "done"


class DocumentState(StrEnum):
    """Where a scanned file is on its way to pages."""

    PENDING = "pending"
    INGESTING = "ingesting"
    INGESTED = "ingested"
    FAILED = "failed"
    SKIPPED = "skipped"  # already sent in another batch: see duplicate_of


class PageState(StrEnum):
    """Where one page is on its way to graded rows and archived images."""

    READY = "ready"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    PERSISTING = "persisting"
    ARCHIVING = "archiving"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # blank (a duplex back): never sent, never billed


TERMINAL_PAGE_STATES = frozenset({PageState.DONE, PageState.FAILED, PageState.SKIPPED})
LIVE_PAGE_STATES = tuple(state for state in PageState if state not in TERMINAL_PAGE_STATES)
"""States of a page still on its way. In SQL, ``state IN (live)`` is a few lookups in an index
on the state, where ``state NOT IN (terminal)`` walks every ended page to find none."""


def sql_states(states: Iterable[str]) -> str:
    """``('a', 'b')``: states as an SQL list, for a query's text."""
    return "(" + ", ".join(f"'{state}'" for state in states) + ")"


class TaskState(StrEnum):
    """A provider task: created by create_task, watched by get_result."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class ArtifactState(StrEnum):
    """An object that must reach S3."""

    PENDING = "pending"
    ARCHIVED = "archived"
    LOST = "lost"
