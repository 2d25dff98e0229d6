"""Local stand-ins for the outside world, started as real processes on loopback.

An S3 endpoint (moto's server), the provider simulator and this host's workers. The demo and
the tests use them; production points the settings at the real services instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

_LISTENING = "listening on "


@dataclass
class Service:
    """A started process and the URL it serves, if any."""

    name: str
    process: subprocess.Popen[bytes]
    url: str = ""

    def stop(self, timeout: float = 30) -> None:
        """Terminate the process group (workers have children), then kill if it lingers."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(
    argv: Sequence[str], env: Mapping[str, str] | None, log: Path | None, stdout: int | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        stdout=stdout or out,
        stderr=out,
        start_new_session=True,
    )


def start_s3(log: Path | None = None, *, objects: Path | None = None) -> Service:
    """Moto's S3 server on a free loopback port; in memory, or kept in ``objects`` on disk.

    ``objects`` is the request log of :mod:`devkit.s3_standin`: what earlier servers on the
    same log stored is there again, and what this one stores is added to it.
    """
    if objects is None:
        port = free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        service = Service("s3", _spawn(argv, None, log), f"http://127.0.0.1:{port}")
        _wait_http(service, service.url + "/moto-api/")
        return service
    recording = {"MOTO_ENABLE_RECORDING": "true", "MOTO_RECORDER_FILEPATH": str(objects)}
    argv = [sys.executable, "-m", "devkit.s3_standin", "--port", "0"]
    proc = _spawn(argv, recording, log, stdout=subprocess.PIPE)
    return Service("s3", proc, _listening_url(proc, "the S3 stand-in", log, timeout_s=300))


def start_simulator(args: Sequence[str] = (), log: Path | None = None) -> Service:
    """The provider simulator on a free loopback port, with extra command-line options."""
    argv = [sys.executable, "-m", "simulator", "--port", "0", *args]
    proc = _spawn(argv, None, log, stdout=subprocess.PIPE)
    return Service("simulator", proc, _listening_url(proc, "the simulator", log))


def _listening_url(
    proc: subprocess.Popen[bytes], what: str, log: Path | None, timeout_s: float = 30
) -> str:
    """The URL a child prints once it serves (``listening on URL``)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        if _LISTENING in line:
            proc.stdout.close()
            return line.split(_LISTENING, 1)[1].strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"{what} did not start (see {log})")


def start_workers(env: Mapping[str, str], log: Path | None = None) -> Service:
    """``scangrade workers`` for this host, in its own process group."""
    proc = _spawn([sys.executable, "-m", "pipeline.operator.cli", "workers"], env, log)
    return Service("workers", proc)


def start_web(env: Mapping[str, str], log: Path | None = None) -> Service:
    """``scangrade serve`` on a free loopback port, once it answers its sign-in page."""
    port = free_port()
    argv = [sys.executable, "-m", "pipeline.operator.cli", "serve", "--port", str(port)]
    service = Service("web", _spawn(argv, env, log), f"http://127.0.0.1:{port}")
    _wait_http(service, f"{service.url}/login")
    return service


def _wait_http(service: Service, url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer at {url}")
