"""The package as a user installs it, away from this checkout.

The wheel is built from a copy of what the Dockerfile copies, installed into a fresh venv and
run from a directory that holds no source: ``scangrade migrate`` on a new database,
``scangrade workers`` and a small batch graded to the end. The wheel is the product alone: it
holds neither the simulator nor the dev kit and imports neither, so the provider it grades
against is the simulator of the development venv (``python -m simulator``), as S3 is moto's.
The third-party packages come from the development venv through one ``.pth`` line, appended
after the new venv's own site-packages, so nothing is downloaded; ``pipeline`` and ``workers``
still resolve to the wheel, and ``simulator`` and ``devkit`` not at all (asserted: neither the
dev venv's editable-install hook nor its clone-root ``.pth`` is run from a directory a ``.pth``
appends).
"""

from __future__ import annotations

import ast
import contextlib
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
from support.services import PG_BASE, REDIS_BASE
from support.web import CSRF, PASSWORD

from devkit.samples import make_scanned_pdf
from devkit.standins import Service, free_port, start_s3, start_simulator
from devkit.testdb import claim_redis_db, drop_database
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("pyproject.toml", "README.md", "pipeline", "workers")  # what the Dockerfile copies
API_KEY, SECRET_KEY = "installed-api-key", "installed-secret-key"
SEEDS = (16_001, 16_002, 16_003)  # pages of this module only
BESIDE = ("simulator", "devkit")  # top-level packages of the clone, not of the wheel


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


def _imported(source: str) -> set[str]:
    """The top-level packages a module's ``import`` statements name, at any depth."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_the_wheel_is_the_product_alone(installed: Installed) -> None:
    """Neither the simulator nor the dev kit is in the wheel, nor named by an import in it."""
    wheel = zipfile.ZipFile(installed.wheel)
    names = wheel.namelist()
    assert not any(n.startswith(tuple(f"{b}/" for b in BESIDE)) for n in names), names
    packages = {n.split("/")[0] for n in names if n.endswith(".py")}
    assert packages == {"pipeline", "workers"}, packages
    importers = {
        name: sorted(_imported(wheel.read(name).decode()) & set(BESIDE))
        for name in names
        if name.endswith(".py")
    }
    assert {name: found for name, found in importers.items() if found} == {}


_IMPORT_ALL = """
import importlib, pkgutil, sys
import pipeline, workers
for package in (pipeline, workers):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        # Alembic runs the migrations; a __main__ runs its command when imported.
        if not module.name.startswith("pipeline.migrations.") and module.name[-9:] != ".__main__":
            importlib.import_module(module.name)
print(*sorted(name for name in sys.modules if name.split(".")[0] in {beside!r}))
for name in {beside!r}:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        continue
    sys.exit(f"{{name}} is importable from the installed venv")
"""


def test_the_installed_product_works_without_the_simulator_and_the_dev_kit(
    installed: Installed,
) -> None:
    """Every module of the wheel imports in a venv where the clone's packages are not."""
    code = _IMPORT_ALL.format(beside=BESIDE)
    done = installed.run(["python", "-c", code], _clean_env(installed, {}), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "", done.stdout


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


@pytest.fixture
def stack(installed: Installed) -> Iterator[dict[str, str]]:
    """S3 (moto) and the simulator, both from the dev venv, and settings of their own."""
    sim_args = ["--key", f"{API_KEY}:{SECRET_KEY}", "--quota-scale", "10", "--time-scale", "0.02"]
    with contextlib.ExitStack() as cleanup:
        s3 = start_s3(installed.logs / "s3.log")
        cleanup.callback(s3.stop)
        simulator = start_simulator(sim_args, installed.logs / "simulator.log")
        cleanup.callback(simulator.stop)
        values = _settings(s3, simulator.url)
        cleanup.callback(redis.Redis.from_url(values["SCANGRADE_REDIS_URL"]).flushdb)
        cleanup.callback(drop_database, Settings(database_url=values["SCANGRADE_DATABASE_URL"]))
        yield _clean_env(installed, values)


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
    _the_installed_app_shows_the_batch(installed, stack, batch)


def _the_installed_app_shows_the_batch(
    installed: Installed, env: dict[str, str], batch: str
) -> None:
    """``users add`` and ``serve`` of the wheel: its templates and assets are in it."""
    add = ["scangrade", "users", "add", "head", "--role", "admin", "--password-stdin"]
    added = subprocess.run(
        [str(installed.venv / "bin" / add[0]), *add[1:]],
        input=f"{PASSWORD}\n",
        cwd=installed.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    port = free_port()
    app = installed.start(["scangrade", "serve", "--port", str(port)], env, "web.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_answering(client, app)
            login = client.get("/login")
            token = CSRF.search(login.text)
            assert token, login.text[-2000:]
            fields = {"csrf": token.group(1), "next": "/", "username": "head"}
            assert client.post("/login", data=fields | {"password": PASSWORD}).status_code == 303
            assert batch in client.get("/").text
            assert client.get("/static/web.css").status_code == 200
    finally:
        app.stop()


def _wait_answering(client: httpx.Client, app: Service) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert app.process.poll() is None, f"serve exited with {app.process.returncode}"
        try:
            client.get("/login")
            return
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail("the installed serve never answered")


@pytest.mark.parametrize("command", ["demo", "simulator"])
def test_the_installed_dev_kit_commands_say_they_need_a_clone(
    installed: Installed, command: str
) -> None:
    done = installed.run(["scangrade", command], _clean_env(installed, {}))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "needs a clone" in done.stderr and "make demo" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
