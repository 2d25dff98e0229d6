"""Waiting for a batch that real workers are grading."""

from __future__ import annotations

import time

from pipeline.db.session import session_scope
from pipeline.progress import batch_progress


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
