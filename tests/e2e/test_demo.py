"""The demo leaves a result: its teachers' report, its S3 objects on disk, and commands that
run exactly as it prints them, after it has ended (and, with --keep, while its services run).

The demo runs for real, as ``make demo`` runs it (``.venv/bin/scangrade demo``), in a
subprocess of its own with a private database and Redis db and none of the test session's
settings: the session's workers, if any, never see its tasks. Its printed commands are parsed
from its output and run through ``sh`` from the checkout, as a newcomer would paste them.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from support.web import CSRF

from devkit.s3_standin import holder
from devkit.standins import free_port
from devkit.testdb import claim_redis_db, drop_database
from pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


SCANGRADE = Path(sys.executable).parent / "scangrade"


# As the demo prints it: relative to the checkout it runs from (.venv/bin/scangrade).
SHOWN = str(SCANGRADE.relative_to(ROOT)) if SCANGRADE.is_relative_to(ROOT) else str(SCANGRADE)


REDIS_BASE = os.environ.get("SCANGRADE_TEST_REDIS", "redis://127.0.0.1:6379")


PG_BASE = os.environ.get("SCANGRADE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")


DEMO_TIMEOUT_S = 900


@dataclass(frozen=True)
class DemoRun:
    root: Path
    output: str
    batch: str


@pytest.fixture(scope="module")
def newcomer_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A shell with no SCANGRADE_* settings but a database and Redis db of the demo's own (and
    a state directory, where ``serve`` keeps its cookie key, of its own)."""
    redis_url = claim_redis_db(REDIS_BASE, f"pytest-demo-{uuid.uuid4().hex}")
    database_url = f"{PG_BASE}/scangrade_demo_{uuid.uuid4().hex[:10]}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("SCANGRADE_")}
    env.update(
        {
            "SCANGRADE_DATABASE_URL": database_url,
            "SCANGRADE_REDIS_URL": redis_url,
            "SCANGRADE_METRICS_PORT": "0",
            "COLUMNS": "100",
            "XDG_STATE_HOME": str(tmp_path_factory.mktemp("state")),
        }
    )
    yield env
    drop_database(Settings(database_url=database_url))
    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture(scope="module")
