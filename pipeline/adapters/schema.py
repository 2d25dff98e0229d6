"""Creating the database and applying the Alembic migrations.

The migrations ship inside the package (``pipeline/migrations``), so an installed copy migrates
without the source tree. Kept apart from ``pipeline.adapters.services`` so that the workers and
the commands that only read, which never migrate, do not load Alembic.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from pipeline import migrations
from pipeline.adapters.services import server_dsn
from pipeline.settings import Settings

MIGRATIONS = Path(migrations.__file__).resolve().parent
"""Alembic's script directory (env.py, versions/), wherever the package is installed."""


def create_database(settings: Settings) -> bool:
    """Create the configured database if it does not exist; True if it was created."""
    name = make_url(settings.database_url).database
    assert name, "SCANGRADE_DATABASE_URL names no database"
    with psycopg.connect(server_dsn(settings), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for ``database_url``, built from the package: no file is read."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Create the database if needed and apply the Alembic migrations."""
    create_database(settings)
    command.upgrade(alembic_config(settings.database_url), revision)
