"""Logging set-up shared by the CLI and the workers.

httpx logs every request URL at INFO, and the provider's URLs carry the access token in
their query string: its loggers are held at WARNING so no token can reach a log line.

Every line carries the ids of the work it is about (``batch_id``, ``document_id``,
``page_id``, ``task_row_id``, ``celery_task_id``): a task binds its ids once (:func:`bind`,
done for every task from its arguments in ``workers/app.py``) and each record logged until the
task ends gets them, as JSON fields or as a ``[batch=3 page=17]`` suffix.

The periodic tasks run every second: Celery's lines about one that found nothing to do (beat
sending it, a worker receiving it, its success with nothing done) are held at DEBUG
(:class:`QuietPeriodic`), so a worker's log at INFO says what happened, not that time passed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import TextIO

from pipeline.settings import Settings

_QUIET = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "s3transfer")

# The command line's own noise: held at ERROR there unless -v (pypdf warns about every odd PDF
# it can still read; alembic announces each migration).
_CLI_QUIET = ("pypdf", "alembic")

PERIODIC_TASKS = frozenset({"scangrade.dispatch_polls", "scangrade.reconcile"})
"""The beat-driven tasks (``workers/app.py``) whose idle runs log at DEBUG."""

# What an idle periodic task returns, as Celery's success line shows it (saferepr).
_IDLE_RESULTS = frozenset({"0", "None", "{}", "[]"})

# Query parameters that are credentials: the access token, the OAuth client's key and secret,
# a signed URL's signature. No code of ours logs them; this catches a library that would.
_CREDENTIALS = re.compile(
    r"\b(access_token|client_id|client_secret|authorization)=[^&\s\"'<>]+", re.IGNORECASE
)


def redact(text: str) -> str:
    """The text with the value of every credential of a URL's query string masked."""
    return _CREDENTIALS.sub(r"\1=<redacted>", text)


class RedactingHandler(logging.StreamHandler[TextIO]):
    """A stream handler whose lines, tracebacks included, never show a URL's credentials."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record, redacted."""
        return redact(super().format(record))


_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar(
    "scangrade_log_ids", default=MappingProxyType({})
)

TEXT_IDS = ("batch_id", "document_id", "page_id", "task_row_id")
"""The ids the plain format shows, in this order (JSON lines carry every bound one)."""


def one_line(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) as escapes."""
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def bind(**ids: object) -> None:
    """Add ids to every record logged from here on in this context (a task, a thread)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in ids.items() if v is not None}})


def clear() -> None:
    """Forget every bound id (a task has ended)."""
    _CONTEXT.set(MappingProxyType({}))


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Ids bound for the records of one block only."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Puts the bound ids on each record; ids given as ``extra`` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the ids; never drops a record."""
        for name, value in _CONTEXT.get().items():
            record.__dict__.setdefault(name, value)
        return True


class TextFormatter(logging.Formatter):
    """The plain format, with the record's ids appended: ``... [batch=3 page=17]``."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """Render the record's line and its ids (any traceback follows them)."""
        text = super().formatMessage(record)
        ids = [
            f"{name.removesuffix('_id')}={record.__dict__[name]}"
            for name in TEXT_IDS
            if record.__dict__.get(name) is not None
        ]
        return f"{text} [{' '.join(ids)}]" if ids else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any ``extra`` ids (batch, page, task) kept."""

    _SKIP = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        """Render the record and its extras as JSON."""
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._SKIP})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class QuietPeriodic(logging.Filter):
    """Celery's INFO lines about an idle periodic task become DEBUG lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote the record if it is about an idle periodic task; drop it if DEBUG is off."""
        if record.levelno != logging.INFO or not _idle_periodic(record):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _idle_periodic(record: logging.LogRecord) -> bool:
    """Beat sent, a worker received, or a worker ran with nothing done, a periodic task."""
    if not record.name.startswith("celery."):
        return False
    args = record.args
    if isinstance(args, Mapping):  # a worker's "received" and "succeeded" lines
        done = args.get("return_value", "0")  # received: nothing done yet
        return args.get("name") in PERIODIC_TASKS and str(done) in _IDLE_RESULTS
    if isinstance(args, tuple):  # beat's "Sending due task <entry> (<task>)"
        return any(arg in PERIODIC_TASKS for arg in args)
    return False


def configure_logging(settings: Settings, *, level: str | None = None) -> None:
    """Root handler on stderr, plain or JSON, with the chatty HTTP loggers quieted.

    ``level`` overrides ``SCANGRADE_LOG_LEVEL``; the command line passes WARNING unless
    ``-v``, and then also quiets pypdf's and alembic's chatter.
    """
    handler = RedactingHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.addFilter(QuietPeriodic())
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            TextFormatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or settings.log_level).upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _CLI_QUIET:
        logging.getLogger(name).setLevel(logging.ERROR if level == "WARNING" else logging.NOTSET)
