"""Counters and the call log behind ``/_sim/stats``, ``/_sim/calls`` and ``/_sim/uploads``.

Benchmarks judge the pipeline by how it spends the quota (how many calls were refused with 18,
how many get_result calls each task needed), so every call is recorded with its outcome: "ok",
the provider error code as a string, ``http_<status>``, ``drop`` or ``timeout``. Fault tests
also need to explain every create_task a page cost, so each call also records whether a fault
was injected, whether the provider performed it (created the task, billed the call), the task
it created or asked about, and the sha256 of the page it uploaded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

# Calls made without a usable token cannot be attributed to an API key.
UNKNOWN_KEY = "-"


@dataclass(frozen=True)
class CallDetail:
    """What is known of a call beyond its outcome.

    ``performed``: the provider acted on it (a task created, a synchronous answer computed, a
    task's progress read), whether or not the answer reached the client. ``task_id``: the
    task a create_task made, or the one a get_result asked about. ``upload_sha256``: sha256 of
    the uploaded bytes (the decoded ``image``, else the decoded ``pdf_file``) of a create_task
    or synchronous call, None if it had none.
    """

    injected: bool = False
    performed: bool = False
    task_id: str | None = None
    upload_sha256: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """One entry of the call log."""

    at: float
    api_key: str
    operation: str
    outcome: str
    detail: CallDetail

    def brief(self) -> list[Any]:
        """``[epoch, api_key, operation, outcome]``, the log's compact form."""
        return [self.at, self.api_key, self.operation, self.outcome]

    def to_json(self) -> dict[str, Any]:
        """Every field, flat."""
        return {
            "at": self.at,
            "api_key": self.api_key,
            "operation": self.operation,
            "outcome": self.outcome,
            **asdict(self.detail),
        }


@dataclass
class CallStats:
    """Outcome counts per operation and per key, plus the full ordered call log."""

    calls: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    by_key: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    )
    log: list[CallRecord] = field(default_factory=list)
    served_objects: int = 0

    def record(
        self,
        when: float,
        api_key: str | None,
        operation: str,
        outcome: str,
        detail: CallDetail | None = None,
    ) -> None:
        """Count one call; ``operation`` is "<api>.<op>", e.g. "correct_edu.get_result"."""
        key = api_key or UNKNOWN_KEY
        self.calls[operation][outcome] += 1
        self.by_key[key][operation][outcome] += 1
        self.log.append(CallRecord(when, key, operation, outcome, detail or CallDetail()))
        if operation == "bos.get" and outcome == "ok":
            self.served_objects += 1

    def to_json(self, tasks: int) -> dict[str, Any]:
        """The ``/_sim/stats`` body."""
        return {
            "calls": {op: dict(outcomes) for op, outcomes in self.calls.items()},
            "by_key": {
                key: {op: dict(outcomes) for op, outcomes in ops.items()}
                for key, ops in self.by_key.items()
            },
            "tasks": tasks,
            "served_objects": self.served_objects,
        }

    def uploads_json(self) -> dict[str, dict[str, Any]]:
        """The ``/_sim/uploads`` body: what the calls carrying each uploaded page came to.

        Per sha256: ``calls`` made with it, ``performed`` (the provider acted on them),
        ``answered`` (performed, and the answer reached the client), ``task_ids`` created,
        and the count of each ``outcome``. ``performed - answered`` calls were billed or
        created a task the client never heard of.
        """
        uploads: dict[str, dict[str, Any]] = {}
        for entry in self.log:
            sha = entry.detail.upload_sha256
            if sha is None:
                continue
            counts = uploads.setdefault(
                sha, {"calls": 0, "performed": 0, "answered": 0, "task_ids": [], "outcomes": {}}
            )
            counts["calls"] += 1
            if entry.detail.performed:
                counts["performed"] += 1
                counts["answered"] += not entry.detail.injected
                if entry.detail.task_id is not None:
                    counts["task_ids"].append(entry.detail.task_id)
            counts["outcomes"][entry.outcome] = counts["outcomes"].get(entry.outcome, 0) + 1
        return uploads

    def reset(self) -> None:
        """Forget every count and the log."""
        self.calls.clear()
        self.by_key.clear()
        self.log.clear()
        self.served_objects = 0
