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

# Shares of calls that the chaos settings fail (see ``SimConfig``): each between 0 and 1.
CHAOS_RATES: tuple[str, ...] = (
    "transient_rate",
    "token_invalid_rate",
    "chaos_performed_rate",
    "bos_transient_rate",
    "html_200_rate",
    "truncated_json_rate",
    "bos_html_200_rate",
    "bos_truncated_rate",
    "latency_rate",
)
LATENCY_FIELDS: tuple[str, ...] = ("latency_min_s", "latency_max_s")
QUOTA_BURST_FIELDS: tuple[str, ...] = ("quota_burst_every_s", "quota_burst_s")

# Fields that ``POST /_sim/config`` may change while the server runs (besides ``quotas`` and
# ``key_limits``, which have their own shapes); the others (host, port, keys, seed) only make
# sense at start-up.
RUNTIME_FIELDS: tuple[str, ...] = (
    "token_lifetime_s",
    "url_lifetime_s",
    "quota_scale",
    "processing_median_s",
    "processing_sigma",
    "processing_min_s",
    "time_scale",
    "task_retention_s",
    *CHAOS_RATES,
    *LATENCY_FIELDS,
    *QUOTA_BURST_FIELDS,
)

# The provider's per-key call limits: calls per day (error 17) and in all (error 19).
LIMIT_KINDS: tuple[str, ...] = ("daily", "total")


