"""Check: the rows whose state their other rows do not support, each with its repair.

Every stage moves a row and writes what backs the move in one transaction, so a page past
submit always has its task, a persisted task its result rows, a done page its archived
objects. A row that breaks one of these is never work in progress: it is a bug, a crash the
pipeline did not foresee, or a hand edit. ``scangrade check`` lists them; the reconciler runs
the same queries every pass and repairs the safe ones (:mod:`pipeline.stages.repair`).

One SQL query per invariant, each bounded by ``LIMIT`` and served by an index on the states
it looks for. ``scangrade check`` looks at every row. The reconciler's pass looks only at the
rows that changed in a :class:`Window`: those whose age crossed ``SCANGRADE_STALE_AFTER_S``
since its last pass, the first moment one of their findings could be repaired. So a pass
costs what the last half-minute of work costs, not what the night's (or the year's) tables
hold; once every ``SCANGRADE_FULL_CHECK_EVERY_S`` it looks at everything
(:func:`pipeline.stages.repair.repair`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from pipeline.adapters.db.api_tables import result_tables
from pipeline.adapters.db.states import LIVE_PAGE_STATES, sql_states
from pipeline.settings import Settings

#: Findings listed per invariant and pass; the next pass lists the next ones once repaired.
LIMIT = 200


@dataclass(frozen=True)
class Window:
    """Rows last changed at or after ``since`` and before ``until`` (their ``updated_at``)."""

    since: datetime
    until: datetime


@dataclass(frozen=True)
class Finding:
    """A row whose state is not backed by its other rows.

    ``fix`` names the reconciler's repair (``None``: reported only, ``repair`` says what a
    person should do); ``since`` is when the row last changed, the reconciler's horizon.
    """

    kind: str
    batch_id: int
    table: str
    row_id: int
    why: str
    repair: str
    since: datetime
    fix: str | None = None
    task_row_id: int | None = None


def current_document(alias: str) -> str:
    """The SQL condition that keeps a documents row ``alias`` only if it is in force.

    Rows of a superseded document version (a rescan replaced it) are kept for the record but
    are no longer in force: this and :func:`current_page` are the one place to exclude them.
    """
    return f"{alias}.superseded_at IS NULL"


def current_page(alias: str) -> str:
    """The SQL condition that keeps a pages row ``alias`` only if its document is in force."""
    return (
        f"NOT EXISTS (SELECT 1 FROM documents sd WHERE sd.id = {alias}.document_id"
        " AND sd.superseded_at IS NOT NULL)"
    )


def _batch(column: str) -> str:
    return f"(CAST(:batch_id AS bigint) IS NULL OR {column} = :batch_id)"


def _changed(column: str, windowed: bool) -> str:
    """The condition that keeps a row changed within the window, if the query has one."""
    return f"{column} >= :since AND {column} < :until" if windowed else "TRUE"


_PAST_SUBMIT = "('submitted', 'persisting', 'archiving', 'done')"
LIVE_PAGES = sql_states(LIVE_PAGE_STATES)
# The page's latest task, one probe per page (ix_provider_tasks_page_latest): never an anti-join
# over later tasks, which a planner can turn into a scan of every task for every page.
_LATEST_TASK = """LEFT JOIN LATERAL (
        SELECT t.id, t.state, t.raw_key, t.error, t.error_code, t.result_rows
        FROM provider_tasks t
        WHERE t.page_id = p.id ORDER BY t.id DESC LIMIT 1) t ON TRUE"""


def _page_without_task(row: Row[Any]) -> Finding:
    fix = "resubmitted" if row.state == "submitted" and row.image_key else None
    repair = (
        "the reconciler sends it again, counted in pages.ambiguous_submits (the provider "
        "may have billed the lost task)"
        if fix
        else "its results have no task to come from (or it has no image to send): "
        "`scangrade retry` once it is failed, or restore the provider_tasks row"
    )
    why = f"page is {row.state} but has no provider task"
    return Finding(
        "page_without_task", row.batch_id, "pages", row.row_id, why, repair, row.since, fix
    )


def _page_without_task_sql(windowed: bool) -> str:
    return f"""
    SELECT p.batch_id, p.id AS row_id, p.updated_at AS since, p.state, p.image_key
    FROM pages p
    WHERE p.state IN {_PAST_SUBMIT} AND {_batch("p.batch_id")} AND {current_page("p")}
      AND {_changed("p.updated_at", windowed)}
      AND NOT EXISTS (SELECT 1 FROM provider_tasks t WHERE t.page_id = p.id)
    ORDER BY p.id LIMIT :limit
    """


def _page_task_mismatch(row: Row[Any]) -> Finding:
    fix: str | None = None
    repair = "report only: find out how the page moved without its task, then fix by hand"
    if row.state == "submitted" and row.task_state == "finished":
        fix, repair = "persist_nudged", "the reconciler moves it to persisting and persists it"
    elif row.state == "submitted" and row.task_state == "failed":
        fix, repair = "page_failed", "the reconciler fails the page with its task's error"
    why = f"page is {row.state} but its task {row.task_row_id} is {row.task_state}"
    return Finding(
        "page_task_mismatch",
        row.batch_id,
        "pages",
        row.row_id,
        why,
        repair,
        row.since,
        fix,
        row.task_row_id,
    )


def _page_task_mismatch_sql(windowed: bool) -> str:
    return f"""
    SELECT p.batch_id, p.id AS row_id, p.updated_at AS since, p.state,
           t.id AS task_row_id, t.state AS task_state
    FROM pages p {_LATEST_TASK}
    WHERE p.state IN {_PAST_SUBMIT} AND {_batch("p.batch_id")} AND {current_page("p")}
      AND {_changed("p.updated_at", windowed)}
      AND t.id IS NOT NULL
      AND CASE WHEN p.state = 'submitted' THEN t.state <> 'running'
               ELSE t.state <> 'finished' END
    ORDER BY p.id LIMIT :limit
    """


def _task_without_rows(row: Row[Any]) -> Finding:
    fix = "repersisted" if row.raw_key else None
    repair = (
        "the reconciler writes them again from the archived raw answer (as `scangrade replay`)"
        if fix
        else "no raw answer is recorded: the page must be sent again (`scangrade retry`)"
    )
    why = f"task of page {row.page_id} wrote {row.result_rows} result rows; none are left"
    return Finding(
        "task_without_rows",
        row.batch_id,
        "provider_tasks",
        row.row_id,
        why,
        repair,
        row.since,
        fix,
        row.row_id,
    )


def _no_result_rows() -> str:
    return " AND ".join(
        f"NOT EXISTS (SELECT 1 FROM {table.name} r WHERE r.provider_task_id = t.id)"
        for table in result_tables()
    )


def _task_without_rows_sql(windowed: bool) -> str:
    return f"""
    SELECT p.batch_id, t.id AS row_id, p.updated_at AS since, p.id AS page_id,
           t.raw_key, t.result_rows
    FROM pages p {_LATEST_TASK}
    WHERE p.state IN ('archiving', 'done') AND {_batch("p.batch_id")} AND {current_page("p")}
      AND {_changed("p.updated_at", windowed)}
      AND t.state = 'finished' AND t.result_rows > 0
      AND {_no_result_rows()}
    ORDER BY t.id LIMIT :limit
    """


def _artifact_missing(row: Row[Any]) -> Finding:
    repair = (
        "report only: copy the object back to S3 and its artifacts row (archived), or mark "
        "the artifact lost with the reason; pending images: move the page to archiving"
    )
    why = f"done page lacks {row.missing}"
    return Finding(
        "artifact_missing", row.batch_id, "pages", row.row_id, why, repair, row.since, None
    )


_ARCHIVED = "a.state IN ('archived', 'lost')"


def _artifact_missing_sql(windowed: bool) -> str:
    """Done pages missing an archived object, one anti-join per kind of object.

    Each branch is driven by the done pages, found once (or, for pending objects, by the few
    pending artifacts): a night of done pages is a few index lookups per page, never a scan
    per page.
    """
    done = (
        f"p.state = 'done' AND {_batch('p.batch_id')} AND {current_page('p')}"
        f" AND {_changed('p.updated_at', windowed)}"
    )
    return f"""
    WITH done AS MATERIALIZED (SELECT p.id, p.image_key FROM pages p WHERE {done}),
    pending AS MATERIALIZED (
      SELECT a.page_id, a.kind, a.s3_key FROM artifacts a WHERE a.state = 'pending'),
    missing AS (
      SELECT d.id AS page_id, 'its page image ' || d.image_key AS what
      FROM done d WHERE d.image_key IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.s3_key = d.image_key AND {_ARCHIVED})
      UNION ALL
      SELECT d.id, 'its raw answer ' || t.raw_key
      FROM done d CROSS JOIN LATERAL (
        SELECT t.raw_key FROM provider_tasks t WHERE t.page_id = d.id ORDER BY t.id DESC LIMIT 1
      ) t
      WHERE t.raw_key IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.s3_key = t.raw_key AND {_ARCHIVED})
      UNION ALL
      SELECT d.id, 'its ' || a.kind || ' ' || a.s3_key || ' (still pending)'
      FROM pending a JOIN done d ON d.id = a.page_id
      UNION ALL
      SELECT d.id, 'its question crop ' || q.crop_key
      FROM done d JOIN questions q ON q.page_id = d.id
      WHERE q.crop_key IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.s3_key = q.crop_key AND {_ARCHIVED})
    )
    SELECT p.batch_id, p.id AS row_id, p.updated_at AS since,
           string_agg(m.what, '; ' ORDER BY m.what) AS missing
    FROM missing m JOIN pages p ON p.id = m.page_id
    GROUP BY p.id ORDER BY p.id LIMIT :limit
    """


def _batch_idle(row: Row[Any]) -> Finding:
    why = "batch is running but every document and page ended"
    repair = "the reconciler closes it (and sends its --notify summary)"
    return Finding(
        "batch_idle", row.batch_id, "batches", row.batch_id, why, repair, row.since, "batch_closed"
    )


_BATCH_IDLE = f"""
    SELECT b.id AS batch_id, greatest(b.created_at,
             (SELECT max(updated_at) FROM pages WHERE batch_id = b.id),
             (SELECT max(updated_at) FROM documents WHERE batch_id = b.id)) AS since
    FROM batches b
    WHERE b.state = 'running' AND {_batch("b.id")}
      AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.batch_id = b.id
                      AND d.state IN ('pending', 'ingesting') AND {current_document("d")})
      AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.batch_id = b.id
                      AND p.state IN {LIVE_PAGES} AND {current_page("p")})
    ORDER BY b.id LIMIT :limit
