"""Fault injection at the provider boundary.

The pipeline's retry, backoff and "record and go on" paths must be exercised against the
provider's real failure shapes, not by patching our own code. Rules set through
``POST /_sim/faults`` make chosen calls fail in one of these ways (at most one per rule):

- ``error_code``: the provider's JSON error answer (HTTP 200). 110 also revokes the token the
  call carried and 111 expires it, so a retry with the same token keeps failing until the
  client fetches a new one, as at the provider.
- ``http_status``: a bare HTTP error (a gateway's 500, 502, 503...), no JSON.
- ``drop``: the connection is closed without any HTTP answer.
- ``timeout``: no answer at all: the request is held until the client gives up (its read
  timeout) or ``delay_s`` passes (default ``TIMEOUT_HOLD_S``), then the connection is closed.
- ``html_200``: a gateway's HTML page with HTTP 200, where JSON (or an image) was due.
- ``truncated``: the answer cut in half: JSON that does not parse, or half an image.
- none of these, only ``delay_s``: the call is answered normally, ``delay_s`` late.

``delay_s`` otherwise delays the failure. ``performed`` says whether the provider acted on the
call (created the task, computed and billed a synchronous answer, read a task's progress)
before its answer was lost: the ambiguous case a client cannot tell apart from a call that
never arrived. It applies to ``http_status``, ``drop``, ``timeout`` and ``html_200`` and
defaults to False; an ``error_code`` answer is never performed, a late answer and a truncated
one always are. A performed call
whose own answer would have been an error (a bad image, say) did nothing, failure or not.
``oauth.token`` and ``bos.get`` faults never perform.

A rule with ``count`` fires that many times then stops; ``rate`` fires on that fraction of
matching calls (drawn from the seeded RNG, so runs repeat). A rule with ``api_key`` only
matches calls made with that key's tokens, so one key of a pool can be made to fail while the
others work.

Besides rules, ``FaultInjector`` draws the "chaos" faults of the run-time settings
(``transient_rate``, ``token_invalid_rate``, ``bos_transient_rate``, ``html_200_rate``,
``truncated_json_rate`` and their ``bos_`` counterparts; see ``SimConfig``): the transient
kinds come from a shuffled deck, so every kind is drawn equally often.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

# How long a ``timeout`` fault holds a request whose client never gives up.
TIMEOUT_HOLD_S = 300.0

# The transient answers of issue 5, mixed evenly by ``transient_rate``.
CHAOS_KINDS: tuple[dict[str, Any], ...] = (
    {"error_code": 1},
    {"error_code": 2},
    {"error_code": 282000},
    {"error_code": 336100},
    {"http_status": 500},
    {"http_status": 502},
    {"timeout": True},
    {"drop": True},
)
# Signed result URLs are served by BOS, which has no JSON error codes.
BOS_CHAOS_KINDS: tuple[dict[str, Any], ...] = (
    {"http_status": 500},
    {"http_status": 502},
    {"timeout": True},
    {"drop": True},
)
# Error codes that say the token is bad; a fault answering one of them spoils the token.
TOKEN_CODES = frozenset({110, 111})


@dataclass
class FaultRule:
    """One fault: which operation ("correct_edu.get_result", "oauth.token", "bos.get", "*").

    ``api_key`` (None = any caller) narrows it to the calls of one API key; calls made
    without a token (``oauth.token``, ``bos.get``) never match such a rule. ``performed``
    None means the default of the rule's kind (see the module docstring); a built rule always
    holds a bool there.
    """

    operation: str
    error_code: int | None = None
    http_status: int | None = None
    drop: bool = False
    timeout: bool = False
    html_200: bool = False
    truncated: bool = False
    delay_s: float = 0.0
    performed: bool | None = None
    count: int | None = None
    rate: float = 1.0
    api_key: str | None = None

    def __post_init__(self) -> None:
        kinds = [
            name
            for name, present in (
                ("error_code", self.error_code is not None),
                ("http_status", self.http_status is not None),
                ("drop", self.drop),
                ("timeout", self.timeout),
                ("html_200", self.html_200),
                ("truncated", self.truncated),
            )
            if present
        ]
        if len(kinds) > 1:
            raise ValueError(f"a rule fails in one way only, not {' and '.join(kinds)}")
        if not kinds and self.delay_s <= 0:
            raise ValueError(
                "a rule needs error_code, http_status, drop, timeout, html_200, truncated "
                "or delay_s"
            )
        if self.delay_s < 0 or not 0.0 <= self.rate <= 1.0:
            raise ValueError("delay_s must be >= 0 and rate between 0 and 1")
        if self.error_code is not None and self.performed:
            raise ValueError("an error_code answer is never performed")
        if (not kinds or self.truncated) and self.performed is False:
            raise ValueError("a late or truncated answer is always performed")
        if self.performed is None:
            self.performed = not kinds or self.truncated

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
        for flag in ("drop", "timeout", "html_200", "truncated", "performed"):
            if data.get(flag) is not None and not isinstance(data[flag], bool):
                raise ValueError(f"bad rule {data!r}: {flag} must be true or false")
        try:
            return cls(
                operation=data["operation"],
                error_code=None if data.get("error_code") is None else int(data["error_code"]),
                http_status=None if data.get("http_status") is None else int(data["http_status"]),
                drop=bool(data.get("drop", False)),
                timeout=bool(data.get("timeout", False)),
                html_200=bool(data.get("html_200", False)),
                truncated=bool(data.get("truncated", False)),
                delay_s=float(data.get("delay_s", 0.0)),
                performed=data.get("performed"),
                count=None if data.get("count") is None else int(data["count"]),
                rate=float(data.get("rate", 1.0)),
                api_key=data.get("api_key"),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad rule {data!r}: {exc}") from exc

    @property
    def late_only(self) -> bool:
        """True when the rule only delays a normal answer."""
        return self.outcome is None

    @property
    def outcome(self) -> str | None:
        """What ``/_sim/calls`` records for a call this rule failed; None for a late answer."""
        if self.error_code is not None:
            return str(self.error_code)
        if self.http_status is not None:
            return f"http_{self.http_status}"
        if self.drop:
            return "drop"
        if self.timeout:
            return "timeout"
        if self.html_200:
            return "html_200"
        if self.truncated:
            return "truncated"
        return None


@dataclass(frozen=True)
class Chaos:
    """Rates of the faults drawn without rules (``SimConfig``'s chaos settings).

    ``html_200_rate`` and ``truncated_rate`` are drawn after the transient faults, in that
    order, each on its own share of calls; ``performed_rate`` also says how many HTML pages
    came back from a call the provider performed.
    """

    transient_rate: float = 0.0
    performed_rate: float = 0.0
    kinds: tuple[dict[str, Any], ...] = CHAOS_KINDS
    html_200_rate: float = 0.0
    truncated_rate: float = 0.0


class FaultInjector:
    """The active rules and the chaos draws, consulted once per call."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        # Chaos has its own RNG so that switching it on does not change what rules draw.
        self._chaos_rng = random.Random(f"chaos:{seed}")
        self._decks: dict[str, list[dict[str, Any]]] = {}
        self._rules: list[FaultRule] = []

    def set_rules(self, rules: list[FaultRule]) -> None:
        """Replace every rule (an empty list clears them)."""
        self._rules = list(rules)

    def pick(
        self, operation: str, api_key: str | None, chaos: Chaos | None = None
    ) -> FaultRule | None:
        """The first rule that fires for this call, consuming one of its ``count``.

        ``api_key`` is the key the call's token belongs to, None when it has none. When no
        rule fires, ``chaos`` may still draw a transient fault.
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
        if chaos is None:
            return None
        if chaos.transient_rate > 0 and self._chaos_rng.random() < chaos.transient_rate:
            kind = self._deal(chaos.kinds)
            performed = None
            if "error_code" not in kind:
                performed = self._chaos_rng.random() < chaos.performed_rate
            return FaultRule(operation, performed=performed, **kind)
        if chaos.html_200_rate > 0 and self._chaos_rng.random() < chaos.html_200_rate:
            performed = self._chaos_rng.random() < chaos.performed_rate
            return FaultRule(operation, html_200=True, performed=performed)
        if chaos.truncated_rate > 0 and self._chaos_rng.random() < chaos.truncated_rate:
            return FaultRule(operation, truncated=True)
        return None

    def latency(self, low_s: float, high_s: float, rate: float = 1.0) -> float:
        """A call's extra latency, drawn evenly between ``low_s`` and ``high_s`` (0: none).

        Only ``rate`` of the calls are late.
        """
        if high_s <= 0 or rate <= 0:
            return 0.0
        if rate < 1.0 and self._chaos_rng.random() >= rate:
            return 0.0
        return self._chaos_rng.uniform(low_s, max(low_s, high_s))

    def token_spoiled(self, rate: float) -> bool:
        """Whether chaos invalidates the token of this call (error 110)."""
        return rate > 0 and self._chaos_rng.random() < rate

    def _deal(self, kinds: tuple[dict[str, Any], ...]) -> dict[str, Any]:
        """The next kind from a shuffled deck of ``kinds``, reshuffled once used up."""
        deck = self._decks.setdefault(repr(kinds), [])
        if not deck:
            deck.extend(kinds)
            self._chaos_rng.shuffle(deck)
        return deck.pop()

    def to_json(self) -> list[dict[str, Any]]:
        """The rules as they stand (``count`` shows what is left)."""
        return [asdict(rule) for rule in self._rules]
