"""Keeping the S3 stand-in's memory to what the pipeline may still read, on a long night.

moto holds every object in memory: a night of 20,000 pages archives some 20 GB there, more
than the host has, where real S3 would not notice. Once a document has ended (each of its
pages done, failed or skipped), the pipeline never reads its objects again, so every minute
the janitor deletes the objects of the pages of the documents that ended since its last
sweep. It is the
bench's, not the pipeline's: its deletes cost the stand-in's CPU, and its one query a minute
on the scenario's database (a few milliseconds) is counted as Postgres'.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
from sqlalchemy import text

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.db.states import LIVE_PAGE_STATES, sql_states

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 60.0
_OVERLAP = timedelta(seconds=120)
"""Each sweep looks a little further back than the last: a page's change commits late."""
_BATCH = 1000
"""Keys per DeleteObjects request (S3's most)."""

_ENDED_OBJECTS = text(
    f"""
    WITH ended AS (
      SELECT DISTINCT p.document_id FROM pages p
      WHERE p.state = 'done' AND p.updated_at >= :since
        AND NOT EXISTS (SELECT 1 FROM pages live WHERE live.document_id = p.document_id
                        AND live.state IN {sql_states(LIVE_PAGE_STATES)}))
    SELECT a.id, a.s3_key
    FROM ended e JOIN pages p ON p.document_id = e.document_id
    JOIN artifacts a ON a.page_id = p.id
    WHERE a.state = 'archived'
    """
)
"""The objects of the pages of the documents that ended: found from the pages (one index probe
each), so a sweep costs what the last minutes' pages cost. A document's original (no page) is
left: one object a document, never read again either, but found only by a scan."""


class Janitor:
    """A thread that deletes the objects of ended documents from the S3 stand-in."""

    def __init__(self, s3_url: str, bucket: str) -> None:
        self._s3 = boto3.client(
            "s3",
            endpoint_url=s3_url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        )
        self._bucket = bucket
        self._deleted: set[int] = set()
        self._since = datetime.now(UTC) - _OVERLAP
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s3-janitor", daemon=True)

    @property
    def deleted(self) -> int:
        """Objects deleted so far."""
        return len(self._deleted)

    def start(self) -> None:
        """Sweep every minute until :meth:`stop`."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(SWEEP_EVERY_S):
            try:
                self.sweep()
            except Exception:  # the stand-in's memory is at stake, not the run
                log.exception("the S3 janitor's sweep failed")

    def sweep(self) -> int:
        """Delete the objects of the documents that ended since the last sweep; how many."""
        started = datetime.now(UTC)
        with session_scope() as session:
            rows = session.execute(_ENDED_OBJECTS, {"since": self._since}).all()
        fresh = [(row.id, row.s3_key) for row in rows if row.id not in self._deleted]
        for start in range(0, len(fresh), _BATCH):
            chunk = fresh[start : start + _BATCH]
            objects: list[ObjectIdentifierTypeDef] = [{"Key": key} for _, key in chunk]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})
            self._deleted.update(artifact_id for artifact_id, _ in chunk)
        self._since = started - _OVERLAP
        return len(fresh)
