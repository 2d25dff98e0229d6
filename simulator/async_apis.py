"""paper_cut_edu_vlm and handwriting_composition create_task; every async API's get_result.

Each create_task decodes the page (``image`` > ``url`` > ``pdf_file``), derives its content
and stores a task; get_result is one function for all APIs, differing only in the answer
builder (``answers.RESULT_BUILDERS``), so task ownership, 282003/282808 and recording are the
same everywhere.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from simulator import composition, paper_cut
from simulator.answers import RESULT_BUILDERS
from simulator.config import COMPOSITION, CORRECT_EDU, PAPER_CUT
from simulator.gate import Gate, url_signer
from simulator.sources import load_source
from simulator.state import SimState
from simulator.tasks import Task
from simulator.validation import UploadError, parse_body

logger = logging.getLogger(__name__)


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON (or form) body; unreadable bodies read as empty, as the provider does."""
    return parse_body(await request.body(), request.headers.get("content-type", ""))


class AsyncApiHandlers:
    """create_task for paper_cut and composition; get_result for every async API."""

    def __init__(self, state: SimState, gate: Gate) -> None:
        self.state = state
        self.gate = gate

    async def paper_cut_create(self, request: Request) -> Response:
        """``paper_cut_edu_vlm/create_task``; ``only_split=true`` answers at once."""
        api_key, refusal = await self.gate.admit(request, PAPER_CUT, "create_task")
        if refusal is not None:
            return refusal
        assert api_key is not None
        body = await read_body(request)
        try:
            options = paper_cut.parse_options(body)
            picture = await load_source(body, paper_cut.LIMITS)
        except UploadError as exc:
            return self.gate.error(request, exc.code, exc.message)
        cut = paper_cut.cut_page(picture, options)
        blob = (picture.digest, picture.data) if options.enhance else None
        if options.only_split:
            return self._only_split(request, api_key, cut, blob)
        task = self.state.create_whole_task(api_key, PAPER_CUT, cut, blob)
        logger.debug("%s task %s created for %s", PAPER_CUT, task.task_id, api_key)
        answer = paper_cut.created_body(task.task_id, self.state.new_log_id())
        return self.gate.answer(request, answer, task_id=task.task_id)

    def _only_split(
        self,
        request: Request,
        api_key: str,
        cut: paper_cut.PaperCut,
        blob: tuple[str, bytes] | None,
    ) -> Response:
        """The synchronous answer: a finished get_result envelope; nothing to poll later."""
        now = time.time()
        if blob is not None:
            task = self.state.keep_sync_result(api_key, PAPER_CUT, cut, blob, now)
        else:
            task = Task(self.state.new_task_id(), api_key, cut, now, (now,), PAPER_CUT, now)
            task.pollable = False
        signer = url_signer(request, self.state.config.url_lifetime_s)
        answer = paper_cut.result_body(task, cut, now, signer, self.state.new_log_id())
        return self.gate.answer(request, answer)

    async def composition_create(self, request: Request) -> Response:
        """``handwriting_composition/create_task``: queue a page for essay recognition."""
        api_key, refusal = await self.gate.admit(request, COMPOSITION, "create_task")
        if refusal is not None:
            return refusal
        assert api_key is not None
        body = await read_body(request)
        try:
            granularity = composition.parse_granularity(body)
            picture = await load_source(body, composition.LIMITS)
        except UploadError as exc:
            return self.gate.error(request, exc.code, exc.message)
        essay = await run_in_threadpool(composition.read_page, picture, granularity)
        task = self.state.create_whole_task(api_key, COMPOSITION, essay, string_id=True)
        answer = composition.created_body(task.task_id, self.state.new_long_log_id())
        return self.gate.answer(request, answer, task_id=task.task_id)

    async def get_result(self, request: Request, api: str) -> Response:
        """``<api>/get_result``: the task's progress, with freshly signed URLs."""
        api_key, refusal = await self.gate.admit(request, api, "get_result")
        if refusal is not None:
            return refusal
        raw_id = (await read_body(request)).get("task_id")
        if raw_id is None or isinstance(raw_id, bool) or str(raw_id).strip() == "":
            return self.gate.error(request, 282003, "missing parameters: task_id")
        task_id = str(raw_id).strip()
        signer = url_signer(request, self.state.config.url_lifetime_s)
        found = self.state.result_for(task_id, api, api_key, signer, RESULT_BUILDERS[api])
        if found is None:
            return self.gate.error(request, 282808, f"request id {task_id} not exist")
        answer, outcome = found
        return self.gate.answer(request, answer, outcome)

    async def correct_edu_get(self, request: Request) -> Response:
        """``correct_edu/get_result``."""
        return await self.get_result(request, CORRECT_EDU)

    async def paper_cut_get(self, request: Request) -> Response:
        """``paper_cut_edu_vlm/get_result``."""
        return await self.get_result(request, PAPER_CUT)

    async def composition_get(self, request: Request) -> Response:
        """``handwriting_composition/get_result``."""
        return await self.get_result(request, COMPOSITION)
