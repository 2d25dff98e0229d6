"""Counters and the call log behind ``/_sim/stats`` and ``/_sim/calls``.

Benchmarks judge the pipeline by how it spends the quota (how many calls were refused with 18,
how many get_result calls each task needed), so every call is recorded with its outcome: "ok"
or the provider error code as a string.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

# Calls made without a usable token cannot be attributed to an API key.
UNKNOWN_KEY = "-"


@dataclass
class CallStats:
    """Outcome counts per operation and per key, plus the full ordered call log."""

    calls: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    by_key: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    )
    log: list[tuple[float, str, str, str]] = field(default_factory=list)
    served_objects: int = 0

    def record(self, when: float, api_key: str | None, operation: str, outcome: str) -> None:
        """Count one call; ``operation`` is "<api>.<op>", e.g. "correct_edu.get_result"."""
        key = api_key or UNKNOWN_KEY
        self.calls[operation][outcome] += 1
        self.by_key[key][operation][outcome] += 1
        self.log.append((when, key, operation, outcome))
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

    def reset(self) -> None:
        """Forget every count and the log."""
        self.calls.clear()
        self.by_key.clear()
        self.log.clear()
        self.served_objects = 0
