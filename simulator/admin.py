"""``/_sim/*``: the simulator's own endpoints for tests and benchmarks (not the provider's).

They expose what only the provider knows (every call and its outcome, every task and when it
became ready) so a benchmark can compute the oracle and a test can check exactly-once
ingestion, and they change behaviour at run time (config, faults, token expiry, reset).
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.answers import RESULT_BUILDERS
from simulator.faults import FaultRule
from simulator.gate import url_signer
from simulator.state import SimState


async def _json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; ValueError if it is anything else."""
    raw = await request.body()
    body = json.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _bad_request(message: str) -> Response:
    return JSONResponse({"error": message}, status_code=400)


class AdminHandlers:
    """Introspection and control of one simulator."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def routes(self) -> list[BaseRoute]:
        """The ``/_sim`` routes, for ``create_app``."""
        return [
            Route("/_sim/stats", self.stats, methods=["GET"]),
            Route("/_sim/calls", self.calls, methods=["GET"]),
            Route("/_sim/uploads", self.uploads, methods=["GET"]),
            Route("/_sim/tasks", self.tasks, methods=["GET"]),
            Route("/_sim/tasks/{task_id}/answer", self.answer, methods=["GET"]),
            Route("/_sim/reset", self.reset, methods=["POST"]),
            Route("/_sim/restart_ids", self.restart_ids, methods=["POST"]),
            Route("/_sim/config", self.config, methods=["GET", "POST"]),
            Route("/_sim/faults", self.faults, methods=["GET", "POST"]),
            Route("/_sim/expire_tokens", self.expire_tokens, methods=["POST"]),
            Route("/_sim/tokens", self.tokens, methods=["GET"]),
        ]

    async def stats(self, request: Request) -> Response:
        """Outcome counts per operation and per key, task and object totals."""
        with self.state.lock:
            count = sum(1 for task in self.state.tasks.tasks.values() if task.pollable)
            body = self.state.stats.to_json(count)
        return JSONResponse(body)

    async def calls(self, request: Request) -> Response:
        """The call log ``[[epoch, api_key, op, outcome], ...]``; ``?since=`` filters by time.

        ``?detail=1`` gives objects instead, with ``at``, ``api_key``, ``operation``,
        ``outcome``, ``injected``, ``performed``, ``task_id`` and ``upload_sha256``.
        """
        try:
            since = float(request.query_params.get("since", "-inf"))
        except ValueError:
            return _bad_request("since must be a number")
        detail = request.query_params.get("detail", "") not in ("", "0", "false")
        with self.state.lock:
            entries = [entry for entry in self.state.stats.log if entry.at > since]
            log = [entry.to_json() if detail else entry.brief() for entry in entries]
        return JSONResponse({"calls": log})

    async def uploads(self, request: Request) -> Response:
        """Per uploaded page (sha256 of its bytes), what the calls that carried it came to.

        create_task and synchronous calls made with it, how many the provider performed, how
        many answers arrived, the tasks made (``CallStats.uploads_json``).
        """
        return JSONResponse({"uploads": self.state.uploads()})

    async def tasks(self, request: Request) -> Response:
        """Every stored task of every async API: its ``api``, timings and expected content.

        correct_edu tasks list questions and slots; paper_cut tasks each question's
        ``qus_id`` and answer count; composition tasks the title, counts and body text, or
        ``not_a_composition``.
        """
        return JSONResponse({"tasks": self.state.pollable_tasks()})

    async def answer(self, request: Request) -> Response:
        """The answer get_result gives once the task is done, URLs signed now (404 if unknown).

        Not counted as a fetch, so tests can compare it with what a client ingested.
        """
        signer = url_signer(request, self.state.config.url_lifetime_s)
        task_id = request.path_params["task_id"]
        body = self.state.final_answer(task_id, signer, RESULT_BUILDERS)
        if body is None:
            return JSONResponse({"error": f"unknown task {task_id}"}, status_code=404)
        return JSONResponse(body)

    async def reset(self, request: Request) -> Response:
        """Clear stats, call log, tasks, ids issued, quota windows, key call counts, fault rules.

        Tokens and the configured key limits survive; only the calls counted against the
        limits are forgotten, so a test can start every key afresh.
        """
        self.state.reset()
        return JSONResponse({"ok": True})

    async def restart_ids(self, request: Request) -> Response:
        """Hand out again every task id and log id issued since start-up or the last reset.

        The fault of a provider restarted with a seeded id generator: the next tasks get the
        ids of earlier ones, whose records it forgot (a stored task with that id is replaced).
        """
        with self.state.lock:
            self.state.tasks.ids.restart()
        return JSONResponse({"ok": True})

    async def config(self, request: Request) -> Response:
        """Read, or change (any subset of the run-time fields), the configuration.

        ``key_limits`` is shown with its API keys: in the simulator they are not secret.
        """
        if request.method == "POST":
            try:
                changes = await _json_object(request)
                self.state.configure(changes)
            except ValueError as exc:
                return _bad_request(str(exc))
        with self.state.lock:
            body = self.state.config.to_json()
        return JSONResponse(body)

    async def faults(self, request: Request) -> Response:
        """Read, or replace with ``{"rules": [...]}``, the fault rules."""
        if request.method == "POST":
            try:
                body = await _json_object(request)
                rules = [FaultRule.from_json(rule) for rule in body.get("rules", [])]
            except (ValueError, TypeError) as exc:
                return _bad_request(str(exc))
            with self.state.lock:
                self.state.faults.set_rules(rules)
        with self.state.lock:
            current = self.state.faults.to_json()
        return JSONResponse({"rules": current})

    async def tokens(self, request: Request) -> Response:
        """Every token answer granted so far: its API key, access and refresh tokens, session.

        A test looks for each of them wherever a client might have written one down.
        """
        with self.state.lock:
            grants = [dict(grant) for grant in self.state.grants]
        return JSONResponse({"grants": grants})

    async def expire_tokens(self, request: Request) -> Response:
        """Expire every token issued so far, so the next API calls answer 111."""
        with self.state.lock:
            count = self.state.tokens.expire_all(now=time.time())
        return JSONResponse({"expired": count})
