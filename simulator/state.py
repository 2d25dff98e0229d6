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

from simulator import render
from simulator.auth import TokenGrant, TokenStore
from simulator.config import QUOTA_BURST_FIELDS, SimConfig
from simulator.faults import (
    BOS_CHAOS_KINDS,
    TOKEN_CODES,
    Chaos,
    FaultInjector,
    FaultRule,
)
from simulator.grading import GradedPage
from simulator.objects import ObjectRef, UrlSigner
from simulator.paper_cut import PaperCut
from simulator.quota import KeyCallCounter, QpsLimiter
from simulator.render import RenderCache
from simulator.stats import CallDetail, CallStats
from simulator.tasks import Task, TaskContent, TaskStore, schedule, schedule_whole

# The bearer secrets of a token answer, which a client must never write down anywhere.
_GRANTED_SECRETS = ("access_token", "refresh_token", "session_key", "session_secret")

# Sweeping for expired tasks scans them all, so do it at most this often.
_SWEEP_INTERVAL_S = 1.0

# Builds one API's get_result answer for a task at a time, drawing log ids from the store;
# returns the body and the outcome to record ("ok" or an error code).
ResultBuilder = Callable[[Task, float, UrlSigner, TaskStore], tuple[dict[str, Any], str]]


@dataclass(frozen=True)
class Admission:
    """Whether an API call may proceed: the caller's key, or the error code refusing it.

    ``injected`` marks a refusal made up by chaos (a quota burst's 18, a spoiled token's 110).
    """

    api_key: str | None
    error_code: int | None
    fault: FaultRule | None = None
    injected: bool = False


