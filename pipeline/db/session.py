"""Engine and sessions: one pool per process, rebuilt after a fork."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from pipeline.settings import get_settings


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    """The process's engine; call :func:`dispose_engine` in a forked child before use."""
    return create_engine(
        get_settings().database_url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args={"connect_timeout": 10, "application_name": "scangrade"},
    )


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
