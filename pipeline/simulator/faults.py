"""Fault injection at the provider boundary.

The pipeline's retry, backoff and "record and go on" paths must be exercised against the
provider's real failure shapes, not by patching our own code. Rules set through
``POST /_sim/faults`` make chosen calls answer a provider error code, an HTTP status, or
arrive late. A rule with ``count`` fires that many times then stops; ``rate`` fires on that
fraction of matching calls (drawn from the seeded RNG, so runs repeat). A rule with
``api_key`` only matches calls made with that key's tokens, so one key of a pool can be made
to fail while the others work.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class FaultRule:
    """One fault: which operation ("correct_edu.get_result", "oauth.token", "bos.get", "*").

    ``api_key`` (None = any caller) narrows it to the calls of one API key; calls made
    without a token (``oauth.token``, ``bos.get``) never match such a rule.
    """

    operation: str
    error_code: int | None = None
    http_status: int | None = None
    delay_s: float = 0.0
    count: int | None = None
    rate: float = 1.0
    api_key: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """Build a rule from its JSON form; raises ValueError when it cannot mean anything."""
        if not isinstance(data, dict) or not isinstance(data.get("operation"), str):
            raise ValueError('each rule needs "operation", e.g. "correct_edu.get_result"')
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown rule fields: {sorted(unknown)}")
        if data.get("api_key") is not None and not isinstance(data["api_key"], str):
            raise ValueError(f"bad rule {data!r}: api_key must be a string")
        try:
            rule = cls(
                operation=data["operation"],
                error_code=None if data.get("error_code") is None else int(data["error_code"]),
                http_status=None if data.get("http_status") is None else int(data["http_status"]),
                delay_s=float(data.get("delay_s", 0.0)),
                count=None if data.get("count") is None else int(data["count"]),
                rate=float(data.get("rate", 1.0)),
                api_key=data.get("api_key"),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad rule {data!r}: {exc}") from exc
        if rule.error_code is None and rule.http_status is None and rule.delay_s <= 0:
            raise ValueError("a rule needs error_code, http_status or delay_s")
        return rule


class FaultInjector:
    """The active rules, consulted once per call."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._rules: list[FaultRule] = []

    def set_rules(self, rules: list[FaultRule]) -> None:
        """Replace every rule (an empty list clears them)."""
        self._rules = list(rules)

    def pick(self, operation: str, api_key: str | None) -> FaultRule | None:
        """The first rule that fires for this call, consuming one of its ``count``.

        ``api_key`` is the key the call's token belongs to, None when it has none.
        """
        for rule in self._rules:
            if rule.operation not in (operation, "*") or rule.count == 0:
                continue
            if rule.api_key is not None and rule.api_key != api_key:
                continue
            if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
            return rule
        return None

    def to_json(self) -> list[dict[str, Any]]:
        """The rules as they stand (``count`` shows what is left)."""
        return [asdict(rule) for rule in self._rules]
