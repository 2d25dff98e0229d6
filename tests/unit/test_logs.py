"""JSON log lines keep the ids passed as ``extra`` and quiet the URL-logging HTTP libraries."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pipeline.settings import Settings
from pipeline.telemetry import logs
from pipeline.telemetry.logs import JsonFormatter, configure_logging


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


@contextmanager
def _configured(settings: Settings) -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(settings)  # its handler writes to the sys.stderr capsys put in place
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_json_lines_carry_the_bound_batch_and_page_ids(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("pipeline.stages.submit")
    with _configured(Settings(log_json=True, log_level="INFO")):
        logs.clear()  # ids an in-process stage bound in an earlier test
        logs.bind(celery_task_id="abc", page_id=17)
        try:
            with logs.bound(batch_id=3):
                log.info("page %d submitted", 17)
            log.info("after the block", extra={"page_id": 18})
        finally:
            logs.clear()
        log.info("no task")
    first, second, third = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["batch_id"] == 3 and first["page_id"] == 17 and first["celery_task_id"] == "abc"
    assert "batch_id" not in second and second["page_id"] == 18  # extra wins over the binding
    assert "page_id" not in third and "celery_task_id" not in third


def test_plain_lines_end_with_the_ids(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("pipeline.stages.archive")
    with _configured(Settings(log_json=False, log_level="INFO")):
        with logs.bound(page_id=17, batch_id=3, celery_task_id="abc"):
            log.info("page closed")
        log.info("nothing bound")
    bound, plain = capsys.readouterr().err.splitlines()
    assert bound.endswith("page closed [batch=3 page=17]")
    assert plain.endswith("nothing bound")
