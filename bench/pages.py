"""The benchmark's input: N single-page scans, generated once and kept for later runs.

Each page has its own seed, so no two are alike: the simulator grades by image content, and
identical uploads would not exercise the pipeline the way a night of real homework does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devkit.samples import jpeg_bytes, make_page_image

FIRST_SEED = 1000
"""Far from the seeds the demo and the tests use, so the pages are the benchmark's own."""


def page_dir(cache: Path, count: int) -> Path:
    """A directory holding ``count`` JPEG pages, each one document; made once per count.

    The pages sit directly in the directory: ``scangrade enqueue`` makes each file at its
    root one document (a sub-folder of images would be one multi-page document).
    """
    target = cache / f"pages-{count}"
    if target.is_dir():
        return target
    partial = cache / f".pages-{count}.{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    width = len(str(count))
    for index in range(count):
        image = make_page_image(FIRST_SEED + index)
        (partial / f"page-{index + 1:0{width}d}.jpg").write_bytes(jpeg_bytes(image))
    # Renamed only when complete, so an interrupted run never leaves a short batch behind.
    partial.rename(target)
    return target
