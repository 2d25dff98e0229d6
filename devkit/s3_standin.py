"""The demo's S3: moto's server, its objects kept on disk so they outlive it.

moto holds its buckets in memory. Its recorder (``MOTO_ENABLE_RECORDING``) appends every
request it serves to a log (``MOTO_RECORDER_FILEPATH``) and can replay that log into a fresh
server: started on an existing log, this process replays it before it says it listens, so
the objects of every earlier run are there again.

It serves one request at a time: the recorder appends each request as two writes with no
lock, so two requests served at once could splice their lines into one the replay cannot
read. A stop (SIGTERM, SIGINT) lets the request in hand finish, so its line is whole.

Run by :func:`devkit.standins.start_s3` as ``python -m devkit.s3_standin --port 0``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from moto.moto_api import recorder
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

LOG_VARIABLE = "MOTO_RECORDER_FILEPATH"


def main(argv: Sequence[str] | None = None) -> None:
    """Replay the log named by ``MOTO_RECORDER_FILEPATH``, then serve until stopped."""
    parser = argparse.ArgumentParser(prog="python -m devkit.s3_standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    log = Path(os.environ[LOG_VARIABLE])
    log.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(log)
    if lock is None:
        sys.exit(f"{log} is served by another process already (pid {holder(log)})")
    server = make_server(
        args.host,
        args.port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=MotoRequestHandler,
    )
    url = f"http://{args.host}:{server.server_port}"
    serving = threading.Thread(target=server.serve_forever, name="s3", daemon=True)
    serving.start()
    _stop_on_signals(server)
    if drop_torn_tail(log):
        recorder.replay_recording(target_host=url)
    print(f"listening on {url}", flush=True)
    serving.join()
    lock.close()


def drop_torn_tail(log: Path) -> bool:
    """Cut a last line left unfinished (a kill mid-write); True if a log is left to replay."""
    if not log.exists() or log.stat().st_size == 0:
        return False
    data = log.read_bytes()
    if not data.endswith(b"\n"):
        kept = data[: data.rfind(b"\n") + 1]
        log.write_bytes(kept)
        return bool(kept)
    return True


def holder(log: Path) -> int | None:
    """The pid of the process serving ``log`` now, if any (two would interleave its lines)."""
    lock = _try_lock(log)
    if lock is not None:
        lock.close()
        return None
    try:
        return int(_lock_path(log).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _lock(log: Path) -> TextIO | None:
    """Hold the log's lock for as long as this process lives; None if another holds it."""
    handle = _try_lock(log)
    if handle is not None:
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
    return handle


def _try_lock(log: Path) -> TextIO | None:
    path = _lock_path(log)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _lock_path(log: Path) -> Path:
    return log.with_name(log.name + ".lock")


def _stop_on_signals(server: BaseWSGIServer) -> None:
    def stop(*_: object) -> None:
        # shutdown() waits for serve_forever to return: not from the thread running it.
        threading.Thread(target=server.shutdown, name="s3-stop").start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


if __name__ == "__main__":
    main(sys.argv[1:])
