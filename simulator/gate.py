"""The admission path every provider API call goes through, and how its outcome is recorded.

One place checks the token (100/110/111), the key's QPS window (18) and injected faults, and
records each answer in ``/_sim/stats``, ``/_sim/calls`` and ``/_sim/uploads``, so a new
endpoint cannot forget one of them or apply them in a different order. An endpoint calls
``admit`` first, then answers through ``answer`` or ``error``: a fault that lets the call be
performed (``FaultRule.performed``) is applied there, once the endpoint has done its work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from simulator.codes import error_body
from simulator.connections import Late, Unanswered, http_failure
from simulator.faults import TIMEOUT_HOLD_S, FaultRule
from simulator.objects import UrlSigner
from simulator.state import SimState
from simulator.stats import CallDetail
from simulator.validation import UploadError, decode_base64, parse_body

# Operations that carry a page: their calls are accounted per uploaded page.
_UPLOADING_OPS = frozenset({"create_task", "call"})


def request_host(request: Request) -> str:
    """The host[:port] the client used, so signed URLs work behind any port or name."""
    return request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"


def url_signer(request: Request, lifetime_s: int) -> UrlSigner:
    """A signer for URLs handed out in answer to ``request``, signed now."""
    return UrlSigner(request.url.scheme, request_host(request), time.time(), lifetime_s)


@dataclass
class _Call:
    """What the gate knows of one API call, kept on the request between admit and answer."""

    operation: str
    api_key: str | None = None
    upload_sha256: str | None = None
    task_id: str | None = None
    pending: FaultRule | None = None  # a performed fault, applied when the call is answered


def upload_sha256(raw: bytes, content_type: str) -> str | None:
    """sha256 of the page a create_task or synchronous call uploads, if any decodes.

    The page is the decoded ``image``, else the decoded ``pdf_file``. CPU work: run it in a
    thread.
    """
    body = parse_body(raw, content_type)
    for name in ("image", "pdf_file"):
        value = body.get(name)
        if isinstance(value, str) and value:
            try:
                return hashlib.sha256(decode_base64(value)).hexdigest()
            except UploadError:
                return None
    return None


GATEWAY_HTML = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><h1>Bad Gateway</h1><p>The upstream server answered late.</p></body></html>"
)
"""What a gateway in front of the provider sends, with HTTP 200, in place of JSON or an image."""


def cut_in_half(data: bytes) -> bytes:
    """The first half of an answer, as a connection closed mid-body leaves it."""
    return data[: max(1, len(data) // 2)]


def failure(rule: FaultRule, body: dict[str, Any] | None = None) -> Response:
    """The answer of a fault that does not answer with a provider error code.

    ``body`` is the JSON the call would have answered, which a truncated answer cuts.
    """
    if rule.html_200 or rule.truncated:
        if rule.html_200:
            response: Response = HTMLResponse(GATEWAY_HTML)
        else:
            whole = json.dumps(body or {"error_code": 0, "result": {}}).encode()
            response = Response(cut_in_half(whole), media_type="application/json")
        return Late(rule.delay_s, response) if rule.delay_s > 0 else response
    if rule.http_status is not None:
        return http_failure(rule.http_status, rule.delay_s)
    if rule.timeout:
        return Unanswered(rule.delay_s or TIMEOUT_HOLD_S, until_client_leaves=True)
    return Unanswered(rule.delay_s)


class Gate:
    """Admission, fault application and outcome recording for one simulator."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def admit(
        self, request: Request, api: str, op: str
    ) -> tuple[str | None, Response | None]:
        """The caller's API key, and the answer refusing the call if it must not proceed."""
        call = await self._describe(request, f"{api}.{op}")
        await self.hold()
        admission = self.state.admit(request.query_params.get("access_token"), api, op)
        call.api_key = admission.api_key
        if admission.error_code is not None:
            self._record(call, str(admission.error_code), injected=admission.injected)
            log_id = self.state.new_log_id()
            return admission.api_key, JSONResponse(error_body(admission.error_code, log_id))
        fault = admission.fault
        if fault is None:
            return admission.api_key, None
        if fault.late_only:
            await asyncio.sleep(fault.delay_s)
        elif fault.performed:
            call.pending = fault
        else:
            return admission.api_key, await self._fail(call, fault, performed=False)
        return admission.api_key, None

    async def _describe(self, request: Request, operation: str) -> _Call:
        """Start the call's record: the page it uploads, or the task it asks about."""
        call = _Call(operation)
        request.state.sim_call = call
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if operation.rpartition(".")[2] in _UPLOADING_OPS:
            call.upload_sha256 = await run_in_threadpool(upload_sha256, raw, content_type)
        else:
            task_id = parse_body(raw, content_type).get("task_id")
            call.task_id = None if task_id is None else str(task_id).strip()
        return call

    async def hold(self) -> None:
        """Wait as long as a sloppy provider takes to answer (``latency_*_s``)."""
        latency = self.state.latency()
        if latency > 0:
            await asyncio.sleep(latency)

    async def fault(self, fault: FaultRule, api_key: str | None, operation: str) -> Response | None:
        """Apply an injected fault to a call without admission (``oauth.token``, ``bos.get``).

        None when the fault only delays the call, which then goes on.
        """
        if fault.late_only:
            await asyncio.sleep(fault.delay_s)
            return None
        return await self._fail(_Call(operation, api_key), fault, performed=False)

    async def _fail(self, call: _Call, fault: FaultRule, *, performed: bool) -> Response:
        """Record the fault's outcome and build its answer."""
        self._record(call, str(fault.outcome), injected=True, performed=performed)
        if fault.error_code is not None:
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            return JSONResponse(error_body(fault.error_code, self.state.new_log_id()))
        return failure(fault)

    def error(self, request: Request, code: int, message: str | None = None) -> Response:
        """Record and answer a provider error (HTTP 200, integer ``error_code``).

        Nothing was performed; a pending fault still replaces the answer.
        """
        call = _call_of(request)
        if call.pending is not None:
            self._record(call, str(call.pending.outcome), injected=True)
            return failure(call.pending, error_body(code, self.state.new_log_id(), message))
        self._record(call, str(code))
        return JSONResponse(error_body(code, self.state.new_log_id(), message))

    def answer(
        self,
        request: Request,
        body: dict[str, Any],
        outcome: str = "ok",
        *,
        task_id: str | None = None,
    ) -> Response:
        """Record and send an answer the endpoint has built (the call was performed).

        ``task_id`` names the task a create_task made. A pending fault replaces the answer:
        the work is done but the client never learns of it.
        """
        call = _call_of(request)
        if task_id is not None:
            call.task_id = task_id
        if call.pending is not None:
            self._record(call, str(call.pending.outcome), injected=True, performed=True)
            return failure(call.pending, body)
        self._record(call, outcome, performed=True)
        return JSONResponse(body)

    def _record(
        self, call: _Call, outcome: str, *, injected: bool = False, performed: bool = False
    ) -> None:
        detail = CallDetail(injected, performed, call.task_id, call.upload_sha256)
        self.state.record(call.api_key, call.operation, outcome, detail)


def _call_of(request: Request) -> _Call:
    call = getattr(request.state, "sim_call", None)
    if not isinstance(call, _Call):
        raise RuntimeError("answer() or error() before admit()")
    return call
