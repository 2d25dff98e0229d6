"""Batches in the tests: waiting for real workers, pages with a finished task, and what the
simulator answered."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch, Document, Page, ProviderTask
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import PageState
from pipeline.adapters.objectstore import StoredObject, get_store, result_prefix
from pipeline.domain.progress import batch_progress


def wait_until_done(batch_id: int, timeout: float = 180) -> None:
    """Return once every page of the batch ended and the batch is closed; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            progress = batch_progress(session, batch_id)
        if progress.finished and progress.state == "done":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"batch did not finish: {progress}")
        time.sleep(0.5)


def wait_for_page(page_id: int, state: str = PageState.DONE, timeout: float = 60) -> None:
    """Return once the page reached ``state``; fail on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as session:
            if session.get_one(Page, page_id).state == state:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"page {page_id} never reached {state}")
        time.sleep(0.1)


def sim_answers(sim_http: httpx.Client, operation: str) -> Counter[str]:
    """The simulator's answers to one operation so far, by outcome ("ok", "18", "drop"…)."""
    return Counter(sim_http.get("/_sim/stats").json()["calls"].get(operation, {}))


@dataclass(frozen=True)
class FinishedTask:
    """Rows of a page whose provider task finished, its raw answer already in S3."""

    batch_id: int
    document_id: int
    page_id: int
    task_row_id: int
    stored: StoredObject


def _new_batch(session: Session, name: str, api: str) -> int:
    batch = Batch(name=name, root_dir="/scans", api=api)
    session.add(batch)
    session.flush()
    return batch.id


def record_finished_task(
    answer: bytes,
    *,
    api: str,
    rel_path: str,
    task_id: str,
    batch_name: str | None = None,
    batch_id: int | None = None,
    document: dict[str, Any] | None = None,
    page: dict[str, Any] | None = None,
    task: dict[str, Any] | None = None,
) -> FinishedTask:
    """A page waiting to be persisted: in a new batch (``batch_name``) or an existing one.

    ``document``, ``page`` and ``task`` set further columns of those rows.
    """
    store = get_store()
    with session_scope() as session:
        if batch_id is None:
            batch_id = _new_batch(session, batch_name or task_id, api)
        kind = "pdf" if rel_path.endswith(".pdf") else "image"
        doc = Document(
            batch_id=batch_id,
            rel_path=rel_path,
            **({"kind": kind, "api": api, "state": "ingested"} | (document or {})),
        )
        session.add(doc)
        session.flush()
        row = Page(
            batch_id=batch_id,
            document_id=doc.id,
            page_no=1,
            **({"state": "persisting"} | (page or {})),
        )
        session.add(row)
        session.flush()
        key = f"{result_prefix(batch_id, doc.id, 1, task_id)}/result.json"
        stored = store.put(key, answer, "application/json")
        provider_task = ProviderTask(
            page_id=row.id,
            api=api,
            task_id=task_id,
            raw_key=key,
            **({"state": "finished", "key_id": "key-test"} | (task or {})),
        )
        session.add(provider_task)
        session.flush()
        return FinishedTask(batch_id, doc.id, row.id, provider_task.id, stored)
