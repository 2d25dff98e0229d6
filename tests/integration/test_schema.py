"""The migrations and the models agree, and every table and column is documented."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from pipeline.adapters.db.models import Base
from pipeline.adapters.db.session import get_engine
from pipeline.settings import Settings

REFERENCE_TABLES = {"correct_results", "question_types", "alembic_version"}


def test_migrations_match_models(env: Settings) -> None:
    with get_engine().connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": lambda name, type_, _: (
                    not (type_ == "table" and name in REFERENCE_TABLES)
                )
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_every_table_and_column_has_a_comment(env: Settings) -> None:
    with get_engine().connect() as conn:
        missing = (
            conn.execute(
                text("""
            SELECT c.relname || '.' || a.attname
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace
              AND c.relname <> 'alembic_version' AND a.attnum > 0 AND NOT a.attisdropped
              AND col_description(a.attrelid, a.attnum) IS NULL
        """)
            )
            .scalars()
            .all()
        )
        tables = (
            conn.execute(
                text("""
            SELECT relname FROM pg_class
            WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
              AND relname <> 'alembic_version' AND obj_description(oid) IS NULL
        """)
            )
            .scalars()
            .all()
        )
    assert missing == []
    assert tables == []


def test_reference_tables_explain_codes(env: Settings) -> None:
    with get_engine().connect() as conn:
        meanings = dict(conn.execute(text("SELECT code, meaning FROM correct_results")).all())
        types = conn.execute(text("SELECT count(*) FROM question_types")).scalar_one()
    assert meanings == {
        0: "not graded",
        1: "correct",
        2: "wrong",
        3: "unanswered",
        4: "partial",  # a teacher's grade only (0012)
    }
    assert types == 19
