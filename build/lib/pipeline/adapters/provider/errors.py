"""The provider's error codes, sorted by what scangrade must do about them (API_NOTES.md)."""

from __future__ import annotations

from pipeline.errors import (
    AuthFailed,
    DailyLimitReached,
    Gone,
    ProviderRejected,
    RateLimited,
    ScangradeError,
    TokenRejected,
    TotalLimitReached,
    Transient,
)

# 15 is "app not exists or create failed" in seed 004's table, but seed 002 answers it for
# "并发超限" (too many concurrent requests): retried with backoff, within the attempt limit.
TRANSIENT = frozenset({1, 2, 4, 13, 15, 216630, 216634, 282000, 282112, 282810, 336000, 336100})
RATE = frozenset({18})
QUOTA = frozenset({17, 19})
TOKEN = frozenset({100, 110, 111})
# 336004 is listed as an auth error in API_NOTES.md, but seed 004 (which wins) says it means
# "input file size invalid": a permanent input error.
AUTH = frozenset({3, 6, 14})
GONE = frozenset({282808})
_INPUT_RANGES = ((216100, 216103), (216200, 216203), (282100, 282103), (282110, 282114))
INPUT = (
    frozenset(
        {216110, 282003, 336001, 336002, 336003, 336004, 336005, 336006}
        | {code for low, high in _INPUT_RANGES for code in range(low, high + 1)}
    )
    - TRANSIENT
)


def error_for(code: int, message: str, context: str) -> ScangradeError:
    """The scangrade error for a provider ``error_code``; unknown codes count as transient."""
    text = f"{context}: provider error {code} {message!r}"
    if code in RATE:
        return RateLimited(text)
    if code in TOKEN:
        return TokenRejected(text)
    if code == 17:
        return DailyLimitReached(text)
    if code in QUOTA:
        return TotalLimitReached(text)
    if code in AUTH:
        return AuthFailed(text)
    if code in GONE:
        return Gone(text)
    if code in INPUT:
        return ProviderRejected(text, code=str(code))
    return Transient(text)
