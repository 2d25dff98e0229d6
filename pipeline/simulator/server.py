"""The provider's HTTP surface: OAuth tokens, correct_edu create/get, signed BOS objects.

Paths, parameters and answers mirror aip.baidubce.com and BOS, so the pipeline talks to the
simulator through exactly the code it uses in production, changing only its base URL.
Admin endpoints for tests and benchmarks live under ``/_sim/`` (see ``admin.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pipeline.simulator import results, signing
from pipeline.simulator.admin import AdminHandlers
from pipeline.simulator.codes import error_body
from pipeline.simulator.config import SimConfig
from pipeline.simulator.faults import FaultRule
from pipeline.simulator.grading import GradedPage, grade_layout
from pipeline.simulator.state import SimState
from pipeline.simulator.validation import Upload, UploadError, check_upload, parse_body

logger = logging.getLogger(__name__)

API = "correct_edu"


def _analyse(body: dict[str, Any]) -> tuple[Upload, GradedPage]:
    """Decode, check and grade an upload: CPU work, run in a thread."""
    upload = check_upload(body)
    digest = hashlib.sha256(upload.data).hexdigest()
    return upload, grade_layout(digest, upload.width, upload.height)


def _host(request: Request) -> str:
    """The host[:port] the client used, so signed URLs work behind any port or name."""
    return request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"


class ProviderHandlers:
    """Endpoints that stand in for the provider."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    async def token(self, request: Request) -> Response:
        """``/oauth/2.0/token``: parameters in the query string or a form body."""
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "x-www-form-urlencoded" in content_type:
            form = parse_body(await request.body(), content_type)
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        fault = self.state.faults_for("oauth.token")
        if fault is not None:
            faulted = await self._fault(fault, params.get("client_id"), "oauth.token")
            if faulted is not None:
                return faulted
        grant, api_key = self.state.issue_token(
            params.get("grant_type"), params.get("client_id"), params.get("client_secret")
        )
        outcome = "ok" if grant.status == 200 else str(grant.body["error"])
        self.state.record(api_key or params.get("client_id"), "oauth.token", outcome)
        return JSONResponse(grant.body, status_code=grant.status)

    async def create_task(self, request: Request) -> Response:
        """``correct_edu/create_task``: queue a page, or split it at once with ``only_split``."""
        operation = f"{API}.create_task"
        api_key, refusal = await self._admit(request, "create_task")
        if refusal is not None:
            return refusal
        body = parse_body(await request.body(), request.headers.get("content-type", ""))
        try:
            upload, page = await run_in_threadpool(_analyse, body)
        except UploadError as exc:
            return self._error(api_key, operation, exc.code, exc.message)
        if upload.only_split:
            answer = results.only_split_body(
                page, self.state.new_task_id(), self.state.new_log_id()
            )
            self.state.record(api_key, operation, "ok")
            return JSONResponse(answer)
        assert api_key is not None
        task = self.state.create_task(api_key, page, upload.data)
        logger.debug("task %s created for %s", task.task_id, api_key)
        self.state.record(api_key, operation, "ok")
        answer = {
            "error_code": "0",
            "error_msg": "",
            "result": {"task_id": task.task_id},
            "log_id": self.state.new_log_id(),
        }
        return JSONResponse(answer)

    async def get_result(self, request: Request) -> Response:
        """``correct_edu/get_result``: the task's progress, with freshly signed URLs."""
        operation = f"{API}.get_result"
        api_key, refusal = await self._admit(request, "get_result")
        if refusal is not None:
            return refusal
        body = parse_body(await request.body(), request.headers.get("content-type", ""))
        raw_id = body.get("task_id")
        if raw_id is None or isinstance(raw_id, bool) or str(raw_id).strip() == "":
            return self._error(api_key, operation, 282003, "missing parameters: task_id")
        task_id = str(raw_id).strip()
        signer = results.UrlSigner(
            request.url.scheme, _host(request), time.time(), self.state.config.url_lifetime_s
        )
        answer = self.state.result_for(task_id, api_key, signer, self.state.new_log_id())
        if answer is None:
            return self._error(api_key, operation, 282808, f"request id {task_id} not exist")
        self.state.record(api_key, operation, "ok")
        return JSONResponse(answer)

    async def unsupported(self, request: Request) -> Response:
        """Any other ``/rest/2.0`` path: the provider's "no such API" answer."""
        self.state.record(None, "rest.unsupported", "3")
        return JSONResponse(error_body(3, self.state.new_log_id()))

    async def bos_object(self, request: Request) -> Response:
        """A signed result image; 403 (XML) when the signature is wrong or expired."""
        path = request.url.path
        fault = self.state.faults_for("bos.get")
        if fault is not None:
            faulted = await self._fault(fault, None, "bos.get")
            if faulted is not None:
                return faulted
        auth = request.query_params.get("authorization")
        denial = signing.verify(auth, _host(request), path, time.time())
        if denial is not None:
            self.state.record(None, "bos.get", "403")
            return Response(signing.error_xml(denial), 403, media_type="application/xml")
        found = self.state.object_source(results.parse_object_path(path))
        if found is None:
            self.state.record(None, "bos.get", "404")
            missing = signing.Denial("NoSuchKey", "The specified key does not exist.")
            return Response(signing.error_xml(missing), 404, media_type="application/xml")
        key, draw = found
        png = await run_in_threadpool(self.state.renders.get_or_render, key, draw)
        self.state.record(None, "bos.get", "ok")
        return Response(png, media_type="image/png")

    async def _admit(self, request: Request, op: str) -> tuple[str | None, Response | None]:
        """Token, QPS and fault checks shared by the API endpoints."""
        admission = self.state.admit(request.query_params.get("access_token"), API, op)
        if admission.error_code is not None:
            log_id = self.state.new_log_id()
            return admission.api_key, JSONResponse(error_body(admission.error_code, log_id))
        if admission.fault is not None:
            faulted = await self._fault(admission.fault, admission.api_key, f"{API}.{op}")
            if faulted is not None:
                return admission.api_key, faulted
        return admission.api_key, None

    async def _fault(
        self, fault: FaultRule, api_key: str | None, operation: str
    ) -> Response | None:
        """Apply an injected fault: delay, then answer with its error if it has one."""
        if fault.delay_s > 0:
            await asyncio.sleep(fault.delay_s)
        if fault.http_status is not None:
            self.state.record(api_key, operation, f"http_{fault.http_status}")
            return PlainTextResponse("simulated failure", status_code=fault.http_status)
        if fault.error_code is not None:
            return self._error(api_key, operation, fault.error_code)
        return None

    def _error(
        self, api_key: str | None, operation: str, code: int, message: str | None = None
    ) -> Response:
        self.state.record(api_key, operation, str(code))
        return JSONResponse(error_body(code, self.state.new_log_id(), message))


def create_app(config: SimConfig | None = None) -> Starlette:
    """The ASGI app for one simulator; state lives in memory inside it."""
    state = SimState(config or SimConfig())
    provider = ProviderHandlers(state)
    admin = AdminHandlers(state)
    rest = "/rest/2.0/ocr/v1/correct_edu"
    routes = [
        Route("/oauth/2.0/token", provider.token, methods=["GET", "POST"]),
        Route(f"{rest}/create_task", provider.create_task, methods=["POST"]),
        Route(f"{rest}/get_result", provider.get_result, methods=["POST"]),
        Route("/rest/2.0/{path:path}", provider.unsupported, methods=["GET", "POST"]),
        Route("/bos/{path:path}", provider.bos_object, methods=["GET"]),
        *admin.routes(),
    ]
    return Starlette(routes=routes)
