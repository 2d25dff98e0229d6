"""Tasks the simulator is processing: ids, processing schedule, stored uploads.

Every async API (correct_edu, paper_cut_edu_vlm, handwriting_composition) stores the same
``Task``: who submitted it, when it starts and finishes, and its API's deterministic content
(a ``GradedPage`` for correct_edu, a ``PaperCut`` or an ``Essay`` for the others). Task ids
are random, as the provider's (``ids``); processing times come from an RNG seeded by
``--seed`` and the task's rank, so a poller sees the same progression on every run. A
correct_edu task's questions finish one by one, so results fill in gradually as they do at
the provider; the other APIs only ever show a whole result. Only uploads that a result
object must be drawn from are kept (deduplicated by digest); content is never re-derived.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.config import CORRECT_EDU, SimConfig
from simulator.grading import GradedPage
from simulator.ids import IdSource


class TaskContent(Protocol):
    """An API's deterministic result content, able to say what ingestion must contain."""

    def summary(self) -> dict[str, Any]:
        """The ``/_sim/tasks`` fields describing a complete ingestion of this result."""
        ...


@dataclass
class Task:
    """One submitted page: its API, its content and when processing starts and finishes.

    ``finish_at`` holds one time per correct_edu question, or a single time for the other
    APIs; ``pollable`` is False for records kept only to back a synchronous answer's objects.
    """

    task_id: str
    api_key: str
    content: GradedPage | TaskContent
    created_at: float
    finish_at: tuple[float, ...]
    api: str = CORRECT_EDU
    started_at: float | None = None
    blob_key: str | None = None
    pollable: bool = True
    first_complete_fetch_at: float | None = None
    fetches: int = 0

    @property
    def page(self) -> GradedPage:
        """The correct_edu grading; a TypeError for a task of another API."""
        if not isinstance(self.content, GradedPage):
            raise TypeError(f"task {self.task_id} is a {self.api} task, not correct_edu")
        return self.content

    @property
    def ready_at(self) -> float:
        """When the whole result is available (``isAllFinished``, status success)."""
        return max(self.finish_at)

    def finished(self, now: float) -> tuple[bool, ...]:
        """Which questions (by ``seqence``) are graded at time ``now``."""
        return tuple(now >= at for at in self.finish_at)

    def phase(self, now: float) -> str:
        """``pending`` (queued), ``running`` or ``done`` at time ``now``."""
        if now >= self.ready_at:
            return "done"
        started = self.started_at if self.started_at is not None else self.created_at
        return "running" if now >= started else "pending"

    def times_json(self, now: float) -> dict[str, int]:
        """The status block's times in epoch ms, each present once it has happened."""
        times = {"created_time": _ms(self.created_at)}
        started = self.started_at if self.started_at is not None else self.created_at
        if now >= started:
            times["started_time"] = _ms(started)
        if now >= self.ready_at:
            times["finished_time"] = _ms(self.ready_at)
            times["duration"] = _ms(self.ready_at) - _ms(started)
        return times

    def to_json(self) -> dict[str, Any]:
        """The ``/_sim/tasks`` view: what a complete, exactly-once ingestion must contain."""
        common = {
            "api": self.api,
            "api_key": self.api_key,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "processing_s": self.ready_at - self.created_at,
        }
        if not isinstance(self.content, GradedPage):
            common["started_at"] = self.started_at
            common.update(self.content.summary())
        else:
            common.update(self._graded_json(self.content))
        common["first_complete_fetch_at"] = self.first_complete_fetch_at
        common["fetches"] = self.fetches
        return common

    def _graded_json(self, page: GradedPage) -> dict[str, Any]:
        return {
            "image_sha256": page.image_sha256,
            "image_id": page.image_id,
            "questions": [
                {
                    "questionId": q.question_id,
                    "seqence": q.seqence,
                    "correctResult": q.correct_result,
                    "slots": [slot.slot_id for slot in q.slots],
                    "finish_at": self.finish_at[q.seqence],
                }
                for q in page.questions
            ],
        }


def _ms(epoch_s: float) -> int:
    return int(epoch_s * 1000)


