"""Tasks the simulator is grading: ids, processing schedule, stored uploads.

A task's questions finish one by one at times drawn from an RNG seeded by the task id, so a
poller sees results fill in gradually as it would at the provider. Only the uploaded bytes are
kept (deduplicated by digest); grading and rendering are recomputed from them on demand.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.simulator.config import SimConfig
from pipeline.simulator.grading import GradedPage

# The provider's task ids look like Twitter-epoch snowflakes (ms since 2010-11-04 shifted by
# 22 bits); copying that keeps them 19 digits, time-ordered and unique across restarts.
_SNOWFLAKE_EPOCH_MS = 1288834974657


@dataclass
class Task:
    """One submitted page and when each of its questions finishes (epoch seconds)."""

    task_id: str
    api_key: str
    page: GradedPage
    created_at: float
    finish_at: tuple[float, ...]
    first_complete_fetch_at: float | None = None
    fetches: int = 0

    @property
    def ready_at(self) -> float:
        """When ``isAllFinished`` becomes true."""
        return max(self.finish_at)

    def finished(self, now: float) -> tuple[bool, ...]:
        """Which questions (by ``seqence``) are graded at time ``now``."""
        return tuple(now >= at for at in self.finish_at)

    def to_json(self) -> dict[str, Any]:
        """The ``/_sim/tasks`` view: what a complete, exactly-once ingestion must contain."""
        return {
            "api_key": self.api_key,
            "image_sha256": self.page.image_sha256,
            "image_id": self.page.image_id,
            "created_at": self.created_at,
            "ready_at": self.ready_at,
            "processing_s": self.ready_at - self.created_at,
            "questions": [
                {
                    "questionId": q.question_id,
                    "seqence": q.seqence,
                    "correctResult": q.correct_result,
                    "slots": [slot.slot_id for slot in q.slots],
                    "finish_at": self.finish_at[q.seqence],
                }
                for q in self.page.questions
            ],
            "first_complete_fetch_at": self.first_complete_fetch_at,
            "fetches": self.fetches,
        }


def schedule(
    task_id: str, questions: int, config: SimConfig, created_at: float
) -> tuple[float, ...]:
    """Finish time of each question: spread over a log-normal total, the last one at the total.

    Questions finish in a shuffled order, not necessarily by ``seqence``, so clients cannot
    assume a prefix of the list is done.
    """
    rng = random.Random(f"processing:{task_id}")
    drawn = config.processing_median_s * math.exp(config.processing_sigma * rng.gauss(0.0, 1.0))
    total = max(config.processing_min_s, drawn) * config.time_scale
    fractions = [*sorted(rng.random() for _ in range(questions - 1)), 1.0]
    order = list(range(questions))
    rng.shuffle(order)
    finish = [0.0] * questions
    for rank, index in enumerate(order):
        finish[index] = created_at + fractions[rank] * total
    return tuple(finish)


@dataclass
class TaskStore:
    """Tasks by id plus their uploads by digest; not thread-safe, the server locks around it."""

    seed: int
    tasks: dict[str, Task] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def new_task_id(self, now: float) -> str:
        """A fresh 19-digit numeric id, never one already in use."""
        while True:
            millis = int(now * 1000) - _SNOWFLAKE_EPOCH_MS
            task_id = str((millis << 22) | self._rng.getrandbits(22))
            if task_id not in self.tasks:
                return task_id

    def new_log_id(self) -> int:
        """A random (seeded) 19-digit ``log_id``, below 2**63 so it fits a signed bigint."""
        return self._rng.randrange(10**18, 2**63)

    def add(self, task: Task, data: bytes) -> None:
        """Store a task and its upload (one copy per distinct image)."""
        self.tasks[task.task_id] = task
        self.blobs.setdefault(task.page.image_sha256, data)

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
            kept = {task.page.image_sha256 for task in self.tasks.values()}
            self.blobs = {sha: data for sha, data in self.blobs.items() if sha in kept}
        return len(gone)

    def reset(self) -> None:
        """Forget every task and upload."""
        self.tasks.clear()
        self.blobs.clear()
