"""The package as a user installs it, away from this checkout.

The wheel is built from a copy of what the Dockerfile copies, installed into a fresh venv and
run from a directory that holds no source: ``scangrade migrate`` on a new database,
``scangrade workers``, ``scangrade simulator`` and a small batch graded to the end. The
third-party packages come from the development venv through one ``.pth`` line, appended after
the new venv's own site-packages, so nothing is downloaded; ``pipeline`` and ``workers`` still
resolve to the wheel (asserted: the dev venv's editable-install hook is not run from a
directory a ``.pth`` appends).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from conftest import PG_BASE, REDIS_BASE

from devkit.samples import make_scanned_pdf
from devkit.standins import Service, free_port, start_s3
from pipeline.adapters.services import claim_redis_db, drop_database
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("pyproject.toml", "README.md", "pipeline", "workers")  # what the Dockerfile copies
API_KEY, SECRET_KEY = "installed-api-key", "installed-secret-key"
SEEDS = (16_001, 16_002, 16_003)  # pages of this module only


@dataclass(frozen=True)
class Installed:
    """A fresh venv holding the wheel, and a working directory that holds no source."""

    wheel: Path
    venv: Path
    site: Path
    home: Path
    logs: Path

    def run(
        self, argv: list[str], env: Mapping[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """A command of the installed venv, run from ``home``."""
        return subprocess.run(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=self.home,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, argv: list[str], env: Mapping[str, str], log: str) -> Service:
        """A long-running command of the installed venv, in its own process group."""
        out = open(self.logs / log, "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=self.home,
            env=dict(env),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        out.close()
        return Service(argv[0], proc)


def _build_wheel(work: Path) -> Path:
    source = work / "source"
    source.mkdir()
    caches = shutil.ignore_patterns("__pycache__")
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=caches)
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = work / "dist"
    argv = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)]
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("scangrade-*.whl")
    return wheel


def _fresh_venv(work: Path, wheel: Path) -> tuple[Path, Path]:
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run([*pip, "--no-index", "-q", str(wheel)], check=True, capture_output=True)
    where = [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
    site = Path(subprocess.run(where, check=True, capture_output=True, text=True).stdout.strip())
    (site / "zz_dev_venv_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv, site


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("installed")
    wheel = _build_wheel(work)
    venv, site = _fresh_venv(work, wheel)
    (work / "home").mkdir()
    (work / "logs").mkdir()
    return Installed(wheel, venv, site, work / "home", work / "logs")


def _clean_env(installed: Installed, values: Mapping[str, str]) -> dict[str, str]:
    """The environment a user's shell would give: this venv first, nothing of the checkout."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SCANGRADE_", "PYTHON", "VIRTUAL_ENV"))
    }
    path = f"{installed.venv / 'bin'}:/usr/bin:/bin"
    return {**inherited, "PATH": path, "HOME": str(installed.home), **values}


