"""When Postgres or Redis is down, the operator is told exactly what to start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devkit.standins import free_port
from pipeline.adapters.services import ServiceDown, ensure_services
from pipeline.settings import Settings


def _nowhere() -> Settings:
    port = free_port()
    return Settings(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/scangrade",
        redis_url=f"redis://127.0.0.1:{port}/0",
    )


def test_down_services_are_named_with_the_command_to_start_them() -> None:
    with pytest.raises(ServiceDown) as caught:
        ensure_services(_nowhere())
    message = str(caught.value)
    assert "postgres is not reachable" in message and "pg_ctlcluster" in message
    assert "redis is not reachable" in message and "redis-server" in message


def test_cli_exits_3_with_the_advice() -> None:
    settings = _nowhere()
    env = {
        "SCANGRADE_DATABASE_URL": settings.database_url,
        "SCANGRADE_REDIS_URL": settings.redis_url,
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "pg_ctlcluster" in done.stderr


def test_a_command_starts_no_container(tmp_path: Path) -> None:
    """A working Docker engine on PATH is never asked to start anything: the operator is."""
    calls = tmp_path / "docker-calls"
    docker = tmp_path / "bin" / "docker"
    docker.parent.mkdir()
    docker.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 0\n')
    docker.chmod(0o755)
    settings = _nowhere()
    env = {
        "SCANGRADE_DATABASE_URL": settings.database_url,
        "SCANGRADE_REDIS_URL": settings.redis_url,
        "PATH": f"{docker.parent}:/usr/bin:/bin",
    }
    for command in ("status", "migrate", "workers"):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline.operator.cli", command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert not calls.exists(), f"{command} ran docker {calls.read_text()}"
        assert done.returncode == 3, (command, done.stderr)
        advice = " ".join((done.stdout + done.stderr).split())  # however the console wraps
        assert "make up" in advice and "redis-server" in advice, advice