@dataclass
class SimConfig:
    """Everything that shapes the simulator's behaviour.

    ``quotas`` maps ``(api, op)`` to the QPS allowed per API key; 0 means unlimited and an
    operation missing from the map is unlimited too. ``time_scale`` multiplies every processing
    time (0.01 makes a 12 s grading take 0.12 s); it and ``quota_scale`` are read when a task is
    created or a call arrives, so changing them at run time affects later tasks and calls only.
    ``task_retention_s`` (0 = forever) forgets a finished task that long after it became ready,
    after which ``get_result`` answers 282808, the provider's "gone" answer.

    ``key_limits`` maps an API key to ``{"daily": N, "total": M}`` (either may be left out):
    the provider's call allowances of an application, which answer 17 once the key made N
    calls in the current day (days roll over at 00:00 Beijing time) and 19 once it made M in
    all, so a pool of keys can be tested running dry. Unlike a QPS of 0, a limit of 0 means
    no call at all is allowed.

    Chaos, for fault tests that want failures without writing rules (``POST /_sim/faults``
    rules come first): ``transient_rate`` is the share of API calls (create_task,
    get_result, synchronous calls) answered with one of issue 5's transient faults, taken
    evenly from 1, 2, 282000, 336100, HTTP 500, HTTP 502, a timeout and a dropped
    connection; of the last four, ``chaos_performed_rate`` is the share the provider
    performed anyway (the task exists, the call is billed) although its answer was lost.
    ``bos_transient_rate`` does the same for signed result image downloads (HTTP 500, 502,
    timeout, drop). ``token_invalid_rate`` is the share of API calls answered 110 whose token
    is then revoked for good. ``quota_burst_every_s`` and ``quota_burst_s`` make every API
    call of every key answer 18 for ``quota_burst_s`` seconds out of each
    ``quota_burst_every_s``, starting when they were set (0 = no bursts).

    A sloppy provider: ``latency_min_s``..``latency_max_s`` delays every API call and result
    image download (``latency_rate`` of them: all by default) by a time drawn evenly in that
    range (``latency_max_s`` 0 = none);
    ``html_200_rate`` is the share of API calls answered by a gateway's HTML page with HTTP
    200 (performed as often as ``chaos_performed_rate`` says) and ``truncated_json_rate`` the
    share whose JSON answer, the call performed, is cut in half; ``bos_html_200_rate`` and
    ``bos_truncated_rate`` do the same to result image downloads (half an image).
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
    key_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    transient_rate: float = 0.0
    token_invalid_rate: float = 0.0
    chaos_performed_rate: float = 0.5
    bos_transient_rate: float = 0.0
    html_200_rate: float = 0.0
    truncated_json_rate: float = 0.0
    bos_html_200_rate: float = 0.0
    bos_truncated_rate: float = 0.0
    latency_min_s: float = 0.0
    latency_max_s: float = 0.0
    latency_rate: float = 1.0
    quota_burst_every_s: float = 0.0
    quota_burst_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in CHAOS_RATES:
            _check_rate(name, getattr(self, name))
        # A limit on a key the simulator does not know would silently never apply.
        limits = parse_key_limits(self.key_limits, self.keys)
        self.key_limits = {key: kinds for key, kinds in limits.items() if kinds}

    def quota_for(self, api: str, op: str) -> float:
        """Effective QPS for one operation after scaling; 0 means unlimited."""
        return self.quotas.get((api, op), 0.0) * self.quota_scale

    def in_quota_burst(self, elapsed_s: float) -> bool:
        """Whether a quota burst (every call answers 18) is on, ``elapsed_s`` after it was set."""
        every, length = self.quota_burst_every_s, self.quota_burst_s
        return every > 0 and length > 0 and elapsed_s % every < length

    def to_json(self) -> dict[str, Any]:
        """JSON view for ``GET /_sim/config``; secrets are left out on purpose."""
        data = dataclasses.asdict(self)
        data["keys"] = sorted(self.keys)
        data["quotas"] = {f"{api}.{op}": qps for (api, op), qps in self.quotas.items()}
        return data

    def apply_runtime(self, changes: dict[str, Any]) -> None:
        """Apply a ``POST /_sim/config`` body, all or nothing; ValueError names a bad field.

        ``quotas`` may be given as ``{"api.op": qps}`` and replaces only the named operations;
        ``key_limits`` as ``{"api_key": {"daily": n, "total": m}}`` replaces the limits of the
        named keys only (``{}`` lifts a key's limits).
        """
        values: dict[str, int | float] = {}
        quotas: dict[tuple[str, str], float] = {}
        key_limits: dict[str, dict[str, int]] = {}
        for name, value in changes.items():
            if name == "quotas":
                quotas = _parse_quotas(value)
            elif name == "key_limits":
                key_limits = parse_key_limits(value, self.keys)
            elif name in RUNTIME_FIELDS:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                if name in CHAOS_RATES:
                    _check_rate(name, value)
                current = getattr(self, name)
                values[name] = int(value) if isinstance(current, int) else float(value)
            else:
                raise ValueError(f"{name} cannot be changed at run time")
        for name, number in values.items():
            setattr(self, name, number)
        self.quotas.update(quotas)
        self.key_limits.update(key_limits)
        # Keys whose limits were lifted are left out, so the JSON view shows only real limits.
        self.key_limits = {key: limits for key, limits in self.key_limits.items() if limits}

    def limits_for(self, api_key: str) -> dict[str, int]:
        """The key's call limits (``"daily"``, ``"total"``), empty when it has none."""
        return self.key_limits.get(api_key, {})


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")


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


def parse_key_limits(value: Any, keys: dict[str, str]) -> dict[str, dict[str, int]]:
    """Check ``{"api_key": {"daily": n, "total": m}}``; ValueError says what is wrong.

    Returns a copy, so the caller's dicts are never shared with the configuration.
    """
    if not isinstance(value, dict):
        raise ValueError('key_limits must be an object like {"demo-api-key": {"daily": 500}}')
    parsed: dict[str, dict[str, int]] = {}
    for api_key, limits in value.items():
        if api_key not in keys:
            raise ValueError(f"key_limits: unknown API key {api_key!r} (known: {sorted(keys)})")
        if not isinstance(limits, dict):
            raise ValueError(f'key_limits[{api_key!r}] must be an object like {{"daily": 500}}')
        unknown = sorted(set(limits) - set(LIMIT_KINDS))
        if unknown:
            allowed = ", ".join(LIMIT_KINDS)
            raise ValueError(f"key_limits[{api_key!r}]: unknown limits {unknown}, only {allowed}")
        for kind, count in limits.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(
                    f"key_limits[{api_key!r}][{kind!r}] must be a non-negative integer, "
                    f"got {count!r}"
                )
        parsed[api_key] = dict(limits)
    return parsed
