"""Logging set-up shared by the CLI and the workers.

httpx logs every request URL at INFO, and the provider's URLs carry the access token in
their query string: its loggers are held at WARNING so no token can reach a log line.
"""

from __future__ import annotations

import json
import logging
import sys

from pipeline.settings import Settings

_QUIET = ("httpx", "httpcore", "botocore", "boto3", "urllib3", "s3transfer")


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


def configure_logging(settings: Settings) -> None:
    """Root handler on stderr, plain or JSON, with the chatty HTTP loggers quieted."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