def _processing_s(rng: random.Random, config: SimConfig) -> float:
    """One log-normal processing time, floored then scaled by ``time_scale``."""
    drawn = config.processing_median_s * math.exp(config.processing_sigma * rng.gauss(0.0, 1.0))
    return max(config.processing_min_s, drawn) * config.time_scale


def schedule(
    seed_key: str, questions: int, config: SimConfig, created_at: float
) -> tuple[float, ...]:
    """Finish time of each question: spread over a log-normal total, the last one at the total.

    Questions finish in a shuffled order, not necessarily by ``seqence``, so clients cannot
    assume a prefix of the list is done.
    """
    rng = random.Random(f"processing:{seed_key}")
    total = _processing_s(rng, config)
    fractions = [*sorted(rng.random() for _ in range(questions - 1)), 1.0]
    order = list(range(questions))
    rng.shuffle(order)
    finish = [0.0] * questions
    for rank, index in enumerate(order):
        finish[index] = created_at + fractions[rank] * total
    return tuple(finish)


def schedule_whole(seed_key: str, config: SimConfig, created_at: float) -> tuple[float, float]:
    """``(started_at, finished_at)`` of a task processed as one piece, same latency model.

    The task waits in the queue for a fifth to a third of its processing time, so pollers
    see every status (pending, running, success) as time passes.
    """
    rng = random.Random(f"processing:{seed_key}")
    total = _processing_s(rng, config)
    return created_at + total * rng.uniform(0.2, 0.35), created_at + total


@dataclass
class TaskStore:
    """Tasks by id plus their uploads by digest; not thread-safe, the server locks around it."""

    seed: int
    tasks: dict[str, Task] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = IdSource()
        self._created = 0

    def schedule_key(self) -> str:
        """The seed of the next task's processing times: ``--seed`` and the task's rank."""
        self._created += 1
        return f"{self.seed}:{self._created}"

    def new_task_id(self, now: float) -> str:
        """A fresh 19-digit numeric id, never one in use unless the id sequence restarted."""
        while True:
            replayed = self.ids.replays("numeric")  # asked first: the last replay ends it
            task_id = self.ids.task_id(now)
            if replayed or task_id not in self.tasks:
                return task_id

    def new_string_task_id(self) -> str:
        """A fresh ``task-`` + 32 alphanumerics id, handwriting_composition's style."""
        while True:
            replayed = self.ids.replays("string")
            task_id = self.ids.string_task_id()
            if replayed or task_id not in self.tasks:
                return task_id

    def new_log_id(self) -> int:
        """A random 19-digit ``log_id``, below 2**63 so it fits a signed bigint."""
        return self.ids.log_id()

    def new_long_log_id(self) -> str:
        """A 32-digit ``log_id`` string, as handwriting_composition answers with."""
        return self.ids.long_log_id()

    def add(self, task: Task, data: bytes | None = None) -> None:
        """Store a task and, when it has one, its upload (one copy per distinct digest)."""
        self.tasks[task.task_id] = task
        key = _blob_key(task)
        if key is not None and data is not None:
            self.blobs.setdefault(key, data)

    def get(self, task_id: str) -> Task | None:
        """The task, or None if unknown or forgotten."""
        return self.tasks.get(task_id)

    def image(self, sha256_hex: str) -> bytes | None:
        """The uploaded bytes with that digest, if some task still holds them."""
        return self.blobs.get(sha256_hex)

    def forget_expired(self, now: float, retention_s: float) -> int:
        """Drop tasks ready for longer than ``retention_s`` (0 keeps all); return how many."""
        if retention_s <= 0:
            return 0
        gone = [tid for tid, task in self.tasks.items() if now >= task.ready_at + retention_s]
        for task_id in gone:
            del self.tasks[task_id]
        if gone:
            kept = {_blob_key(task) for task in self.tasks.values()}
            self.blobs = {sha: data for sha, data in self.blobs.items() if sha in kept}
        return len(gone)

    def reset(self) -> None:
        """Forget every task and upload, and the ids issued so far (new ones stay unique)."""
        self.tasks.clear()
        self.blobs.clear()
        self.ids.forget()


def _blob_key(task: Task) -> str | None:
    """Digest of the upload a task's objects are drawn from, if it has any."""
    if isinstance(task.content, GradedPage):
        return task.content.image_sha256
    return task.blob_key
