"""The provider's HTTP surface: OAuth tokens, the five APIs, signed BOS objects.

Paths, parameters and answers mirror aip.baidubce.com and BOS, so the pipeline talks to the
simulator through exactly the code it uses in production, changing only its base URL:

- ``/oauth/2.0/token``
- ``/rest/2.0/ocr/v1/correct_edu/{create_task,get_result}`` (this module)
- ``/rest/2.0/ocr/v1/paper_cut_edu_vlm/{create_task,get_result}`` and
  ``/rest/2.0/ocr/v1/handwriting_composition/{create_task,get_result}`` (``async_apis``)
- ``/rest/2.0/ocr/v1/formula`` and ``/rpc/2.0/ai_custom/v1/ocr/{model}`` (``sync_apis``)
- ``/bos/...``: signed result images (crops, marked pages, enhanced pages)

Admin endpoints for tests and benchmarks live under ``/_sim/`` (see ``admin.py``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator import correct_edu, objects, signing
from simulator.admin import AdminHandlers
from simulator.async_apis import AsyncApiHandlers, read_body
from simulator.codes import error_body
from simulator.config import CORRECT_EDU, SimConfig
from simulator.gate import Gate, cut_in_half, request_host
from simulator.grading import GradedPage, grade_layout
from simulator.state import SimState
from simulator.stats import CallDetail
from simulator.sync_apis import SyncApiHandlers
from simulator.validation import Upload, UploadError, check_upload, parse_body

logger = logging.getLogger(__name__)

API = CORRECT_EDU


def _analyse(body: dict[str, Any]) -> tuple[Upload, GradedPage]:
    """Decode, check and grade an upload: CPU work, run in a thread."""
    upload = check_upload(body)
    digest = hashlib.sha256(upload.data).hexdigest()
    return upload, grade_layout(digest, upload.width, upload.height)


class ProviderHandlers:
    """Tokens, correct_edu's create_task, unknown APIs and signed objects."""

    def __init__(self, state: SimState, gate: Gate) -> None:
        self.state = state
        self.gate = gate

    async def token(self, request: Request) -> Response:
        """``/oauth/2.0/token``: parameters in the query string or a form body."""
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and "x-www-form-urlencoded" in content_type:
            form = parse_body(await request.body(), content_type)
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        fault = self.state.faults_for("oauth.token")
        if fault is not None:
            faulted = await self.gate.fault(fault, params.get("client_id"), "oauth.token")
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
        api_key, refusal = await self.gate.admit(request, API, "create_task")
        if refusal is not None:
            return refusal
        body = await read_body(request)
        try:
            upload, page = await run_in_threadpool(_analyse, body)
        except UploadError as exc:
            return self.gate.error(request, exc.code, exc.message)
        if upload.only_split:
            answer = correct_edu.only_split_body(
                page, self.state.new_task_id(), self.state.new_log_id()
            )
            return self.gate.answer(request, answer)
        assert api_key is not None
        task = self.state.create_task(api_key, page, upload.data)
        logger.debug("task %s created for %s", task.task_id, api_key)
        answer = {
            "error_code": "0",
            "error_msg": "",
            "result": {"task_id": task.task_id},
            "log_id": self.state.new_log_id(),
        }
        return self.gate.answer(request, answer, task_id=task.task_id)

    async def unsupported(self, request: Request) -> Response:
        """Any other ``/rest/2.0`` path: the provider's "no such API" answer."""
        self.state.record(None, "rest.unsupported", "3")
        return JSONResponse(error_body(3, self.state.new_log_id()))

    async def bos_object(self, request: Request) -> Response:
        """A signed result image; 403 (XML) when the signature is wrong or expired."""
        path = request.url.path
        await self.gate.hold()
        fault = self.state.faults_for("bos.get")
        if fault is not None and not fault.truncated:
            faulted = await self.gate.fault(fault, None, "bos.get")
            if faulted is not None:
                return faulted
        auth = request.query_params.get("authorization")
        denial = signing.verify(auth, request_host(request), path, time.time())
        if denial is not None:
            self.state.record(None, "bos.get", "403")
            return Response(signing.error_xml(denial), 403, media_type="application/xml")
        found = self.state.object_source(objects.parse_object_path(path))
        if found is None:
            self.state.record(None, "bos.get", "404")
            missing = signing.Denial("NoSuchKey", "The specified key does not exist.")
            return Response(signing.error_xml(missing), 404, media_type="application/xml")
        key, draw = found
        png = await run_in_threadpool(self.state.renders.get_or_render, key, draw)
        if fault is not None and fault.truncated:
            self.state.record(None, "bos.get", "truncated", CallDetail(injected=True))
            return Response(cut_in_half(png), media_type="image/png")
        self.state.record(None, "bos.get", "ok")
        return Response(png, media_type="image/png")


def create_app(config: SimConfig | None = None) -> Starlette:
    """The ASGI app for one simulator; state lives in memory inside it."""
    state = SimState(config or SimConfig())
    gate = Gate(state)
    provider = ProviderHandlers(state, gate)
    async_apis = AsyncApiHandlers(state, gate)
    sync_apis = SyncApiHandlers(state, gate)
    admin = AdminHandlers(state)
    ocr = "/rest/2.0/ocr/v1"
    routes = [
        Route("/oauth/2.0/token", provider.token, methods=["GET", "POST"]),
        Route(f"{ocr}/correct_edu/create_task", provider.create_task, methods=["POST"]),
        Route(f"{ocr}/correct_edu/get_result", async_apis.correct_edu_get, methods=["POST"]),
        Route(
            f"{ocr}/paper_cut_edu_vlm/create_task", async_apis.paper_cut_create, methods=["POST"]
        ),
        Route(f"{ocr}/paper_cut_edu_vlm/get_result", async_apis.paper_cut_get, methods=["POST"]),
        Route(
            f"{ocr}/handwriting_composition/create_task",
            async_apis.composition_create,
            methods=["POST"],
        ),
        Route(
            f"{ocr}/handwriting_composition/get_result",
            async_apis.composition_get,
            methods=["POST"],
        ),
        Route(f"{ocr}/formula", sync_apis.formula, methods=["POST"]),
        Route("/rpc/2.0/ai_custom/v1/ocr/{model}", sync_apis.custom_ocr, methods=["POST"]),
        Route("/rest/2.0/{path:path}", provider.unsupported, methods=["GET", "POST"]),
        Route("/bos/{path:path}", provider.bos_object, methods=["GET"]),
        *admin.routes(),
    ]
    return Starlette(routes=routes)
