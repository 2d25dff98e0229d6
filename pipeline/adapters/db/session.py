"""Engine and sessions: one pool per process, sized by what the process does.

Connections are a budget shared by every host (Postgres' ``max_connections``), so each
process role gets a pool of its own size (:data:`POOLS`, the README's "Connections"):

- ``worker``, a prefork child, runs one task at a time. Its task takes one connection at
  its first statement, reuses it for every later session and gives it back to the server
  when it ends (:func:`release_connections`, after each task). A refused connection can so
  only come at a task's first statement, before it changed anything: retrying is safe.
  Idle children, and tasks waiting out a retry's countdown, hold none. The overflow of one
  is for the control node's reconciler, whose repair holds a lock on a second session.
- ``cli``, a command: one connection, one more for a nested session.
- ``web``, ``scangrade serve``: its handlers run on a thread pool, a session each; four
  connections, four more at a peak, and a request waits for one beyond that.
- ``service``: beat, the supervisor, a worker's main process, a /metrics endpoint. They
  rarely touch Postgres: no pool, a connection only while a session is open.

A refused or failed connect is a :class:`~pipeline.errors.DatabaseUnavailable` (the callers'
transient error, retried with backoff), never a bare driver error.

:func:`timing_queries` adds up the time the statements run within it take, on whatever
connection: the periodic tasks report theirs (``scangrade_periodic_query_seconds``), so an
operator sees the dispatcher's or the reconciler's queries slow down as the tables grow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from pipeline.adapters.broker import CONTROL_QUEUE
from pipeline.errors import DatabaseUnavailable
from pipeline.settings import get_settings


class PoolRole(StrEnum):
    """What a process does with Postgres; decides its pool (see :data:`POOLS`)."""

    WORKER = "worker"
    CLI = "cli"
    WEB = "web"
    SERVICE = "service"


@dataclass(frozen=True)
class PoolSize:
    """A QueuePool's size; ``size == 0``: no pool at all (NullPool)."""

    size: int
    overflow: int

    @property
    def most(self) -> int:
        """Connections the process can hold at once (NullPool: one per open session)."""
        return self.size + self.overflow


POOLS: dict[PoolRole, PoolSize] = {
    PoolRole.WORKER: PoolSize(1, 1),
    PoolRole.CLI: PoolSize(1, 1),
    PoolRole.WEB: PoolSize(4, 4),
    PoolRole.SERVICE: PoolSize(0, 0),
}

_role = PoolRole.CLI


def use_pool(role: PoolRole) -> None:
    """Declare this process's role; the next engine is built with that role's pool."""
    global _role
    _role = role
    dispose_engine()


def pool_role() -> PoolRole:
    """The role this process declared (``cli`` unless told otherwise)."""
    return _role


def connections_needed(nodes: Iterable[tuple[str, int]], *, commands: int = 1) -> int:
    """Connections a host needs at most: its worker nodes, a /metrics scrape and commands.

    ``nodes`` are (queues, children) of each Celery worker node of the host; a stage child
    holds one connection at most, a child of the control node two (``POOLS``). ``commands``:
    CLI commands running on the host at the same time (``enqueue --wait``, ``watch``).
    """
    worker = POOLS[PoolRole.WORKER]
    children = sum(
        count * (worker.most if CONTROL_QUEUE in queues.split(",") else worker.size)
        for queues, count in nodes
    )
    return children + 1 + commands * POOLS[PoolRole.CLI].most


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process's engine; call :func:`dispose_engine` in a forked child before use."""
    pool = POOLS[_role]
    sizing: dict[str, object] = (
        {"poolclass": NullPool}
        if pool.size == 0
        else {"pool_size": pool.size, "max_overflow": pool.overflow, "pool_pre_ping": True}
    )
    engine = create_engine(
        get_settings().database_url,
        connect_args={
            "connect_timeout": 10,
            "application_name": f"scangrade {_role} {os.getpid()}",
        },
        **sizing,
    )
    event.listen(engine, "handle_error", _refused)
    event.listen(engine, "before_cursor_execute", _statement_starts)
    event.listen(engine, "after_cursor_execute", _statement_ends)
    return engine


@dataclass
class QueryClock:
    """What the statements run within :func:`timing_queries` took: seconds, and how many."""

    seconds: float = 0.0
    statements: int = 0


_query_clock: ContextVar[QueryClock | None] = ContextVar("query_clock", default=None)
_STARTED = "scangrade_statement_started"


@contextmanager
def timing_queries() -> Iterator[QueryClock]:
    """Time every statement run in this context (a failed one is not counted)."""
    clock = QueryClock()
    token = _query_clock.set(clock)
    try:
        yield clock
    finally:
        _query_clock.reset(token)


def _statement_starts(conn: Connection, *_: object) -> None:
    if _query_clock.get() is not None:
        conn.info[_STARTED] = time.perf_counter()


def _statement_ends(conn: Connection, *_: object) -> None:
    clock, started = _query_clock.get(), conn.info.pop(_STARTED, None)
    if clock is not None and started is not None:
        clock.seconds += time.perf_counter() - started
        clock.statements += 1


def _refused(context: ExceptionContext) -> None:
    """A connect that failed (too many clients, server down) becomes DatabaseUnavailable.

    Only errors raised while connecting: there is no connection yet, so nothing was done. A
    pooled connection's failed pre-ping (the server restarted) is left to the pool, which
    replaces the connection with a fresh one.
    """
    if context.is_pre_ping:
        return
    if context.connection is None and isinstance(context.sqlalchemy_exception, OperationalError):
        reason = str(context.original_exception).strip().splitlines()[0]
        raise DatabaseUnavailable(f"Postgres refused a connection: {reason}") from (
            context.sqlalchemy_exception
        )


def release_connections() -> None:
    """Close the connections idle in this process's pool, giving them back to the server."""
    if get_engine.cache_info().currsize:
        get_engine().pool.dispose()


def dispose_engine() -> None:
    """Drop pooled connections inherited from a parent process (never share them)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)
    get_engine.cache_clear()
    _factory.cache_clear()


@lru_cache(maxsize=1)
def _factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = _factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
