"""Running the simulator as a real HTTP server (uvicorn, one process)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import uvicorn

from simulator.config import SimConfig
from simulator.connections import TrackedH11Protocol
from simulator.server import create_app

logger = logging.getLogger(__name__)

ReadyCallback = Callable[[str, int], None]


def _bind(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn so that ``port=0`` yields a port we can report."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def _serve(
    server: uvicorn.Server, sock: socket.socket, on_ready: ReadyCallback | None
) -> None:
    running = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not running.done():
        await asyncio.sleep(0.01)
    if server.started:
        host, port = sock.getsockname()[:2]
        logger.info("simulator listening on %s:%d", host, port)
        if on_ready is not None:
            on_ready(str(host), int(port))
    await running


def serve(config: SimConfig, on_ready: ReadyCallback | None = None) -> None:
    """Serve until interrupted; ``on_ready(host, port)`` runs once connections are accepted.

    State lives in this process's memory, so there is exactly one uvicorn worker. Its HTTP
    protocol is h11, tracked so that faults can drop connections; proxy headers are off
    because connections are found by the client address of each request. A request held by
    a timeout fault delays shutdown by a few seconds at most.
    """
    sock = _bind(config.host, config.port)
    uv_config = uvicorn.Config(
        create_app(config),
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=TrackedH11Protocol,
        proxy_headers=False,
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(uv_config)
    try:
        asyncio.run(_serve(server, sock, on_ready))
    finally:
        sock.close()
