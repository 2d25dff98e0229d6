"""Failing a call without any HTTP answer: dropped connections and timeouts.

ASGI gives an application no way to close a connection unanswered: uvicorn answers 500 for
an app that returns without responding, and an exception raised after the headers still
sends them. So ``runner.serve`` runs uvicorn with ``TrackedH11Protocol``, which notes every
open connection's transport under the (client, server) addresses that ASGI puts in each
request's scope; an ``Unanswered`` response looks its connection up and aborts it. The client
sees the connection close with no status line (httpx: ``RemoteProtocolError``, "Server
disconnected without sending a response"), or no answer until its read timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

_OPEN: dict[tuple[Any, Any], asyncio.Transport] = {}
# After aborting, how long to wait for uvicorn to notice, so it does not answer 500 instead.
_NOTICE_S = 5.0


class TrackedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, noting each connection's transport so a fault can abort it."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Note the transport under the addresses requests on it will carry."""
        super().connection_made(transport)
        _OPEN[(self.client, self.server)] = transport

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the transport."""
        _OPEN.pop((self.client, self.server), None)
        super().connection_lost(exc)


async def _client_left(receive: Receive, within_s: float) -> bool:
    """Wait up to ``within_s`` for the client to close the connection; True if it did."""
    try:
        async with asyncio.timeout(within_s):
            while (await receive())["type"] != "http.disconnect":
                pass  # an unread request body: drained, as a server holding a call would
    except TimeoutError:
        return False
    return True


class Unanswered(Response):
    """No HTTP answer at all: the connection is closed after ``delay_s``.

    With ``until_client_leaves`` the request is held instead until the client gives up (its
    read timeout), ``delay_s`` at most, as a provider that never answers.
    """

    def __init__(self, delay_s: float = 0.0, *, until_client_leaves: bool = False) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.until_client_leaves = until_client_leaves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold or wait, then abort the connection without a byte of answer."""
        if self.until_client_leaves:
            if await _client_left(receive, self.delay_s):
                return
        elif self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        transport = _OPEN.get((scope.get("client"), scope.get("server")))
        if transport is None:
            raise RuntimeError("dropping a connection needs the simulator's own server (serve)")
        transport.abort()
        await _client_left(receive, _NOTICE_S)


class Late(Response):
    """Another response, sent ``delay_s`` late."""

    def __init__(self, delay_s: float, response: Response) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.response = response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wait, then send."""
        await asyncio.sleep(self.delay_s)
        await self.response(scope, receive, send)


def http_failure(status: int, delay_s: float = 0.0) -> Response:
    """A bare HTTP error, as a gateway in front of the provider sends it."""
    response = PlainTextResponse("simulated failure", status_code=status)
    return Late(delay_s, response) if delay_s > 0 else response
