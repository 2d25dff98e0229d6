"""The simulator's whole in-memory state, behind one lock.

uvicorn runs a single process, so memory is the provider's database. Handlers run on the event
loop while image work runs in threads; every read or write of shared state goes through
``SimState.lock`` and is kept short (no I/O, no Pillow) so the lock never stalls the loop.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pipeline.simulator import render, results
from pipeline.simulator.auth import TokenGrant, TokenStore
from pipeline.simulator.config import SimConfig
from pipeline.simulator.faults import FaultInjector, FaultRule
from pipeline.simulator.grading import GradedPage
from pipeline.simulator.quota import QpsLimiter
from pipeline.simulator.render import RenderCache
from pipeline.simulator.results import ObjectRef, UrlSigner
from pipeline.simulator.stats import CallStats
from pipeline.simulator.tasks import Task, TaskStore, schedule

# Sweeping for expired tasks scans them all, so do it at most this often.
_SWEEP_INTERVAL_S = 1.0


@dataclass(frozen=True)
class Admission:
    """Whether an API call may proceed: the caller's key, or the error code refusing it."""

    api_key: str | None
    error_code: int | None
    fault: FaultRule | None = None


class SimState:
    """Tokens, quota windows, tasks, faults and statistics of one simulator."""

    def __init__(self, config: SimConfig) -> None:
        self.config = dataclasses.replace(
            config, keys=dict(config.keys), quotas=dict(config.quotas)
        )
        self.lock = threading.Lock()
        self.tokens = TokenStore(self.config.keys)
        self.limiter = QpsLimiter()
        self.tasks = TaskStore(self.config.seed)
        self.stats = CallStats()
        self.faults = FaultInjector(self.config.seed)
        self.renders = RenderCache()
        self._last_sweep = 0.0

    def admit(self, token: str | None, api: str, op: str) -> Admission:
        """Token check, then the key's QPS window, then fault rules, as one atomic step.

        Refusals are recorded here; admitted calls are recorded by the caller once it knows
        the outcome. Only admitted calls take a place in the QPS window.
        """
        operation = f"{api}.{op}"
        with self.lock:
            now = time.time()
            check = self.tokens.check(token, now=now)
            if check.error_code is not None:
                self.stats.record(now, check.api_key, operation, str(check.error_code))
                return Admission(check.api_key, check.error_code)
            assert check.api_key is not None
            quota = self.config.quota_for(api, op)
            if not self.limiter.try_acquire(check.api_key, api, op, quota, time.monotonic()):
                self.stats.record(now, check.api_key, operation, "18")
                return Admission(check.api_key, 18)
            return Admission(check.api_key, None, self.faults.pick(operation))

    def record(self, api_key: str | None, operation: str, outcome: str) -> None:
        """Count one answered call."""
        with self.lock:
            self.stats.record(time.time(), api_key, operation, outcome)

    def new_log_id(self) -> int:
        """A fresh seeded ``log_id``."""
        with self.lock:
            return self.tasks.new_log_id()

    def new_task_id(self) -> str:
        """A fresh task id, e.g. for an only_split answer that stores nothing."""
        with self.lock:
            return self.tasks.new_task_id(time.time())

    def create_task(self, api_key: str, page: GradedPage, data: bytes) -> Task:
        """Store a new task; its processing schedule is fixed now, from its id."""
        with self.lock:
            now = time.time()
            self._sweep(now)
            task_id = self.tasks.new_task_id(now)
            finish_at = schedule(task_id, len(page.questions), self.config, now)
            task = Task(task_id, api_key, page, now, finish_at)
            self.tasks.add(task, data)
            return task

    def issue_token(
        self, grant_type: str | None, client_id: str | None, secret: str | None
    ) -> tuple[TokenGrant, str | None]:
        """Answer a token request with the current token lifetime."""
        with self.lock:
            lifetime = self.config.token_lifetime_s
            return self.tokens.issue(
                grant_type, client_id, secret, now=time.time(), lifetime_s=lifetime
            )

    def faults_for(self, operation: str) -> FaultRule | None:
        """The injected fault for a call that has no token or quota check."""
        with self.lock:
            return self.faults.pick(operation)

    def result_for(
        self, task_id: str, api_key: str | None, signer: UrlSigner, log_id: int
    ) -> dict[str, Any] | None:
        """The get_result answer for a task of ``api_key``, or None (282808).

        Tasks belong to the application that created them: another key gets 282808, as it
        would at the provider, so clients must poll with the key they submitted with.
        """
        with self.lock:
            now = time.time()
            self._sweep(now)
            task = self.tasks.get(task_id)
            if task is None or task.api_key != api_key:
                return None
            answer = results.get_result_body(task, now, signer, log_id)
            task.fetches += 1
            if answer["isAllFinished"] and task.first_complete_fetch_at is None:
                task.first_complete_fetch_at = now
            return answer

    def object_source(
        self, ref: ObjectRef | None
    ) -> tuple[tuple[str, str], Callable[[], bytes]] | None:
        """Cache key and renderer for a result object, or None if it does not exist (yet)."""
        if ref is None:
            return None
        with self.lock:
            task = self.tasks.get(ref.task_id)
            data = self.tasks.image(task.page.image_sha256) if task is not None else None
            if task is None or data is None:
                return None
            done = task.finished(time.time())
        page = task.page
        if ref.owner_id == page.image_id:
            if not all(done):
                return None
            return (page.image_sha256, "page"), partial(render.render_page, data, page)
        for question in page.questions:
            if question.question_id == ref.owner_id and done[question.seqence]:
                key = (page.image_sha256, question.question_id)
                return key, partial(render.render_crop, data, question)
        return None

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep >= _SWEEP_INTERVAL_S:
            self._last_sweep = now
            self.tasks.forget_expired(now, self.config.task_retention_s)

    def reset(self) -> None:
        """Forget stats, call log, tasks, quota windows and faults; tokens stay valid."""
        with self.lock:
            self.stats.reset()
            self.tasks.reset()
            self.limiter.reset()
            self.faults.set_rules([])
        self.renders.clear()
