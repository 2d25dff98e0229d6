"""A no-op task that only travels: the broker's bare cost of the pipeline's hops (``make bench``).

The benchmark's ceiling scenario sends one chain per page through the queues a page takes
(ingest, submit, poll, persist, archive) on the very workers that just ran the batch, so the
pipeline's pages per second can be set against what Celery and Redis alone allow. Nothing
here touches Postgres, S3 or the provider.
"""

from __future__ import annotations

import time

from pipeline.adapters.provider import get_redis
from workers.app import app

HOP_TASK = "scangrade.hop"
DONE_KEY = "scangrade:bench:hops:done"
"""How many chains reached their last hop."""
LAST_KEY = "scangrade:bench:hops:last"
"""When the latest chain did (epoch seconds, as text)."""


@app.task(name=HOP_TASK)
def hop(chain_id: int, remaining: list[str]) -> None:
    """Forward the chain to the next queue in ``remaining``, or record that it arrived.

    ``chain_id`` only travels along, so a stuck chain can be found in the broker.
    """
    if remaining:
        hop.apply_async(args=[chain_id, remaining[1:]], queue=remaining[0])
        return
    with get_redis().pipeline() as pipe:
        pipe.incr(DONE_KEY)
        pipe.set(LAST_KEY, repr(time.time()))
        pipe.execute()