def test_the_wheel_ships_the_migrations(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    versions = {p.name for p in (ROOT / "pipeline" / "migrations" / "versions").glob("*.py")}
    assert versions, "no migrations in the checkout"
    for name in ("env.py", "script.py.mako", *(f"versions/{v}" for v in versions)):
        assert f"pipeline/migrations/{name}" in names, name
    assert not any(n.startswith(("migrations/", "tests/")) for n in names)


def test_the_venv_imports_the_wheel_not_the_checkout(installed: Installed) -> None:
    code = "import pipeline, workers.app, alembic; print(pipeline.__file__, workers.__file__)"
    done = installed.run(["python", "-c", code], _clean_env(installed, {}))
    assert done.returncode == 0, done.stderr
    for path in map(Path, done.stdout.split()):
        assert path.is_relative_to(installed.site), path
        assert not path.resolve().is_relative_to(ROOT), path


def _settings(s3: Service, simulator_url: str) -> dict[str, str]:
    return {
        "SCANGRADE_DATABASE_URL": f"{PG_BASE}/scangrade_installed_{uuid.uuid4().hex[:10]}",
        "SCANGRADE_REDIS_URL": claim_redis_db(REDIS_BASE, f"pytest-installed-{uuid.uuid4().hex}"),
        "SCANGRADE_S3_ENDPOINT_URL": s3.url,
        "SCANGRADE_S3_BUCKET": "scangrade-installed",
        "SCANGRADE_S3_ACCESS_KEY_ID": "testing",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "testing",
        "SCANGRADE_BAIDU_BASE_URL": simulator_url,
        "SCANGRADE_BAIDU_API_KEY": API_KEY,
        "SCANGRADE_BAIDU_SECRET_KEY": SECRET_KEY,
        "SCANGRADE_POLL_FIRST_MIN_S": "0.2",
        "SCANGRADE_POLL_FIRST_MAX_S": "0.4",
        "SCANGRADE_POLL_MAX_INTERVAL_S": "1",
        "SCANGRADE_SETTLE_S": "0",
        "SCANGRADE_METRICS_PORT": "0",
        # One worker per stage: three pages need no more, and a shared machine starts fewer.
        **{
            f"SCANGRADE_{stage}_CONCURRENCY": "1"
            for stage in ("INGEST", "SUBMIT", "POLL", "PERSIST")
        },
    }


def _wait_http(service: Service, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert service.process.poll() is None, f"{service.name} exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{service.name} did not answer at {url}")


@pytest.fixture
def stack(installed: Installed) -> Iterator[dict[str, str]]:
    """S3 (moto, from the dev venv), the installed simulator, and settings of their own."""
    s3 = start_s3(installed.logs / "s3.log")
    port = free_port()
    values = _settings(s3, f"http://127.0.0.1:{port}")
    env = _clean_env(installed, values)
    sim_args = ["--key", f"{API_KEY}:{SECRET_KEY}", "--quota-scale", "10", "--time-scale", "0.02"]
    argv = ["scangrade", "simulator", "--port", str(port), *sim_args]
    simulator = installed.start(argv, env, "simulator.log")
    try:
        _wait_http(simulator, f"{values['SCANGRADE_BAIDU_BASE_URL']}/_sim/stats")
        yield env
    finally:
        simulator.stop()
        s3.stop()
        drop_database(Settings(database_url=values["SCANGRADE_DATABASE_URL"]))
        redis.Redis.from_url(values["SCANGRADE_REDIS_URL"]).flushdb()


def _page_states(env: Mapping[str, str], batch: str) -> dict[str, int]:
    dsn = env["SCANGRADE_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT p.state, count(*) FROM pages p JOIN batches b ON b.id = p.batch_id"
            " WHERE b.name = %s GROUP BY p.state",
            (batch,),
        ).fetchall()
        closed = conn.execute("SELECT state FROM batches WHERE name = %s", (batch,)).fetchone()
    return {str(state): int(n) for state, n in rows} | {"batch": closed[0] if closed else None}


def test_installed_package_migrates_and_grades_a_batch(
    installed: Installed, stack: dict[str, str]
) -> None:
    migrated = installed.run(["scangrade", "migrate"], stack)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    scans = installed.home / "scans" / "2026-12-02"
    (scans / "8C").mkdir(parents=True)
    (scans / "8C" / "homework.pdf").write_bytes(make_scanned_pdf(list(SEEDS)))
    batch = f"installed-{uuid.uuid4().hex[:8]}"
    workers = installed.start(["scangrade", "workers"], stack, "workers.log")
    try:
        enqueue = ["scangrade", "enqueue", str(scans), "--batch", batch, "--wait"]
        done = installed.run(enqueue, stack, timeout=300)  # ~30 s on an idle host
    finally:
        workers.stop()
    log = (installed.logs / "workers.log").read_text(errors="replace")[-3000:]
    assert done.returncode == 0, done.stdout + done.stderr + log
    assert _page_states(stack, batch) == {"done": len(SEEDS), "batch": "done"}