class SimState:
    """Tokens, quota windows, call counts, tasks, faults and statistics of one simulator."""

    def __init__(self, config: SimConfig) -> None:
        # replace() re-runs SimConfig's checks, which copy key_limits.
        self.config = dataclasses.replace(
            config, keys=dict(config.keys), quotas=dict(config.quotas)
        )
        self.lock = threading.Lock()
        self.tokens = TokenStore(self.config.keys)
        self.limiter = QpsLimiter()
        self.key_calls = KeyCallCounter()
        self.tasks = TaskStore(self.config.seed)
        self.stats = CallStats()
        self.faults = FaultInjector(self.config.seed)
        self.renders = RenderCache()
        self.grants: list[dict[str, str]] = []
        self._last_sweep = 0.0
        self._burst_since = time.time()

    def admit(self, token: str | None, api: str, op: str) -> Admission:
        """Token check, the key's call limits, its QPS window, then faults, atomically.

        Nothing is recorded here: the caller records every call, refused or not, once it knows
        the outcome. Only admitted calls take a place in the QPS window and count against the
        key's daily and total limits (17, 19); a call an injected fault then fails was admitted
        and counts too, as it does in the QPS window. Chaos's 110 comes with the token check
        and its quota bursts' 18 with the QPS window; neither counts, as their real
        counterparts do not. A fault answering 110 or 111 spoils the token for good.
        """
        operation = f"{api}.{op}"
        with self.lock:
            now = time.time()
            config = self.config
            check = self.tokens.check(token, now=now)
            if check.error_code is not None:
                return Admission(check.api_key, check.error_code)
            api_key = check.api_key
            assert api_key is not None
            if self.faults.token_spoiled(config.token_invalid_rate):
                self.tokens.spoil(token, 110, now=now)
                return Admission(api_key, 110, injected=True)
            spent = self.key_calls.refusal(api_key, config.limits_for(api_key), now)
            if spent is not None:
                return Admission(api_key, spent)
            if config.in_quota_burst(now - self._burst_since):
                return Admission(api_key, 18, injected=True)
            quota = config.quota_for(api, op)
            if not self.limiter.try_acquire(api_key, api, op, quota, time.monotonic()):
                return Admission(api_key, 18)
            self.key_calls.count(api_key, now)
            chaos = Chaos(
                config.transient_rate,
                config.chaos_performed_rate,
                html_200_rate=config.html_200_rate,
                truncated_rate=config.truncated_json_rate,
            )
            fault = self.faults.pick(operation, api_key, chaos)
            if fault is not None and fault.error_code in TOKEN_CODES:
                self.tokens.spoil(token, fault.error_code, now=now)
            return Admission(api_key, None, fault)

    def record(
        self,
        api_key: str | None,
        operation: str,
        outcome: str,
        detail: CallDetail | None = None,
    ) -> None:
        """Count one answered call."""
        with self.lock:
            self.stats.record(time.time(), api_key, operation, outcome, detail)

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply a ``POST /_sim/config`` body; changing the quota bursts restarts them now."""
        with self.lock:
            self.config.apply_runtime(changes)
            if set(QUOTA_BURST_FIELDS) & set(changes):
                self._burst_since = time.time()

    def uploads(self) -> dict[str, dict[str, Any]]:
        """``/_sim/uploads``: per uploaded page, its calls and what they came to."""
        with self.lock:
            return self.stats.uploads_json()

    def new_log_id(self) -> int:
        """A fresh seeded ``log_id``."""
        with self.lock:
            return self.tasks.new_log_id()

    def new_long_log_id(self) -> str:
        """A fresh seeded 32-digit ``log_id`` string (handwriting_composition's style)."""
        with self.lock:
            return self.tasks.new_long_log_id()

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
            finish_at = schedule(self.tasks.schedule_key(), len(page.questions), self.config, now)
            task = Task(task_id, api_key, page, now, finish_at)
            self.tasks.add(task, data)
            return task

    def create_whole_task(
        self,
        api_key: str,
        api: str,
        content: TaskContent,
        blob: tuple[str, bytes] | None = None,
        *,
        string_id: bool = False,
    ) -> Task:
        """Store a task of an API that shows only whole results (paper_cut, composition).

        ``blob`` is ``(digest, image bytes)`` when a result object must be drawn from the
        upload; ``string_id`` gives composition's ``task-...`` ids instead of 19 digits.
        """
        with self.lock:
            now = time.time()
            self._sweep(now)
            task_id = self.tasks.new_string_task_id() if string_id else self.tasks.new_task_id(now)
            started, finished = schedule_whole(self.tasks.schedule_key(), self.config, now)
            task = Task(task_id, api_key, content, now, (finished,), api, started)
            task.blob_key = blob[0] if blob else None
            self.tasks.add(task, blob[1] if blob else None)
            return task

    def keep_sync_result(
        self, api_key: str, api: str, content: TaskContent, blob: tuple[str, bytes], at: float
    ) -> Task:
        """Keep a synchronous answer's upload so its object URLs work; not pollable (282808)."""
        with self.lock:
            self._sweep(at)
            task_id = self.tasks.new_task_id(at)
            task = Task(task_id, api_key, content, at, (at,), api, at, blob[0], pollable=False)
            self.tasks.add(task, blob[1])
            return task

    def issue_token(
        self, grant_type: str | None, client_id: str | None, secret: str | None
    ) -> tuple[TokenGrant, str | None]:
        """Answer a token request with the current token lifetime; keep what was granted."""
        with self.lock:
            lifetime = self.config.token_lifetime_s
            grant, api_key = self.tokens.issue(
                grant_type, client_id, secret, now=time.time(), lifetime_s=lifetime
            )
            if grant.status == 200 and api_key is not None:
                self.grants.append(
                    {"api_key": api_key} | {k: grant.body[k] for k in _GRANTED_SECRETS}
                )
            return grant, api_key

    def faults_for(self, operation: str, api_key: str | None = None) -> FaultRule | None:
        """The injected fault for a call that has no token or quota check.

        Such calls carry no token, so rules bound to an API key only match when the caller
        names the key it is sure of. Chaos reaches ``bos.get`` (``bos_transient_rate``) but
        never ``oauth.token``; neither ever performs the call it fails.
        """
        with self.lock:
            chaos = None
            if operation == "bos.get":
                config = self.config
                chaos = Chaos(
                    config.bos_transient_rate,
                    0.0,
                    BOS_CHAOS_KINDS,
                    html_200_rate=config.bos_html_200_rate,
                    truncated_rate=config.bos_truncated_rate,
                )
            return self.faults.pick(operation, api_key, chaos)

    def latency(self) -> float:
        """Seconds a sloppy provider holds this call before answering (0: none)."""
        with self.lock:
            config = self.config
            return self.faults.latency(
                config.latency_min_s, config.latency_max_s, config.latency_rate
            )

    def result_for(
        self, task_id: str, api: str, api_key: str | None, signer: UrlSigner, build: ResultBuilder
    ) -> tuple[dict[str, Any], str] | None:
        """The get_result answer and outcome for a task of ``api_key``, or None (282808).

        Tasks belong to the application that created them and to the API they were created
        with: another key, another API's endpoint or a forgotten id gets 282808, as it would
        at the provider, so clients must poll with the key and API they submitted with.
        """
        with self.lock:
            now = time.time()
            self._sweep(now)
            task = self.tasks.get(task_id)
            if task is None or task.api_key != api_key or task.api != api or not task.pollable:
                return None
            answer = build(task, now, signer, self.tasks)
            task.fetches += 1
            if now >= task.ready_at and task.first_complete_fetch_at is None:
                task.first_complete_fetch_at = now
            return answer

    def final_answer(
        self, task_id: str, signer: UrlSigner, builders: dict[str, ResultBuilder]
    ) -> dict[str, Any] | None:
        """The answer get_result gives once the task is done (for tests; not a fetch)."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or not task.pollable or task.api not in builders:
                return None
            at = max(time.time(), task.ready_at)
            return builders[task.api](task, at, signer, self.tasks)[0]

    def pollable_tasks(self) -> dict[str, dict[str, Any]]:
        """``/_sim/tasks``: every task a client could poll, by id."""
        with self.lock:
            return {tid: t.to_json() for tid, t in self.tasks.tasks.items() if t.pollable}

    def object_source(
        self, ref: ObjectRef | None
    ) -> tuple[tuple[str, str], Callable[[], bytes]] | None:
        """Cache key and renderer for a result object, or None if it does not exist (yet)."""
        if ref is None:
            return None
        with self.lock:
            task = self.tasks.get(ref.task_id)
            if task is None:
                return None
            if isinstance(task.content, PaperCut):
                return self._enhanced_source(task, task.content, ref)
            if not isinstance(task.content, GradedPage):
                return None
            data = self.tasks.image(task.page.image_sha256)
            if data is None:
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

    def _enhanced_source(
        self, task: Task, cut: PaperCut, ref: ObjectRef
    ) -> tuple[tuple[str, str], Callable[[], bytes]] | None:
        """paper_cut's enhanced page, once the task is done; the caller holds the lock."""
        data = self.tasks.image(task.blob_key) if task.blob_key else None
        if data is None or ref.owner_id != cut.enhance_id or task.phase(time.time()) != "done":
            return None
        return (cut.digest, "enhanced"), partial(render.render_enhanced, data)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep >= _SWEEP_INTERVAL_S:
            self._last_sweep = now
            self.tasks.forget_expired(now, self.config.task_retention_s)

    def reset(self) -> None:
        """Forget stats, call log, tasks, quota windows, call counts and faults.

        Tokens stay valid and the configured limits stay in force; only what was used of them
        is forgotten.
        """
        with self.lock:
            self.stats.reset()
            self.tasks.reset()
            self.limiter.reset()
            self.key_calls.reset()
            self.faults.set_rules([])
        self.renders.clear()
