"""The fixtures every tier shares. The service fixtures start only when a test asks for them:
a database of our own per run (created and dropped), a Redis db number of our own, moto's S3
server, the provider simulator over HTTP and, for end-to-end tests, real Celery worker
processes started by ``scangrade workers``. tests/unit asks for none (its conftest fails a
unit test that does); helpers that are not fixtures live in the ``support`` package."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from support.services import API_KEY, PG_BASE, REDIS_BASE, SECRET_KEY, SIMULATOR_ARGS

from devkit import samples
from devkit.standins import Service, free_port, start_s3, start_simulator, start_workers
from devkit.testdb import claim_redis_db, drop_database
from pipeline.adapters import objectstore
from pipeline.adapters.services import forget_connections, migrate, problems
from pipeline.settings import Settings, get_settings


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def simulator(logs_dir: Path) -> Iterator[Service]:
    service = start_simulator(SIMULATOR_ARGS, logs_dir / "simulator.log")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def s3(logs_dir: Path) -> Iterator[Service]:
    service = start_s3(logs_dir / "s3.log")
    yield service
    service.stop()


@pytest.fixture(scope="session")
def env(simulator: Service, s3: Service) -> Iterator[Settings]:
    """Point every setting at this run's own database, Redis db, S3 and simulator."""
    redis_url = claim_redis_db(REDIS_BASE, f"pytest-{uuid.uuid4().hex}")
    database = f"scangrade_test_{uuid.uuid4().hex[:10]}"
    values = {
        "SCANGRADE_DATABASE_URL": f"{PG_BASE}/{database}",
        "SCANGRADE_REDIS_URL": redis_url,
        "SCANGRADE_S3_ENDPOINT_URL": s3.url,
        "SCANGRADE_S3_BUCKET": "scangrade-test",
        "SCANGRADE_S3_ACCESS_KEY_ID": "testing",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "testing",
        "SCANGRADE_BAIDU_BASE_URL": simulator.url,
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
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    forget_connections()
    settings = get_settings()
    down = problems(settings)
    if down:
        pytest.exit(f"tests need Postgres and Redis: {down}", returncode=3)
    migrate(settings)
    objectstore.get_store().ensure_bucket()
    yield settings
    forget_connections()
    drop_database(settings)
    redis.Redis.from_url(settings.redis_url).flushdb()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def workers(env: Settings, logs_dir: Path) -> Iterator[Service]:
    service = start_workers({}, logs_dir / "workers.log")
    yield service
    service.stop()


@pytest.fixture
def sim_http(simulator: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=simulator.url, timeout=30) as client:
        yield client


@pytest.fixture
def seed_answer() -> bytes:
    """The seed's own example answer of correct_edu's get_result, verbatim."""
    return (
        Path(__file__).resolve().parent / "fixtures" / "correct_edu_get_result_ok.json"
    ).read_bytes()


@pytest.fixture(scope="module")
def page_jpeg() -> bytes:
    """One sample page as a JPEG of quality 60."""
    return samples.jpeg_bytes(samples.make_page_image(1), quality=60)
