"""JSON log lines keep the ids passed as ``extra`` and quiet the URL-logging HTTP libraries."""

from __future__ import annotations

import json
import logging

from pipeline.logs import JsonFormatter, configure_logging
from pipeline.settings import Settings


def test_json_lines_carry_extra_ids() -> None:
    record = logging.LogRecord(
        "pipeline.stages.submit", logging.INFO, __file__, 1, "page %d submitted", (7,), None
    )
    record.batch_id = 3
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "page 7 submitted"
    assert line["batch_id"] == 3 and line["level"] == "INFO"


def test_http_client_loggers_never_log_request_urls() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(Settings(log_json=True, log_level="DEBUG"))
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
