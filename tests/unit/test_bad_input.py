"""Bad input, end to end: a night's directory of broken, hostile and awkward files.

Every file ends as graded pages or as a failure with a stable code and a reason that names the
problem, in Postgres and in ``scangrade status``; the rest of the batch finishes and no worker
crashes or hangs. Real workers, Postgres, Redis, moto's S3 and the simulator, no mock.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.adapters.documents import discover


def test_discovery_waits_for_files_and_folders_still_arriving(tmp_path: Path) -> None:
    settle = 0.5
    (tmp_path / "set").mkdir()
    for name in ("p1.jpg", "p2.jpg"):
        (tmp_path / "set" / name).write_bytes(b"x")
    (tmp_path / "old.pdf").write_bytes(b"%PDF-")
    time.sleep(settle + 0.1)
    (tmp_path / "set" / "p3.jpg").write_bytes(b"x")  # the scanner adds a page to the set
    (tmp_path / "new.pdf").touch()  # created, not yet filled: not "empty"

    early = discover(tmp_path, settle_s=settle)

    assert [d.rel_path for d in early.documents] == ["old.pdf"]
    reasons = {r.rel_path: (r.code, r.reason) for r in early.rejected}
    assert reasons["new.pdf"][0] == reasons["set"][0] == "still_being_written"
    assert reasons["new.pdf"][1].startswith("still being written (modified 0.")
    assert reasons["set"][1].startswith("still being written (p3.jpg modified 0.")

    time.sleep(settle + 0.1)
    late = discover(tmp_path, settle_s=settle)

    assert [(d.rel_path, len(d.files)) for d in late.documents] == [("old.pdf", 1), ("set", 3)]
    assert [(r.rel_path, r.code) for r in late.rejected] == [("new.pdf", "empty_file")]
