"""A pipeline of a module's own: its database, Redis db, S3, a restartable simulator and
real workers, with settings of its own, so faults and short time limits reach no other test."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from devkit.standins import Service, free_port, start_s3, start_simulator, start_workers
from devkit.testdb import claim_redis_db, drop_database, settings_from
from pipeline.adapters import objectstore
from pipeline.adapters.schema import migrate
from pipeline.adapters.services import forget_connections
from support.services import PG_BASE, REDIS_BASE

API_KEY, SECRET_KEY = "stack-api-key", "stack-secret-key"
FAST_PROVIDER = ("--quota-scale", "10", "--time-scale", "0.02")


@dataclass
class Stack:
    """The services of one module; ``restart_simulator`` keeps its port (workers keep it)."""

    logs: Path
    sim_port: int
    sim_args: tuple[str, ...]
    simulator: Service
    workers: Service
    sim: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.sim = httpx.Client(base_url=self.simulator.url, timeout=30)

    def restart_simulator(self) -> None:
        """Stop the simulator and start a fresh one on the same port: it forgets everything."""
        self.simulator.stop()
        self.simulator = _simulator(self.sim_port, self.sim_args, self.logs)


def _simulator(port: int, args: tuple[str, ...], logs: Path) -> Service:
    argv = ("--key", f"{API_KEY}:{SECRET_KEY}", *args, "--port", str(port))
    return start_simulator(argv, logs / "simulator.log")


def _fast_defaults(s3_url: str, simulator_url: str) -> dict[str, str]:
    """A database, Redis db and S3 bucket of the stack's own; short polls and stale times."""
    return {
        "SCANGRADE_DATABASE_URL": f"{PG_BASE}/scangrade_stack_{uuid.uuid4().hex[:10]}",
        "SCANGRADE_REDIS_URL": claim_redis_db(REDIS_BASE, f"pytest-stack-{uuid.uuid4().hex}"),
        "SCANGRADE_S3_ENDPOINT_URL": s3_url,
        "SCANGRADE_S3_BUCKET": "scangrade-stack",
        "SCANGRADE_S3_ACCESS_KEY_ID": "testing",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "testing",
        "SCANGRADE_BAIDU_BASE_URL": simulator_url,
        "SCANGRADE_BAIDU_API_KEY": API_KEY,
        "SCANGRADE_BAIDU_SECRET_KEY": SECRET_KEY,
        "SCANGRADE_BAIDU_KEYS": "[]",
        "SCANGRADE_POLL_FIRST_MIN_S": "0.2",
        "SCANGRADE_POLL_FIRST_MAX_S": "0.4",
        "SCANGRADE_POLL_MAX_INTERVAL_S": "1",
        "SCANGRADE_STALE_AFTER_S": "5",
        "SCANGRADE_RECONCILE_EVERY_S": "2",
        "SCANGRADE_INGEST_CONCURRENCY": "1",
        "SCANGRADE_SETTLE_S": "0",
        "SCANGRADE_METRICS_PORT": "0",
        **{f"SCANGRADE_{api}_QPS": "20" for api in ("FORMULA", "CUSTOM_OCR")},
        **{
            f"SCANGRADE_{api}_{op}_QPS": "20"
            for api in ("CORRECT_EDU", "PAPER_CUT", "COMPOSITION")
            for op in ("CREATE", "GET")
        },
    }


@contextlib.contextmanager
def private_stack(logs: Path, settings: Mapping[str, str]) -> Iterator[Stack]:
    """Start the services with ``settings`` on top of fast test defaults; stop them after."""
    s3 = start_s3(logs / "s3.log")
    port = free_port()
    simulator = _simulator(port, FAST_PROVIDER, logs)
    values = {**_fast_defaults(s3.url, simulator.url), **settings}
    with settings_from(values) as current:
        migrate(current)
        objectstore.get_store().ensure_bucket()
        stack = Stack(logs, port, FAST_PROVIDER, simulator, start_workers({}, logs / "workers.log"))
        try:
            yield stack
        finally:
            stack.workers.stop()
            stack.sim.close()
            stack.simulator.stop()
            s3.stop()
            forget_connections()
            drop_database(current)
            redis.Redis.from_url(values["SCANGRADE_REDIS_URL"]).flushdb()