"""


def _document_without_pages(row: Row[Any]) -> Finding:
    why = "document is ingested but has no pages"
    repair = "the reconciler ingests it again from its archived original"
    return Finding(
        "document_without_pages",
        row.batch_id,
        "documents",
        row.row_id,
        why,
        repair,
        row.since,
        "reingested",
    )


def _document_without_pages_sql(windowed: bool) -> str:
    return f"""
    SELECT d.batch_id, d.id AS row_id, d.updated_at AS since
    FROM documents d
    WHERE d.state = 'ingested' AND {_batch("d.batch_id")} AND {current_document("d")}
      AND {_changed("d.updated_at", windowed)}
      AND NOT EXISTS (SELECT 1 FROM pages p WHERE p.document_id = d.id)
    ORDER BY d.id LIMIT :limit
    """


def _document_failed_live(row: Row[Any]) -> Finding:
    why = f"document failed ({row.error_code}) but {row.live} of its pages are still on their way"
    repair = "report only: its pages go on; clear the document's failure if they end done"
    return Finding(
        "document_failed_live_pages",
        row.batch_id,
        "documents",
        row.row_id,
        why,
        repair,
        row.since,
    )


_DOCUMENT_FAILED_LIVE = f"""
    SELECT d.batch_id, d.id AS row_id, d.updated_at AS since, d.error_code, live.n AS live
    FROM documents d
    CROSS JOIN LATERAL (SELECT count(*) AS n FROM pages p WHERE p.document_id = d.id
                        AND p.state IN {LIVE_PAGES}) live
    WHERE d.state = 'failed' AND {_batch("d.batch_id")} AND {current_document("d")} AND live.n > 0
    ORDER BY d.id LIMIT :limit
