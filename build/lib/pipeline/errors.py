"""The errors scangrade raises on purpose, split by what the caller must do.

```
ScangradeError                   exit 1 at the command line, unless a class below says
 ├─ Retryable                    try again later; the page is not at fault
 │   ├─ Transient                exit 3: provider 1/2/4/282000/336100…, HTTP 5xx, timeouts
 │   │   ├─ AmbiguousSubmit      a page was sent, no answer read: the provider may have it
 │   │   ├─ DatabaseUnavailable  Postgres refused a new connection (too many clients, down)
 │   │   ├─ ServiceDown          Postgres or Redis does not answer: says what to start
 │   │   ├─ SummaryNotSent       ``notify``: the webhook did not answer, or answered 5xx
 │   │   └─ ImagesUnreadable     ``report``, ``export`` handback: the page images could not be read
 │   └─ RateLimited              provider error 18: wait for the limiter, never a failure
 ├─ Stop                         stop calling with this key; tell the operator
 │   ├─ QuotaExhausted           every usable key is parked or out of budget
 │   │   ├─ DailyLimitReached    provider 17: the key is parked until the provider's day turns
 │   │   └─ TotalLimitReached    provider 19: the key is parked until the operator unparks it
 │   └─ AuthFailed               exit 4: bad key or secret, no permission (6, 14, invalid_client)
 │       └─ NoApiKey             no key configured at all: pages wait until one is
 ├─ TokenRejected                provider 100/110/111: refresh the token once, retry once
 ├─ BadInput                     this file or page can never succeed: record it and go on
 │   └─ ProviderRejected         the provider refused the page for good (216201, 282810…)
 ├─ Gone                         the provider no longer knows the task id (282808)
 ├─ RequestRefused               exit 2: names what is not there, or already is; nothing changed
 │   ├─ UnknownUser              no account of that name (or id)
 │   ├─ UnknownClass             no class of that name (classes come from enqueue)
 │   ├─ DuplicateUsername        an account of that name exists, disabled or not
 │   ├─ BadAccount               an empty name or password, a role not admin or teacher
 │   ├─ AccountDisabled          a disabled account tried to grade
 │   ├─ NotPermitted             a teacher graded a page outside their classes
 │   ├─ UnknownGradeTarget       no such question or slot on that page
 │   └─ BadGrade                 a grade not correct, wrong or partial (or None: withdrawn)
 └─ ConfigurationError           exit 4: an option or setting is wrong; the operator must fix it
     ├─ WebhookRefused           a --notify URL answered 3xx/4xx: sending again cannot help
     ├─ SummaryRefused           ``notify``: the summary was refused or cannot be sent
     ├─ StoreRefused             S3 has no credentials or refuses them
     ├─ NoWebSecret              ``serve`` beyond loopback without SCANGRADE_WEB_SECRET
     └─ NeedsClone               ``demo`` and ``simulator`` in an installed copy: no dev kit
```

Each class carries its ``exit_code`` (:class:`ExitCode`) and its ``message``: what an error
raised without text says to the operator. At the command line one handler turns any of them
into its text on stderr and its exit code, never a traceback (``pipeline.operator.cli``).

Adapters translate library exceptions into these with ``raise ... from e``; callers branch on
the type, never on message text. Every message is safe to store and log: no access token, key
or secret ever goes into one.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """What ``scangrade`` exits with (README, and the docstring of ``pipeline.operator.cli``)."""

    OK = 0
    FAILED = 1  # the batch ended with failures; an error with no code of its own
    USAGE = 2  # click's: a wrong option or argument, an unknown batch, user or class
    SERVICE = 3  # Postgres, Redis, S3 or a webhook is unreachable
    CONFIG = 4  # no API key, S3 credentials missing or refused, a webhook refused
    FINDINGS = 5  # ``check`` found rows their other rows do not back
    INTERRUPTED = 130  # stopped with Ctrl-C (``status --watch``)


class ScangradeError(Exception):
    """Root of every error scangrade raises on purpose."""

    exit_code: ClassVar[int] = ExitCode.FAILED
    message: ClassVar[str] = "scangrade stopped on an error it has no advice for"

    def __str__(self) -> str:
        return super().__str__() or self.message

    def lines(self) -> list[str]:
        """The text as the command line prints it: one line, unless the class needs more."""
        return [str(self)]


class Retryable(ScangradeError):
    """The operation may succeed if tried again later."""

    message = "try again later"


class Transient(Retryable):
    """A passing fault of the provider, the network or a local service."""

    exit_code = ExitCode.SERVICE
    message = "a service or the provider did not answer; try again later"


class AmbiguousSubmit(Transient):
    """A page was sent (create_task, a billed synchronous call) but no answer was read.

    Read timeout, a connection dropped after sending, HTTP 5xx without a provider error code,
    an unreadable success: the provider may have accepted the page, created a task and billed
    the call, so sending it again may pay twice. Callers count a retry as a resubmission.
    """

    message = "a page was sent but no answer was read; the provider may have it"


class DatabaseUnavailable(Transient):
    """Postgres refused or did not answer a new connection (``max_connections`` reached, down).

    Raised while connecting, before anything was read or written: trying again is safe. Never
    the page's fault, so it does not use up ``SCANGRADE_MAX_PAGE_ATTEMPTS``.
    """

    message = "Postgres refused a new connection; try again later"


class ServiceDown(Transient):
    """A service the pipeline needs (Postgres, Redis) does not answer; it says what to start."""

    message = "Postgres or Redis does not answer; start them (in the checkout: make up)"

    def lines(self) -> list[str]:
        """One paragraph per service: what failed, then the command that starts it."""
        return str(self).split("\n")


class SummaryNotSent(Transient):
    """``scangrade notify``: the webhook did not answer, or answered 5xx."""

    message = "the batch summary was not sent; try again later"


class ImagesUnreadable(Transient):
    """``scangrade report`` or handback export: the page images could not be read from S3."""

    message = "the page images could not be read; try again later"


class RateLimited(Retryable):
    """The provider answered 18: the account-wide QPS quota was exceeded."""

    message = "the provider's calls per second are used up; wait for the limiter"


class Stop(ScangradeError):
    """Calls with this API key must stop until the operator acts."""

    message = "calls with this API key must stop until the operator acts"


class QuotaExhausted(Stop):
    """A key's call allowance is spent (17, 19, or its own daily budget)."""

    message = "every usable API key is parked or out of budget (see scangrade keys)"


