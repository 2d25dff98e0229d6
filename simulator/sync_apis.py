"""Endpoints of the synchronous APIs: formula (form body) and custom_ocr (JSON body).

Both go through the same admission as the async APIs (token, QPS window of their one ``call``
operation, fault rules ``formula.call`` / ``custom_ocr.call``) and are recorded the same way.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from simulator import custom_ocr, formula
from simulator.config import CUSTOM_OCR, FORMULA
from simulator.gate import Gate
from simulator.sources import load_source
from simulator.state import SimState
from simulator.validation import UploadError, parse_body


class SyncApiHandlers:
    """formula and custom OCR models: answer in the same request."""

    def __init__(self, state: SimState, gate: Gate) -> None:
        self.state = state
        self.gate = gate

    async def formula(self, request: Request) -> Response:
        """``ocr/v1/formula``: text and LaTeX; a JSON body has no image (216101)."""
        _, refusal = await self.gate.admit(request, FORMULA, "call")
        if refusal is not None:
            return refusal
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        body = parse_body(raw, content_type) if "x-www-form-urlencoded" in content_type else {}
        try:
            options = formula.parse_options(body)
            picture = await load_source(body, formula.LIMITS, allow_pdf=False)
        except UploadError as exc:
            return self.gate.error(request, exc.code, exc.message)
        answer = formula.answer_body(picture, options, self.state.new_log_id())
        return self.gate.answer(request, answer)

    async def custom_ocr(self, request: Request) -> Response:
        """``/rpc/2.0/ai_custom/v1/ocr/{model}``: any model name is a trained model."""
        _, refusal = await self.gate.admit(request, CUSTOM_OCR, "call")
        if refusal is not None:
            return refusal
        content_type = request.headers.get("content-type", "")
        try:
            image, language = custom_ocr.parse_request(await request.body(), content_type)
            result = await run_in_threadpool(custom_ocr.recognise, image, language)
        except UploadError as exc:
            return self.gate.error(request, exc.code, exc.message)
        answer = custom_ocr.answer_body(result, self.state.new_log_id())
        return self.gate.answer(request, answer)
