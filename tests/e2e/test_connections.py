"""The connection budget: pools sized per process role, and a batch that finishes short of them.

The unit tests check each role's pool and that the README's figure for a host is what the
default topology needs. The end-to-end test starts a Postgres cluster of its own whose
``max_connections`` lies well below what this module's workers need at peak (6 of 18), runs a
batch on real workers through it, and requires every page done within a poll's lease,
refusals seen in Postgres' log, no traceback in the workers' log and one line per refusal at
most.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text
from support.connections import pool_nodes
from support.stacks import Stack, private_stack

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import free_port
from pipeline.adapters.db import DB_UNAVAILABLE
from pipeline.adapters.db.models import Batch, Page
from pipeline.adapters.db.session import (
    connections_needed,
    release_connections,
    session_scope,
)
from pipeline.adapters.objectstore import get_store
from pipeline.errors import DatabaseUnavailable
from pipeline.settings import Settings
from pipeline.stages.enqueue import enqueue_directory

PAGES = 20


SHORT_BY = 12


REFUSED = "sorry, too many clients already"


STACK_CONCURRENCY = {"ingest": 1, "submit": 4, "poll": 4, "persist": 4}


STACK_SETTINGS = {f"{name}_concurrency": count for name, count in STACK_CONCURRENCY.items()}


BATCH_WITHIN_S = 60.0


@dataclass(frozen=True)
class Cluster:
    url: str
    log: Path
    max_connections: int


def _pg_bin(name: str) -> str | None:
    found = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(*argv: str) -> None:
    """Run a server binary as the postgres user when we are root (initdb refuses root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A throwaway cluster (trust auth, loopback) allowing a few connections too few."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("the Postgres server binaries (initdb, pg_ctl) are not installed")
    peak = connections_needed(
        pool_nodes(Settings(**STACK_SETTINGS)), commands=1
    )  # this test is the command
    allowed = peak - SHORT_BY
    root = Path(tempfile.mkdtemp(prefix="scangrade-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, log, port = root / "data", root / "postgres.log", free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections={allowed}"
        " -c superuser_reserved_connections=0 -c fsync=off"
    )
    try:
        _as_postgres(initdb, "-D", str(data), "-A", "trust", "-U", "postgres")
        _as_postgres(pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/scangrade_conns"
            yield Cluster(url, log, allowed)
        finally:
            _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {
        "SCANGRADE_DATABASE_URL": cluster.url,
        **{f"SCANGRADE_{n.upper()}_CONCURRENCY": str(c) for n, c in STACK_CONCURRENCY.items()},
    }
    with private_stack(tmp_path_factory.mktemp("conns-logs"), settings) as started:
        yield started


def _wait_ready(stack: Stack, timeout: float = 150) -> None:
    """Until every worker node of the stack said it is ready (a loaded host is slow to)."""
    nodes = len(pool_nodes(Settings(**STACK_SETTINGS)))
    deadline = time.monotonic() + timeout
    log = stack.logs / "workers.log"
    while len(re.findall(r"@\S+ ready\.", log.read_text(errors="replace"))) < nodes:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.5)


def _enqueue(root: Path) -> int:
    root.mkdir(parents=True)
    salt = uuid.uuid4().int % 10_000
    for n in range(PAGES):
        image = make_page_image(880_000 + salt * 100 + n, 620, 877)
        (root / f"page-{n:02d}.jpg").write_bytes(jpeg_bytes(image))
    return enqueue_directory(root, get_store(), batch_name=root.name).batch_id


def _states(batch_id: int) -> tuple[str, dict[str, int]]:
    """The batch's state and its pages by state; retried while Postgres refuses us too."""
    while True:
        try:
            with session_scope() as session:
                state = session.scalar(select(Batch.state).where(Batch.id == batch_id))
                rows = session.execute(
                    select(Page.state, func.count())
                    .where(Page.batch_id == batch_id)
                    .group_by(Page.state)
                )
                return str(state), {page_state: int(count) for page_state, count in rows}
        except DB_UNAVAILABLE:
            time.sleep(0.2)


def _idle_worker_connections(samples: int = 6) -> int:
    """The fewest connections the worker children held over a few samples (0.3 s apart)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'scangrade worker %'"
    )
    seen = []
    for _ in range(samples):
        with session_scope() as session:
            seen.append(int(session.scalar(query) or 0))
        time.sleep(0.3)
    return min(seen)


def test_a_batch_finishes_on_too_few_connections(
    stack: Stack, cluster: Cluster, tmp_path: Path
) -> None:
    _wait_ready(stack)
    batch_id = _enqueue(tmp_path / f"conns-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    state, pages = _states(batch_id)
    while state != "done" and time.monotonic() - started < BATCH_WITHIN_S:
        time.sleep(0.5)
        state, pages = _states(batch_id)
    took = time.monotonic() - started
    refusals = cluster.log.read_text(errors="replace").count(REFUSED)
    worker_log = (stack.logs / "workers.log").read_text(errors="replace")
    print(
        f"max_connections={cluster.max_connections}: {PAGES} pages in {took:.1f} s, "
        f"{refusals} connections refused"
    )
    assert (state, pages) == ("done", {"done": PAGES}), f"after {took:.0f} s: {pages}"
    assert took < BATCH_WITHIN_S
    assert _idle_worker_connections() <= 1  # idle children hold none (dispatch ticks on)
    assert refusals > 0, "connections never ran short: the test proves nothing"
    assert "Traceback" not in worker_log
    # One line per refusal at most: the retry's, or the periodic task's warning.
    told = [line for line in worker_log.splitlines() if "refused a connection" in line]
    assert 0 < len(told) <= refusals


def test_a_refused_connect_is_database_unavailable(stack: Stack, cluster: Cluster) -> None:
    """Every slot taken by other clients: our next connect is a DatabaseUnavailable."""
    release_connections()
    dsn = cluster.url.replace("postgresql+psycopg", "postgresql")
    others: list[psycopg.Connection[object]] = []
    try:
        while len(others) < cluster.max_connections:
            try:
                others.append(psycopg.connect(dsn, connect_timeout=5))
            except psycopg.OperationalError:
                break
        refused = pytest.raises(DatabaseUnavailable, match="refused a connection")
        with refused, session_scope() as session:
            session.execute(select(1))
    finally:
        for conn in others:
            conn.close()