def first_demo(newcomer_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    root = tmp_path_factory.mktemp("demo") / "var-demo"
    output = _demo(newcomer_env, root)
    return DemoRun(root, output, _batch_name(output))


def test_the_demo_writes_its_report_and_stops_what_it_started(first_demo: DemoRun) -> None:
    report = Path(_line_after(first_demo.output, "The teachers' report").strip())
    assert report.is_file() and report.parent.parent == first_demo.root
    assert report.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    pages, pictures = _pages_and_pictures(first_demo.output)
    assert pages >= 20 and pictures == pages
    # Its S3 stopped with it, and left its objects behind on disk.
    objects = first_demo.root / "s3" / "requests.jsonl"
    assert holder(objects) is None
    assert objects.stat().st_size > 1_000_000


def test_the_commands_it_prints_run_as_printed_after_it_ended(
    first_demo: DemoRun, newcomer_env: dict[str, str]
) -> None:
    commands = _commands(first_demo.output)
    assert commands[0] == f"{SHOWN} demo --s3-only --dir {first_demo.root}"
    assert [c.split()[3] for c in commands[1:]] == ["status", "report", "replay", "export"]
    assert all(first_demo.batch in command for command in commands[1:])
    started = _sh(commands[0], newcomer_env)
    pids = _kill_line_pids(started)
    try:
        status, report, replay, export = (_sh(c, newcomer_env) for c in commands[1:])
        assert f"batch {first_demo.batch}" in status and "done" in status
        # Every page image read back from an S3 started afresh from the objects on disk.
        pages, pictures = _pages_and_pictures(report)
        assert pages >= 20 and pictures == pages
        rebuilt = re.search(r"(\d+) tasks rebuilt from S3", replay)
        assert rebuilt and int(rebuilt.group(1)) >= 20
        slots = re.search(r"wrote (\S+): (\d+) slots", export)
        assert slots and int(slots.group(2)) > 0 and Path(slots.group(1)).is_file()
        _the_teachers_app_shows_a_page(first_demo.output, newcomer_env)
    finally:
        _sh("kill " + " ".join(map(str, pids)), newcomer_env)
        _wait_gone(pids)


def _the_teachers_app_shows_a_page(output: str, env: dict[str, str]) -> None:
    """The printed ``serve`` (on a free port), signed in with the printed account: a page of
    the batch and its picture, read from the demo's S3."""
    signin = re.search(r"^  open \S+ and sign in as (\S+), password (\S+)$", output, re.M)
    assert signin, output[-3000:]
    serve = next(line.strip() for line in output.splitlines() if line.endswith(" serve"))
    assert serve.startswith(f"{SHOWN} --env-file "), serve
    port = free_port()
    app = subprocess.Popen(
        ["sh", "-c", f"exec {serve} --port {port}"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_answering(client, app)
            token = CSRF.search(client.get("/login").text)
            assert token
            fields = {"csrf": token.group(1), "next": "/"}
            fields |= {"username": signin.group(1), "password": signin.group(2)}
            assert client.post("/login", data=fields).status_code == 303
            batch = _link(client, "/", r'href="([^"]*/batches/\d+)"')
            school_class = _link(client, batch, r'href="([^"]*/batches/\d+/classes/\d+)"')
            page = _link(client, school_class, r'href="([^"#]*/pages/\d+)')
            image = client.get(page + "/image")
            assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        app.wait(timeout=30)


def _link(client: httpx.Client, url: str, pattern: str) -> str:
    """The first link on the page at ``url`` that ``pattern`` matches."""
    shown = client.get(url)
    found = re.search(pattern, shown.text)
    assert shown.status_code == 200 and found, shown.text[-2000:]
    return found.group(1)


def _wait_answering(client: httpx.Client, app: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert app.poll() is None, f"serve exited with {app.returncode}"
        try:
            client.get("/login")
            return
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail("the printed serve command never answered")


def test_a_second_demo_keeps_its_services_and_the_first_batch_is_still_there(
    first_demo: DemoRun, newcomer_env: dict[str, str]
) -> None:
    output = _demo(newcomer_env, first_demo.root, "--keep")
    second = _batch_name(output)
    assert second != first_demo.batch
    exports = dict(
        shlex.split(line.strip())[1].split("=", 1)
        for line in output.splitlines()
        if line.startswith("  export SCANGRADE_")
    )
    kill = next(line.strip() for line in output.splitlines() if line.startswith("  kill "))
    pids = [int(pid) for pid in kill.split()[1:]]
    assert len(pids) == 3
    try:
        assert {"SCANGRADE_S3_ENDPOINT_URL", "SCANGRADE_DATABASE_URL"} <= exports.keys()
        shell = {k: v for k, v in newcomer_env.items() if not k.startswith("SCANGRADE_")}
        kept = {**shell, **exports}
        for batch in (first_demo.batch, second):
            report = _sh(
                f"{SHOWN} report {batch} -o {first_demo.root}/again-{batch}.html",
                kept,
            )
            pages, pictures = _pages_and_pictures(report)
            assert pages >= 20 and pictures == pages, batch
        # The commands it printed run too while its services are up (no --s3-only first).
        commands = _commands(output)
        assert [c.split()[3] for c in commands] == ["status", "report", "replay", "export"]
        for command in commands:
            _sh(command, newcomer_env)
    finally:
        _sh(kill, newcomer_env)
        _wait_gone(pids)


def _demo(env: dict[str, str], root: Path, *options: str) -> str:
    done = subprocess.run(
        [str(SCANGRADE), "demo", "--dir", str(root), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def _sh(command: str, env: dict[str, str]) -> str:
    """Run a printed command as a pasted shell line, from the checkout."""
    done = subprocess.run(
        ["sh", "-c", command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command}\n{output[-3000:]}"
    return output


def _commands(output: str) -> list[str]:
    """The scangrade command lines of the demo's last "Look at it again" list."""
    tail = output.rsplit("Look at it again", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.startswith(f"  {SHOWN} ")]


def _batch_name(output: str) -> str:
    found = re.search(r"enqueued batch (demo-\d{8}-\d{6})", output)
    assert found, output[-3000:]
    return found.group(1)


def _line_after(output: str, marker: str) -> str:
    lines = output.splitlines()
    index = next(i for i, line in enumerate(lines) if marker in line)
    return lines[index + 1]


def _pages_and_pictures(output: str) -> tuple[int, int]:
    found = re.search(r"(\d+) pages, (\d+) pictures", output)
    assert found, output[-3000:]
    return int(found.group(1)), int(found.group(2))


def _kill_line_pids(output: str) -> list[int]:
    line = next(line.strip() for line in output.splitlines() if line.startswith("  kill "))
    return [int(pid) for pid in line.split()[1:]]


def _wait_gone(pids: list[int], timeout_s: float = 120) -> None:
    """Every process group a printed pid leads is gone; whatever lingers is killed and fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not [pid for pid in pids if _group_alive(pid)]:
            return
        time.sleep(0.5)
    left = [pid for pid in pids if _group_alive(pid)]
    for pid in left:
        os.killpg(pid, signal.SIGKILL)
    pytest.fail(f"still running {timeout_s:g} s after kill: process groups {left}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
