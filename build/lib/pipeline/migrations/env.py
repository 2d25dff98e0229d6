"""Alembic environment: the URL comes from scangrade's settings, never from a file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pipeline.adapters.db.models import Base
from pipeline.settings import get_settings

target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.attributes.get("database_url") or get_settings().database_url
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
