"""The admission path every provider API call goes through, and how its outcome is recorded.

One place checks the token (100/110/111), the key's QPS window (18) and injected faults, and
records each answer in ``/_sim/stats`` and ``/_sim/calls``, so a new endpoint cannot forget
one of them or apply them in a different order.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from pipeline.simulator.codes import error_body
from pipeline.simulator.faults import FaultRule
from pipeline.simulator.results import UrlSigner
from pipeline.simulator.state import SimState


def request_host(request: Request) -> str:
    """The host[:port] the client used, so signed URLs work behind any port or name."""
    return request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"


def url_signer(request: Request, lifetime_s: int) -> UrlSigner:
    """A signer for URLs handed out in answer to ``request``, signed now."""
    return UrlSigner(request.url.scheme, request_host(request), time.time(), lifetime_s)


class Gate:
    """Admission, fault application and outcome recording for one simulator."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def admit(
        self, request: Request, api: str, op: str
    ) -> tuple[str | None, Response | None]:
        """The caller's API key, and the answer refusing the call if it must not proceed."""
        admission = self.state.admit(request.query_params.get("access_token"), api, op)
        if admission.error_code is not None:
            log_id = self.state.new_log_id()
            return admission.api_key, JSONResponse(error_body(admission.error_code, log_id))
        if admission.fault is not None:
            faulted = await self.fault(admission.fault, admission.api_key, f"{api}.{op}")
            if faulted is not None:
                return admission.api_key, faulted
        return admission.api_key, None

    async def fault(self, fault: FaultRule, api_key: str | None, operation: str) -> Response | None:
        """Apply an injected fault: delay, then answer with its error if it has one."""
        if fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        if fault.http_status is not None:
            self.state.record(api_key, operation, f"http_{fault.http_status}")
            return PlainTextResponse("simulated failure", status_code=fault.http_status)
        if fault.error_code is not None:
            return self.error(api_key, operation, fault.error_code)
        return None

    def error(
        self, api_key: str | None, operation: str, code: int, message: str | None = None
    ) -> Response:
        """Record and answer a provider error (HTTP 200, integer ``error_code``)."""
        self.state.record(api_key, operation, str(code))
        return JSONResponse(error_body(code, self.state.new_log_id(), message))

    def answer(
        self, api_key: str | None, operation: str, body: dict[str, Any], outcome: str = "ok"
    ) -> Response:
        """Record and send an answer the endpoint has built."""
        self.state.record(api_key, operation, outcome)
        return JSONResponse(body)
