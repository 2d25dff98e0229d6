"""The errors scangrade raises on purpose, split by what the caller must do.

```
ScangradeError
 ├─ Retryable                 try again later; the page is not at fault
 │   ├─ Transient             provider 1/2/4/282000/336100…, HTTP 5xx, timeouts, S3 hiccups
 │   │   ├─ AmbiguousSubmit   a page was sent, no answer read: the provider may have it
 │   │   └─ DatabaseUnavailable  Postgres refused a new connection (too many clients, down)
 │   └─ RateLimited           provider error 18: wait for the limiter, never a failure
 ├─ Stop                      stop calling with this key; tell the operator
 │   ├─ QuotaExhausted        every usable key is parked or out of budget
 │   │   ├─ DailyLimitReached provider 17: the key is parked until the provider's day turns
 │   │   └─ TotalLimitReached provider 19: the key is parked until the operator unparks it
 │   └─ AuthFailed            bad key or secret, no permission (6, 14, invalid_client)
 │       └─ NoApiKey          no key configured at all: pages wait until one is
 ├─ TokenRejected             provider 100/110/111: refresh the token once, retry once
 ├─ BadInput                  this file or page can never succeed: record it and go on
 │   └─ ProviderRejected      the provider refused the page for good (216201, 282810…)
 ├─ Gone                      the provider no longer knows the task id (282808)
 └─ ConfigurationError        an option or setting is wrong: the operator must fix it
     ├─ WebhookRefused        a --notify URL answered 3xx/4xx: sending again cannot help
     └─ StoreRefused          S3 has no credentials or refuses them
```

At the command line a Transient (a service down, S3 or a webhook unreachable) exits 3, a
ConfigurationError or AuthFailed exits 4 (``EXIT_CODES``), each with its one-line message.

Adapters translate library exceptions into these with ``raise ... from e``; callers branch on
the type, never on message text. Every message is safe to store and log: no access token, key
or secret ever goes into one.
"""

from __future__ import annotations


class ScangradeError(Exception):
    """Root of every error scangrade raises on purpose."""


class Retryable(ScangradeError):
    """The operation may succeed if tried again later."""


class Transient(Retryable):
    """A passing fault of the provider, the network or a local service."""


class AmbiguousSubmit(Transient):
    """A page was sent (create_task, a billed synchronous call) but no answer was read.

    Read timeout, a connection dropped after sending, HTTP 5xx without a provider error code,
    an unreadable success: the provider may have accepted the page, created a task and billed
    the call, so sending it again may pay twice. Callers count a retry as a resubmission.
    """


class DatabaseUnavailable(Transient):
    """Postgres refused or did not answer a new connection (``max_connections`` reached, down).

    Raised while connecting, before anything was read or written: trying again is safe. Never
    the page's fault, so it does not use up ``SCANGRADE_MAX_PAGE_ATTEMPTS``.
    """


class RateLimited(Retryable):
    """The provider answered 18: the account-wide QPS quota was exceeded."""


class Stop(ScangradeError):
    """Calls with this API key must stop until the operator acts."""


class QuotaExhausted(Stop):
    """A key's call allowance is spent (17, 19, or its own daily budget)."""


class DailyLimitReached(QuotaExhausted):
    """The provider answered 17: the key's calls for the day are spent."""


class TotalLimitReached(QuotaExhausted):
    """The provider answered 19: the key's calls are spent for good."""


class AuthFailed(Stop):
    """The key or secret is wrong, or the key may not use this API."""


NO_API_KEY = (
    "no API key: set SCANGRADE_BAIDU_API_KEY and SCANGRADE_BAIDU_SECRET_KEY, "
    "or SCANGRADE_BAIDU_KEYS"
)


class NoApiKey(AuthFailed):
    """The settings hold no API key: nothing can be sent until one is configured."""

    def __init__(self, message: str = NO_API_KEY) -> None:
        super().__init__(message)


class TokenRejected(ScangradeError):
    """The access token is invalid or expired (100, 110, 111)."""


class BadInput(ScangradeError):
    """The input cannot become a graded page; record the reason and go on."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class ProviderRejected(BadInput):
    """The provider refused the page permanently; retrying would pay for nothing."""


class Gone(ScangradeError):
    """The provider does not know the task id (never created, or no longer kept)."""


class ConfigurationError(ScangradeError):
    """An option, manifest entry or setting is wrong; nothing was sent or changed."""


class WebhookRefused(ConfigurationError):
    """The ``--notify`` URL refused the batch summary (HTTP 3xx or 4xx other than 408/429)."""


class StoreRefused(ConfigurationError):
    """The object store has no credentials, or refuses the ones it was given."""


EXIT_CODES: tuple[tuple[type[ScangradeError], int], ...] = (
    (Transient, 3),
    (ConfigurationError, 4),
    (AuthFailed, 4),
)
"""The exit code of a command that an error stopped, by the error's type (first match)."""
