"""Workers without a usable API key: one clear log line, pages wait with a reason, then resume.

Real workers on a stack of their own (Postgres, Redis, moto, the simulator over HTTP), in
three acts: no key at all, a key whose secret the provider refuses, the right key. The first
two leave every page ``ready`` (none failed), say why in ``scangrade status``, and write one
ERROR line, no traceback, and no INFO line about idle periodic ticks; the third finishes the
batch once the refused key is unparked. Workers are slow to start on a busy host: the waits
are generous.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from support.batches import wait_until_done
from support.stacks import API_KEY, SECRET_KEY, Stack, private_stack

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import start_workers
from pipeline.adapters.db.models import Page
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider import get_redis
from pipeline.adapters.provider.auth import Credentials
from pipeline.adapters.provider.keys import waiting_reason
from pipeline.stages.enqueue import enqueue_directory

PAGES = 3
NO_KEY = {"SCANGRADE_BAIDU_API_KEY": "", "SCANGRADE_BAIDU_SECRET_KEY": ""}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with private_stack(tmp_path_factory.mktemp("loud-logs"), NO_KEY) as started:
        yield started


def _wait_for(what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, why
        time.sleep(0.5)


def _page_states(batch_id: int) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(Page.state).where(Page.batch_id == batch_id)))


def _status(batch: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", "status", batch],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return " ".join(done.stdout.split())


def _restart_workers(stack: Stack, log: Path, api_key: str, secret: str) -> None:
    stack.workers.stop()
    os.environ.update({"SCANGRADE_BAIDU_API_KEY": api_key, "SCANGRADE_BAIDU_SECRET_KEY": secret})
    stack.workers = start_workers({}, log)


def _checked_log(log: Path, about: str) -> None:
    """One ERROR line ``about`` the key, no traceback, no INFO line about a periodic tick."""
    lines = log.read_text().splitlines()
    assert "Traceback" not in "\n".join(lines)
    errors = [line for line in lines if " ERROR " in line and about in line]
    assert len(errors) == 1, errors
    ticks = [line for line in lines if " INFO " in line and "dispatch" in line]
    assert ticks == [], ticks[:5]


def _waiting(batch_id: int, about: str) -> Callable[[], bool]:
    return lambda: about in (waiting_reason(get_redis(), batch_id) or "")


def test_no_key_then_refused_key_wait_then_the_right_key_finishes(
    stack: Stack, tmp_path: Path
) -> None:
    root = tmp_path / "night"
    root.mkdir()
    for n in range(PAGES):
        (root / f"student-{n}.jpg").write_bytes(jpeg_bytes(make_page_image(16500 + n)))
    name = "loud-waiting-night"
    batch_id = enqueue_directory(root, get_store(), batch_name=name).batch_id

    # Act 1: no key. Pages wait, ready; status says why; the log says it once.
    _wait_for(_waiting(batch_id, "no API key"), 300, "the batch never said it waits for a key")
    time.sleep(8)  # a few reconciler rounds offer the pages again (stale 5 s, every 2 s)
    assert _page_states(batch_id) == ["ready"] * PAGES
    assert "waiting: no API key" in _status(name)
    _checked_log(stack.logs / "workers.log", "no API key")

    # Act 2: a key whose secret the provider refuses: parked with the provider's reason.
    refused_log = stack.logs / "workers-refused.log"
    _restart_workers(stack, refused_log, API_KEY, "not-the-secret")
    _wait_for(_waiting(batch_id, "refused"), 300, "the refused key was never the reason")
    # Pages claimed together with the first one give themselves back once their calls end.
    _wait_for(lambda: _page_states(batch_id) == ["ready"] * PAGES, 60, "a page did not wait")
    time.sleep(8)  # offered again meanwhile: the key stays parked, the pages ready
    assert _page_states(batch_id) == ["ready"] * PAGES
    key_id = Credentials(API_KEY, SECRET_KEY).key_id
    assert f"waiting: every API key is parked ({key_id}: the provider refused" in _status(name)
    _checked_log(refused_log, f"API key {key_id} parked")

    # Act 3: the right secret, the key unparked: the batch resumes and finishes.
    _restart_workers(stack, stack.logs / "workers-fixed.log", API_KEY, SECRET_KEY)
    unparked = subprocess.run(
        [sys.executable, "-m", "pipeline.operator.cli", "keys", "--unpark", key_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unparked.returncode == 0 and "unparked" in unparked.stdout, unparked.stderr
    wait_until_done(batch_id, timeout=300)
    assert _page_states(batch_id) == ["done"] * PAGES
    assert waiting_reason(get_redis(), batch_id) is None
    assert "waiting:" not in _status(name)
