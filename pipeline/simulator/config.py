"""Settings of the provider simulator.

The defaults are the provider's documented behaviour (the QPS of each API's operations, 30-day
tokens, result URLs signed for one day, a processing latency of about ten seconds), so a
simulator started without flags behaves like the real service, only local. Tests and
benchmarks change the knobs (``time_scale``, ``quota_scale``...) rather than the code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

DEFAULT_KEYS: dict[str, str] = {"demo-api-key": "demo-secret-key"}

# The provider's API names, as used in quotas, fault rules and ``/_sim`` statistics.
CORRECT_EDU = "correct_edu"
PAPER_CUT = "paper_cut_edu_vlm"
COMPOSITION = "handwriting_composition"
FORMULA = "formula"
CUSTOM_OCR = "custom_ocr"
ASYNC_APIS: tuple[str, ...] = (CORRECT_EDU, PAPER_CUT, COMPOSITION)

DEFAULT_QUOTAS: dict[tuple[str, str], float] = {
    (CORRECT_EDU, "create_task"): 2.0,
    (CORRECT_EDU, "get_result"): 2.0,
    (PAPER_CUT, "create_task"): 2.0,
    (PAPER_CUT, "get_result"): 10.0,
    (COMPOSITION, "create_task"): 2.0,
    (COMPOSITION, "get_result"): 10.0,
    # The seeds give no QPS for these two synchronous APIs; 2 is the provider's usual
    # free-tier figure for an OCR API.
    (FORMULA, "call"): 2.0,
    (CUSTOM_OCR, "call"): 2.0,
}

# Fields that ``POST /_sim/config`` may change while the server runs; the others (host, port,
# keys, seed) only make sense at start-up.
RUNTIME_FIELDS: tuple[str, ...] = (
    "token_lifetime_s",
    "url_lifetime_s",
    "quota_scale",
    "processing_median_s",
    "processing_sigma",
    "processing_min_s",
    "time_scale",
    "task_retention_s",
)


@dataclass
class SimConfig:
    """Everything that shapes the simulator's behaviour.

    ``quotas`` maps ``(api, op)`` to the QPS allowed per API key; 0 means unlimited and an
    operation missing from the map is unlimited too. ``time_scale`` multiplies every processing
    time (0.01 makes a 12 s grading take 0.12 s); it and ``quota_scale`` are read when a task is
    created or a call arrives, so changing them at run time affects later tasks and calls only.
    ``task_retention_s`` (0 = forever) forgets a finished task that long after it became ready,
    after which ``get_result`` answers 282808, the provider's "gone" answer.
    """

    host: str = "127.0.0.1"
    port: int = 8700
    keys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    token_lifetime_s: int = 2592000
    url_lifetime_s: int = 86400
    quotas: dict[tuple[str, str], float] = field(default_factory=lambda: dict(DEFAULT_QUOTAS))
    quota_scale: float = 1.0
    processing_median_s: float = 12.0
    processing_sigma: float = 0.69
    processing_min_s: float = 0.0
    time_scale: float = 1.0
    task_retention_s: float = 0.0
    seed: int = 0

    def quota_for(self, api: str, op: str) -> float:
        """Effective QPS for one operation after scaling; 0 means unlimited."""
        return self.quotas.get((api, op), 0.0) * self.quota_scale

    def to_json(self) -> dict[str, Any]:
        """JSON view for ``GET /_sim/config``; secrets are left out on purpose."""
        data = dataclasses.asdict(self)
        data["keys"] = sorted(self.keys)
        data["quotas"] = {f"{api}.{op}": qps for (api, op), qps in self.quotas.items()}
        return data

    def apply_runtime(self, changes: dict[str, Any]) -> None:
        """Apply a ``POST /_sim/config`` body, all or nothing; ValueError names a bad field.

        ``quotas`` may be given as ``{"api.op": qps}`` and replaces only the named operations.
        """
        values: dict[str, int | float] = {}
        quotas: dict[tuple[str, str], float] = {}
        for name, value in changes.items():
            if name == "quotas":
                quotas = _parse_quotas(value)
            elif name in RUNTIME_FIELDS:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                current = getattr(self, name)
                values[name] = int(value) if isinstance(current, int) else float(value)
            else:
                raise ValueError(f"{name} cannot be changed at run time")
        for name, number in values.items():
            setattr(self, name, number)
        self.quotas.update(quotas)


def _parse_quotas(value: Any) -> dict[tuple[str, str], float]:
    if not isinstance(value, dict):
        raise ValueError('quotas must be an object like {"correct_edu.create_task": 2}')
    parsed: dict[tuple[str, str], float] = {}
    for key, qps in value.items():
        api, sep, op = str(key).partition(".")
        if not sep or isinstance(qps, bool) or not isinstance(qps, int | float) or qps < 0:
            raise ValueError(f"bad quota {key!r}: {qps!r}")
        parsed[(api, op)] = float(qps)
    return parsed
