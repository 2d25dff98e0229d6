"""The demo leaves a result: its teachers' report, its S3 objects on disk, and commands that
run exactly as it prints them, after it has ended (and, with --keep, while its services run).

The demo runs for real, as ``make demo`` runs it (``.venv/bin/scangrade demo``), in a
subprocess of its own with a private database and Redis db and none of the test session's
settings: the session's workers, if any, never see its tasks. Its printed commands are parsed
from its output and run through ``sh`` from the checkout, as a newcomer would paste them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devkit.s3_standin import holder
from devkit.standins import start_s3
from pipeline.adapters.objectstore import ObjectStore
from pipeline.settings import Settings


def test_the_demos_s3_keeps_its_objects_across_restarts(tmp_path: Path) -> None:
    objects = tmp_path / "s3" / "requests.jsonl"
    stored = {f"batches/1/page-{n}.png": os.urandom(50_000 + n) for n in range(12)}
    first = start_s3(tmp_path / "s3.log", objects=objects)
    try:
        store = _store(first.url)
        store.ensure_bucket()
        for key, data in stored.items():
            store.put(key, data, "image/png")
        # One log, one server: a second one on the same objects would splice their lines.
        with pytest.raises(RuntimeError):
            start_s3(tmp_path / "s3-second.log", objects=objects)
    finally:
        first.stop()
    assert holder(objects) is None
    with objects.open("ab") as log:
        log.write(b'{"method": "PUT", "url": "http://127.0.0.1:1/torn')  # killed mid-write
    again = start_s3(tmp_path / "s3.log", objects=objects)
    try:
        store = _store(again.url)
        assert sorted(store.keys("batches/1/")) == sorted(stored)
        assert all(store.get(key) == data for key, data in stored.items())
    finally:
        again.stop()


def _store(url: str) -> ObjectStore:
    return ObjectStore(
        Settings(
            s3_endpoint_url=url,
            s3_bucket="scangrade-demo-test",
            s3_access_key_id="demo",
            s3_secret_access_key="demo",
        )
    )
