"""``python -m pipeline.simulator``: run the provider simulator from the command line.

Once it accepts connections it prints exactly one line to stdout,
``scangrade-simulator listening on http://<host>:<port>``, so a parent process started with
``--port 0`` can read which port it got.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipeline.simulator.config import DEFAULT_KEYS, DEFAULT_QUOTAS, SimConfig
from pipeline.simulator.runner import serve


def _key(text: str) -> tuple[str, str]:
    api_key, sep, secret = text.partition(":")
    if not sep or not api_key or not secret:
        raise argparse.ArgumentTypeError(f"expected KEY:SECRET, got {text!r}")
    return api_key, secret


def _quota(text: str) -> tuple[tuple[str, str], float]:
    target, sep, qps = text.partition("=")
    api, dot, op = target.partition(":")
    try:
        value = float(qps)
    except ValueError:
        value = -1.0
    if not sep or not dot or not api or not op or value < 0:
        raise argparse.ArgumentTypeError(f"expected API:OP=QPS, got {text!r}")
    return (api, op), value


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``SimConfig`` field."""
    defaults = SimConfig()
    parser = argparse.ArgumentParser(prog="python -m pipeline.simulator", description=__doc__)
    add = parser.add_argument
    add("--host", default=defaults.host)
    add("--port", type=int, default=defaults.port, help="0 picks a free port")
    add(
        "--key",
        type=_key,
        action="append",
        metavar="KEY:SECRET",
        help="API key and secret key (repeatable; replaces the demo key)",
    )
    add("--token-lifetime-s", type=int, default=defaults.token_lifetime_s)
    add("--url-lifetime-s", type=int, default=defaults.url_lifetime_s)
    add(
        "--quota",
        type=_quota,
        action="append",
        metavar="API:OP=QPS",
        help="QPS per API key for one operation, 0 = unlimited (repeatable)",
    )
    add("--quota-scale", type=float, default=defaults.quota_scale)
    add("--processing-median-s", type=float, default=defaults.processing_median_s)
    add("--processing-sigma", type=float, default=defaults.processing_sigma)
    add("--processing-min-s", type=float, default=defaults.processing_min_s)
    add(
        "--time-scale",
        type=float,
        default=defaults.time_scale,
        help="multiplies every processing time (0.01 for tests)",
    )
    add(
        "--task-retention-s",
        type=float,
        default=defaults.task_retention_s,
        help="forget finished tasks this long after they are ready (0 = never)",
    )
    add("--seed", type=int, default=defaults.seed)
    add("--log-level", default="WARNING", help="logging level for the simulator's own logs")
    return parser


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The ``SimConfig`` the parsed flags describe."""
    quotas = dict(DEFAULT_QUOTAS)
    quotas.update(dict(args.quota or []))
    return SimConfig(
        host=args.host,
        port=args.port,
        keys=dict(args.key) if args.key else dict(DEFAULT_KEYS),
        token_lifetime_s=args.token_lifetime_s,
        url_lifetime_s=args.url_lifetime_s,
        quotas=quotas,
        quota_scale=args.quota_scale,
        processing_median_s=args.processing_median_s,
        processing_sigma=args.processing_sigma,
        processing_min_s=args.processing_min_s,
        time_scale=args.time_scale,
        task_retention_s=args.task_retention_s,
        seed=args.seed,
    )


def _announce(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"scangrade-simulator listening on http://{shown}:{port}\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse flags and serve until interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        serve(config_from_args(args), on_ready=_announce)
    except KeyboardInterrupt:
        # uvicorn re-raises SIGINT after its graceful shutdown; Ctrl-C needs no traceback.
        sys.exit(130)


if __name__ == "__main__":
    main()
