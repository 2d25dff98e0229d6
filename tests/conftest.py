"""The fixtures every tier shares. The service fixtures start only when a test asks for them:
a database of our own per run (created and dropped), a Redis db number of our own, moto's S3
server, the provider simulator over HTTP and, for end-to-end tests, real Celery worker
processes started by ``scangrade workers``. tests/unit asks for none (its conftest fails a
unit test that does); helpers that are not fixtures live in the ``support`` package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.services import SIMULATOR_ARGS, ServicesDown, migrated_template, own_services

from devkit import samples
from devkit.standins import Service, start_s3, start_simulator, start_workers
from pipeline.settings import Settings

SLOWEST_FIRST = (
    "tests/e2e/test_demo.py",
    "tests/e2e/test_faults_services.py",
    "tests/e2e/test_concurrent_enqueue.py",
    "tests/e2e/test_two_hosts.py",
    "tests/e2e/test_faults_provider.py",
    "tests/e2e/test_task_identity.py",
    "tests/e2e/test_loud_workers.py",
    "tests/e2e/test_installed.py",
    "tests/e2e/test_bad_input.py",
    "tests/integration/test_label_corpus.py",
)
"""The modules that took over a minute each (``--durations``), in the order the run starts them.

xdist hands a worker a whole module (``--dist loadfile``) in the collection's order
(``--no-loadscope-reorder``): started last, one of these would keep the run going alone on
one worker long after the others ran out of work.
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the modules of :data:`SLOWEST_FIRST` first, in its order; the rest keep theirs."""
    root = Path(__file__).resolve().parent.parent
    gone = [module for module in SLOWEST_FIRST if not (root / module).is_file()]
    if gone:
        raise pytest.UsageError(f"SLOWEST_FIRST names modules that are not there: {gone}")
    rank = {module: position for position, module in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


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
def template_database() -> Iterator[str]:
    """A migrated database that each environment below starts as a copy of."""
    with migrated_template() as name:
        yield name


@pytest.fixture(scope="session")
def env(template_database: str, simulator: Service, s3: Service) -> Iterator[Settings]:
    """Point every setting at this run's own database, Redis db, S3 and simulator.

    tests/integration overrides it with one per module: an end-to-end module's workers (which
    run for the rest of the session) must not poll, nudge or repair an integration test's rows.
    """
    try:
        with own_services(template_database, s3.url, simulator.url) as settings:
            yield settings
    except ServicesDown as e:
        pytest.exit(str(e), returncode=3)


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