class DailyLimitReached(QuotaExhausted):
    """The provider answered 17: the key's calls for the day are spent."""

    message = "the API key's calls for the day are spent; it waits for the next day"


class TotalLimitReached(QuotaExhausted):
    """The provider answered 19: the key's calls are spent for good."""

    message = "the API key's calls are spent for good; unpark it with scangrade keys"


class AuthFailed(Stop):
    """The key or secret is wrong, or the key may not use this API."""

    exit_code = ExitCode.CONFIG
    message = "the provider refused the API key or secret; check SCANGRADE_BAIDU_*"


NO_API_KEY = (
    "no API key: set SCANGRADE_BAIDU_API_KEY and SCANGRADE_BAIDU_SECRET_KEY, "
    "or SCANGRADE_BAIDU_KEYS"
)


class NoApiKey(AuthFailed):
    """The settings hold no API key: nothing can be sent until one is configured."""

    message = NO_API_KEY

    def __init__(self, message: str = NO_API_KEY) -> None:
        super().__init__(message)


class TokenRejected(ScangradeError):
    """The access token is invalid or expired (100, 110, 111)."""

    message = "the provider rejected the access token; it is fetched again"


class BadInput(ScangradeError):
    """The input cannot become a graded page; record the reason and go on."""

    message = "this file or page cannot be graded"

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class ProviderRejected(BadInput):
    """The provider refused the page permanently; retrying would pay for nothing."""

    message = "the provider refused the page for good"


class Gone(ScangradeError):
    """The provider does not know the task id (never created, or no longer kept)."""

    message = "the provider no longer knows the task"


class RequestRefused(ScangradeError):
    """A request names something that is not there, or that is already; nothing was changed.

    The accounts (``scangrade users``) and the grade overrides of the review app raise these.
    """

    exit_code = ExitCode.USAGE
    message = "the request was refused; nothing was changed"


class UnknownUser(RequestRefused):
    """No account has that username (or id)."""

    message = "no such user; scangrade users list shows them"


class UnknownClass(RequestRefused):
    """No class has that name: classes are made by ``enqueue`` from manifests and folders."""

    message = "no such class; classes come from the batches enqueued"


class DuplicateUsername(RequestRefused):
    """An account of that name exists already (disabled accounts keep their name)."""

    message = "a user of that name exists already"


class BadAccount(RequestRefused):
    """An account cannot be made so: an empty name or password, an unknown role."""

    message = "an account needs a username, a password and the role admin or teacher"


class AccountDisabled(RequestRefused):
    """The account was disabled: it may no longer sign in or grade."""

    message = "the account is disabled"


class NotPermitted(RequestRefused):
    """A teacher acted on a page outside the classes they were given."""

    message = "the page is not of a class this teacher was given"


class UnknownGradeTarget(RequestRefused):
    """An override names a question or slot the page does not have."""

    message = "the page has no such question or slot"


class BadGrade(RequestRefused):
    """An override's grade is not one a teacher gives: correct, wrong or partial (or None)."""

    message = "a teacher's grade is correct, wrong or partial (None withdraws the override)"


class ConfigurationError(ScangradeError):
    """An option, manifest entry or setting is wrong; nothing was sent or changed."""

    exit_code = ExitCode.CONFIG
    message = "an option or setting is wrong; nothing was sent or changed"


class WebhookRefused(ConfigurationError):
    """The ``--notify`` URL refused the batch summary (HTTP 3xx or 4xx other than 408/429)."""

    message = "the webhook refused the batch summary; sending it again cannot help"


class StoreRefused(ConfigurationError):
    """The object store has no credentials, or refuses the ones it was given."""

    message = "S3 has no credentials or refuses them; set SCANGRADE_S3_ACCESS_KEY_ID"


class SummaryRefused(ConfigurationError):
    """``scangrade notify``: the webhook refused the summary, or it cannot be sent."""

    message = "the batch summary was not sent: the webhook refused it"


class NoWebSecret(ConfigurationError):
    """``scangrade serve`` has no usable key to sign its session cookies with."""

    message = (
        "SCANGRADE_WEB_SECRET is not set: the web app signs its session cookies with it, and "
        "it must be set (32 characters or more) to listen on an address other than loopback"
    )


class NeedsClone(ConfigurationError):
    """A dev kit command (``demo``, ``simulator``) run from an installed copy, which has none."""

    message = (
        "this command needs a clone of the scangrade repository: the installed package has no "
        "dev kit or simulator; run it from a clone (make demo)"
    )