"""


def _claim_orphaned(row: Row[Any]) -> Finding:
    why = f"{row.tbl[:-1]} is {row.state} past the task time limit: its worker was lost"
    repair = "the reconciler gives it back (submit_reset, ingest_reset) on its next pass"
    return Finding("claim_orphaned", row.batch_id, row.tbl, row.row_id, why, repair, row.since)


_CLAIM_ORPHANED = f"""
    (SELECT 'pages' AS tbl, p.batch_id, p.id AS row_id, p.updated_at AS since, p.state
     FROM pages p WHERE p.state = 'submitting' AND p.updated_at < :crashed
       AND {_batch("p.batch_id")} AND {current_page("p")} ORDER BY p.id LIMIT :limit)
    UNION ALL
    (SELECT 'documents', d.batch_id, d.id, d.updated_at, d.state
     FROM documents d WHERE d.state = 'ingesting' AND d.updated_at < :crashed
       AND {_batch("d.batch_id")} AND {current_document("d")} ORDER BY d.id LIMIT :limit)
"""


def _task_running_page_ended(row: Row[Any]) -> Finding:
    why = f"task is still polled but its page {row.page_id} is {row.state}"
    repair = "report only: nothing will use its answer; mark the task failed to stop polling"
    return Finding(
        "task_running_page_ended",
        row.batch_id,
        "provider_tasks",
        row.row_id,
        why,
        repair,
        row.since,
        None,
        row.row_id,
    )


_TASK_RUNNING_PAGE_ENDED = f"""
    SELECT p.batch_id, t.id AS row_id, p.updated_at AS since, p.id AS page_id, p.state
    FROM provider_tasks t JOIN pages p ON p.id = t.page_id
    WHERE t.state = 'running' AND p.state IN ('done', 'failed', 'skipped')
      AND {_batch("p.batch_id")} AND {current_page("p")}
    ORDER BY t.id LIMIT :limit
