"""The unit tier runs without services: a unit test that asks for a service fixture, starts a
stand-in, or opens a connection to Postgres, Redis, S3, the provider or any host off this machine
fails. Every service setting points at a port nothing listens on (libpq opens its sockets in C,
out of the socket patch's reach), so a test that reaches one anyway fails instead of finding
another tier's services."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from devkit import standins
from pipeline.adapters.services import forget_connections

SERVICE_FIXTURES = frozenset({"env", "simulator", "s3", "workers", "sim_http", "stack"})
NOWHERE = 9  # discard: refused on loopback
SERVICE_PORTS = frozenset({5432, 6379, NOWHERE})
NO_SERVICES = {
    "SCANGRADE_DATABASE_URL": f"postgresql+psycopg://unit-tier@127.0.0.1:{NOWHERE}/no_database",
    "SCANGRADE_REDIS_URL": f"redis://127.0.0.1:{NOWHERE}/0",
    "SCANGRADE_S3_ENDPOINT_URL": f"http://127.0.0.1:{NOWHERE}",
    "SCANGRADE_BAIDU_BASE_URL": f"http://127.0.0.1:{NOWHERE}",
}


def _refuse(what: str) -> NoReturn:
    raise AssertionError(f"a unit test must not use {what}: move it to tests/integration")


def _allowed(address: Any) -> bool:
    if not isinstance(address, tuple):  # a Unix socket
        return True
    host, port = address[0], address[1]
    if port in SERVICE_PORTS:
        return False
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


@pytest.fixture(autouse=True)
def _no_services(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    asked = SERVICE_FIXTURES.intersection(request.fixturenames)
    if asked:
        _refuse(f"the service fixtures {sorted(asked)}")
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(sock: socket.socket, address: Any) -> None:
        if not _allowed(address):
            _refuse(f"a connection to {address}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not _allowed(address):
            _refuse(f"a connection to {address}")
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    # Every stand-in (moto's S3, the simulator, the workers) is spawned here, however imported.
    monkeypatch.setattr(standins, "_spawn", lambda *a, **k: _refuse(f"a stand-in: {a}"))
    for name, value in NO_SERVICES.items():
        monkeypatch.setenv(name, value)
    forget_connections()
    yield
    monkeypatch.undo()
    forget_connections()
