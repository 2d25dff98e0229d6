"""bench.memory: a process tree's processes and resident memory, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.memory import MemoryMeter, tree_memory


def test_a_tree_counts_its_children_and_their_memory() -> None:
    alone = tree_memory(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(60 << 20); time.sleep(30)"]
    )
    try:
        meter = MemoryMeter(os.getpid(), interval_s=0.1)
        meter.start()
        for _ in range(100):
            with_child = tree_memory(os.getpid())
            if with_child.rss_mb > alone.rss_mb + 50:
                break
            time.sleep(0.1)
        meter.stop()
    finally:
        child.kill()
        child.wait()
    assert with_child.processes == alone.processes + 1
    assert with_child.rss_mb > alone.rss_mb + 50  # the child's 60 MB are counted
    assert with_child.pss_mb is not None and with_child.pss_mb > 50
    assert meter.peak is not None and meter.peak.processes >= 2