"""

Check = tuple[str, Callable[[bool], str], Callable[[Row[Any]], Finding]]
"""(kind, its query, with or without a window, how a row of it reads).

Checks of work in flight (claims, running tasks, running batches) see few rows whatever the
tables hold and have no window; checks of rows that may have ended long ago have one.
"""

#: Every check, in the order a page goes through the stages.
CHECKS: tuple[Check, ...] = (
    ("document_without_pages", _document_without_pages_sql, _document_without_pages),
    ("document_failed_live_pages", lambda _: _DOCUMENT_FAILED_LIVE, _document_failed_live),
    ("claim_orphaned", lambda _: _CLAIM_ORPHANED, _claim_orphaned),
    ("page_without_task", _page_without_task_sql, _page_without_task),
    ("page_task_mismatch", _page_task_mismatch_sql, _page_task_mismatch),
    ("task_running_page_ended", lambda _: _TASK_RUNNING_PAGE_ENDED, _task_running_page_ended),
    ("task_without_rows", _task_without_rows_sql, _task_without_rows),
    ("artifact_missing", _artifact_missing_sql, _artifact_missing),
    ("batch_idle", lambda _: _BATCH_IDLE, _batch_idle),
)
KINDS = tuple(kind for kind, _, _ in CHECKS)


def check(
    session: Session,
    settings: Settings,
    batch_id: int | None = None,
    *,
    limit: int = LIMIT,
    window: Window | None = None,
) -> list[Finding]:
    """Every finding, of one batch or all, or of the rows changed in ``window``.

    A batch counts as idle past ``stale_after_s``.
    """
    return list(_run(session, settings, batch_id, limit, window))


def _run(
    session: Session, settings: Settings, batch_id: int | None, limit: int, window: Window | None
) -> Iterator[Finding]:
    now = datetime.now(UTC)
    params: dict[str, Any] = {
        "batch_id": batch_id,
        "limit": limit,
        "crashed": now - timedelta(seconds=settings.orphaned_claim_s()),
    }
    if window is not None:
        params |= {"since": window.since, "until": window.until}
    stale = now - timedelta(seconds=settings.stale_after_s)
    for kind, query, finding in CHECKS:
        for row in session.execute(text(query(window is not None)), params):
            found = finding(row)
            if kind == "batch_idle" and found.since >= stale:
                continue  # it may just have ended: the batch's own close is due any moment
            yield found
