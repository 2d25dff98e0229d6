"""Where the tests find the shared services, the provider key they all use, and the
environment that points a test run (or one test module) at services of its own."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import redis

from devkit.standins import free_port
from devkit.testdb import claim_redis_db, copy_database, drop_database, settings_from
from pipeline.adapters import objectstore
from pipeline.adapters.schema import migrate
from pipeline.adapters.services import forget_connections, problems
from pipeline.settings import Settings

REDIS_BASE = os.environ.get("SCANGRADE_TEST_REDIS", "redis://127.0.0.1:6379")
PG_BASE = os.environ.get("SCANGRADE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
API_KEY, SECRET_KEY = "test-api-key", "test-secret-key"

# Fast provider for tests: quotas x10 and processing times x1/50 of the documented ones.
SIMULATOR_ARGS = ("--key", f"{API_KEY}:{SECRET_KEY}", "--quota-scale", "10", "--time-scale", "0.02")


def _settings_for(database: str, redis_url: str, s3_url: str, simulator_url: str) -> dict[str, str]:
    return {
        "SCANGRADE_DATABASE_URL": f"{PG_BASE}/{database}",
        "SCANGRADE_REDIS_URL": redis_url,
        "SCANGRADE_S3_ENDPOINT_URL": s3_url,
        "SCANGRADE_S3_BUCKET": "scangrade-test",
        "SCANGRADE_S3_ACCESS_KEY_ID": "testing",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "testing",
        "SCANGRADE_BAIDU_BASE_URL": simulator_url,
        "SCANGRADE_BAIDU_API_KEY": API_KEY,
        "SCANGRADE_BAIDU_SECRET_KEY": SECRET_KEY,
        "SCANGRADE_CORRECT_EDU_CREATE_QPS": "20",
        "SCANGRADE_CORRECT_EDU_GET_QPS": "20",
        "SCANGRADE_PAPER_CUT_CREATE_QPS": "20",
        "SCANGRADE_PAPER_CUT_GET_QPS": "100",
        "SCANGRADE_COMPOSITION_CREATE_QPS": "20",
        "SCANGRADE_COMPOSITION_GET_QPS": "100",
        "SCANGRADE_FORMULA_QPS": "20",
        "SCANGRADE_CUSTOM_OCR_QPS": "20",
        "SCANGRADE_POLL_FIRST_MIN_S": "0.2",
        "SCANGRADE_POLL_FIRST_MAX_S": "0.4",
        "SCANGRADE_POLL_MAX_INTERVAL_S": "1",
        "SCANGRADE_STALE_AFTER_S": "20",
        "SCANGRADE_INGEST_CONCURRENCY": "2",
        # The tests write their scans just before enqueueing them.
        "SCANGRADE_SETTLE_S": "0",
        "SCANGRADE_METRICS_PORT": str(free_port()),
    }


class ServicesDown(RuntimeError):
    """Postgres or Redis does not answer: no test that needs them can run."""


@contextlib.contextmanager
def migrated_template() -> Iterator[str]:
    """A database migrated to head, to copy (:func:`own_services`); dropped afterwards."""
    name = f"scangrade_template_{uuid.uuid4().hex[:10]}"
    settings = Settings(database_url=f"{PG_BASE}/{name}")
    migrate(settings)
    try:
        yield name
    finally:
        drop_database(settings)


@contextlib.contextmanager
def own_services(template: str, s3_url: str, simulator_url: str) -> Iterator[Settings]:
    """Point every setting at a database of our own (a copy of ``template``), a Redis db of our
    own, and the given S3 and simulator; drop the one and flush the other afterwards.

    The environment is the process's, so whatever the code under test builds from the
    settings (engines, Redis clients, the broker) uses these; the previous values come back
    after.
    """
    redis_url = claim_redis_db(REDIS_BASE, f"pytest-{uuid.uuid4().hex}")
    database = f"scangrade_test_{uuid.uuid4().hex[:10]}"
    values = _settings_for(database, redis_url, s3_url, simulator_url)
    with settings_from(values) as settings:
        try:
            down = problems(settings)
            if down:
                raise ServicesDown(f"tests need Postgres and Redis: {down}")
            copy_database(settings, template)
            objectstore.get_store().ensure_bucket()
            yield settings
        finally:
            forget_connections()
            drop_database(settings)
            redis.Redis.from_url(settings.redis_url).flushdb()
