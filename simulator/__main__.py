"""``python -m simulator``: run the provider simulator from the command line.

It serves the provider's OAuth endpoint and five APIs with their documented answers, limits
and quirks: correct_edu, paper_cut_edu_vlm and handwriting_composition (async: create_task
then get_result), formula and custom OCR models (sync). Every call needs a token from
/oauth/2.0/token (100/110/111 otherwise), counts against its key's QPS quota (error 18) and
its daily and total call limits if it has any (errors 17 and 19), and can be made to fail
through /_sim/faults, or at random with the chaos flags (--transient-rate, --token-invalid-rate,
--html-200-rate, --latency, --quota-burst...), which /_sim/config can also change while it runs.

Once it accepts connections it prints exactly one line to stdout,
``scangrade-simulator listening on http://<host>:<port>``, so a parent process started with
``--port 0`` can read which port it got.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from simulator.config import DEFAULT_KEYS, DEFAULT_QUOTAS, SimConfig
from simulator.runner import serve


def _key(text: str) -> tuple[str, str]:
    api_key, sep, secret = text.partition(":")
    if not sep or not api_key or not secret:
        raise argparse.ArgumentTypeError(f"expected KEY:SECRET, got {text!r}")
    return api_key, secret


def _keys_json(text: str) -> list[tuple[str, str]]:
    """A key pool as the pipeline's settings write it; the text (secrets) is never echoed."""
    try:
        entries = json.loads(text)
    except ValueError:
        entries = None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and _nonempty(e.get("api_key")) and _nonempty(e.get("secret_key"))
        for e in entries
    ):
        raise argparse.ArgumentTypeError(
            'expected a JSON list of {"api_key": "...", "secret_key": "..."} objects'
        )
    return [(e["api_key"], e["secret_key"]) for e in entries]


def _nonempty(value: object) -> bool:
    return isinstance(value, str) and bool(value)


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


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def _burst(text: str) -> tuple[float, float]:
    every, sep, length = text.partition(":")
    try:
        values = (float(every), float(length))
    except ValueError:
        values = (-1.0, -1.0)
    if not sep or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected two numbers of seconds A:B, got {text!r}")
    return values


def _limit(text: str) -> tuple[str, int]:
    api_key, sep, count = text.partition("=")
    if not sep or not api_key or not (count.isascii() and count.isdigit()):
        raise argparse.ArgumentTypeError(f"expected KEY=N (N a whole number >= 0), got {text!r}")
    return api_key, int(count)


_ENDPOINTS = """\
provider endpoints (all POST unless noted; <api>.<op> names quotas and fault rules):
  /oauth/2.0/token (GET|POST)                           oauth.token
  /rest/2.0/ocr/v1/correct_edu/create_task              correct_edu.create_task
  /rest/2.0/ocr/v1/correct_edu/get_result               correct_edu.get_result
  /rest/2.0/ocr/v1/paper_cut_edu_vlm/create_task        paper_cut_edu_vlm.create_task
  /rest/2.0/ocr/v1/paper_cut_edu_vlm/get_result         paper_cut_edu_vlm.get_result
  /rest/2.0/ocr/v1/handwriting_composition/create_task  handwriting_composition.create_task
  /rest/2.0/ocr/v1/handwriting_composition/get_result   handwriting_composition.get_result
  /rest/2.0/ocr/v1/formula (form body)                  formula.call
  /rpc/2.0/ai_custom/v1/ocr/<model> (JSON body)         custom_ocr.call
  /bos/... (GET, signed result images)                  bos.get

default quotas per API key (QPS; --quota API:OP=QPS overrides, --quota-scale multiplies):
{quotas}

admin endpoints for tests and benchmarks:
  GET  /_sim/stats                  outcome counts per operation and per key
  GET  /_sim/calls[?since=EPOCH]    every call: [epoch, api_key, "<api>.<op>", outcome]
       /_sim/calls?detail=1         ... as objects, adding injected, performed, task_id and
                                    upload_sha256 (sha256 of the page a call uploaded)
  GET  /_sim/uploads                per uploaded page: calls, performed, answered, task_ids,
                                    outcomes
  GET  /_sim/tasks                  every task: api, timings, what ingestion must contain
  GET  /_sim/tasks/<task_id>/answer the finished get_result answer, URLs signed now
  POST /_sim/reset                  forget stats, calls, tasks, quota windows, faults,
                                    calls counted against key limits (not the config)
  GET|POST /_sim/config             read or change run-time settings (incl. "quotas",
                                    "key_limits": {{"<key>": {{"daily": N, "total": M}}}} and
                                    the chaos settings below)
  GET|POST /_sim/faults             {{"rules": [{{"operation": "<api>.<op>"|"*",
                                    one of "error_code": N | "http_status": N |
                                    "drop": true | "timeout": true, or only "delay_s";
                                    "delay_s", "performed" (the provider acted before the
                                    answer was lost), "count", "rate",
                                    "api_key" (only that key's calls)}}]}}
                                    110/111 faults also revoke/expire the token
  POST /_sim/expire_tokens          make every issued token answer 111

chaos (flags, or the same names in /_sim/config; 0 = off):
  transient_rate        share of API calls failed with 1, 2, 282000, 336100, HTTP 500,
                        HTTP 502, timeout or dropped connection, evenly
  chaos_performed_rate  share of those HTTP 5xx/timeout/drop calls performed anyway
  bos_transient_rate    share of signed image downloads failed (HTTP 500/502, timeout, drop)
  token_invalid_rate    share of API calls answered 110, their token revoked
  quota_burst_every_s,  every API call answers 18 for quota_burst_s seconds out of every
  quota_burst_s         quota_burst_every_s, starting when set
"""


def _epilog() -> str:
    quotas = "\n".join(f"  {api}:{op}={qps:g}" for (api, op), qps in sorted(DEFAULT_QUOTAS.items()))
    return _ENDPOINTS.format(quotas=quotas)


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``SimConfig`` field; the epilog lists endpoints, quotas and admin routes."""
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description=__doc__,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_service_flags(parser.add_argument, defaults)
    _add_timing_flags(parser.add_argument, defaults)
    _add_chaos_flags(parser.add_argument, defaults)
    return parser


def _add_service_flags(add: Callable[..., object], defaults: SimConfig) -> None:
    """Where to listen, who may call, and how much."""
    _add_listen_flags(add, defaults)
    _add_credential_flags(add, defaults)
    _add_quota_flags(add, defaults)


def _add_listen_flags(add: Callable[..., object], defaults: SimConfig) -> None:
    """Where to listen."""
    add("--host", default=defaults.host)
    add("--port", type=int, default=defaults.port, help="0 picks a free port")


def _add_credential_flags(add: Callable[..., object], defaults: SimConfig) -> None:
    """Who may call, and how long the tokens and signed URLs it hands out stay valid."""
    add(
        "--key",
        type=_key,
        action="append",
        metavar="KEY:SECRET",
        help="API key and secret key (repeatable; replaces the demo key)",
    )
    add(
        "--keys-json",
        type=_keys_json,
        action="append",
        metavar="JSON",
        help='more keys, a JSON list of {"api_key": "...", "secret_key": "..."} (other fields '
        "ignored, [] none; repeatable; keys given replace the demo key)",
    )
    add(
        "--token-lifetime-s",
        type=int,
        default=defaults.token_lifetime_s,
        help="expires_in of issued access tokens",
    )
    add(
        "--url-lifetime-s",
        type=int,
        default=defaults.url_lifetime_s,
        help="validity of signed result URLs (imageUrl, cropUrl, enhance_url)",
    )


def _add_quota_flags(add: Callable[..., object], defaults: SimConfig) -> None:
    """How much each key may call: QPS per operation, and daily and total call limits."""
    add(
        "--quota",
        type=_quota,
        action="append",
        metavar="API:OP=QPS",
        help="QPS per API key for one operation, 0 = unlimited (repeatable; see below)",
    )
    add(
        "--quota-scale",
        type=float,
        default=defaults.quota_scale,
        help="multiplies every quota (10 for fast tests)",
    )
    add(
        "--daily-limit",
        type=_limit,
        action="append",
        metavar="KEY=N",
        help="KEY's API calls per day (00:00 UTC+8) before error 17 (repeatable)",
    )
    add(
        "--total-limit",
        type=_limit,
        action="append",
        metavar="KEY=N",
        help="KEY's API calls in all before error 19 (repeatable)",
    )


def _add_timing_flags(add: Callable[..., object], defaults: SimConfig) -> None:
    """How long processing takes and how long tasks are kept."""
    add(
        "--processing-median-s",
        type=float,
        default=defaults.processing_median_s,
        help="median of the log-normal processing time of an async task",
    )
    add(
        "--processing-sigma",
        type=float,
        default=defaults.processing_sigma,
        help="sigma of that log-normal",
    )
    add(
        "--processing-min-s",
        type=float,
        default=defaults.processing_min_s,
        help="floor of the processing time (before --time-scale)",
    )
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
    add("--seed", type=int, default=defaults.seed, help="seeds ids, log ids and fault rates")
    add("--log-level", default="WARNING", help="logging level for the simulator's own logs")


def _add_chaos_flags(add: Callable[..., object], defaults: SimConfig) -> None:
    """Faults at random, for fault tests that need no rules; seeded by --seed."""
    add(
        "--transient-rate",
        type=_rate,
        default=defaults.transient_rate,
        help="share of API calls failed with 1, 2, 282000, 336100, HTTP 500, HTTP 502, "
        "a timeout or a dropped connection, evenly",
    )
    add(
        "--chaos-performed-rate",
        type=_rate,
        default=defaults.chaos_performed_rate,
        help="share of those HTTP 5xx, timeouts and drops that the provider performed anyway "
        "(task created, call billed)",
    )
    add(
        "--bos-transient-rate",
        type=_rate,
        default=defaults.bos_transient_rate,
        help="share of signed result image downloads failed (HTTP 500/502, timeout, drop)",
    )
    add(
        "--token-invalid-rate",
        type=_rate,
        default=defaults.token_invalid_rate,
        help="share of API calls answered 110, their access token revoked for good",
    )
    for flag, help_text in (
        ("--html-200-rate", "share of API calls answered by a gateway's HTML page, HTTP 200"),
        ("--truncated-json-rate", "share of API calls whose JSON answer is cut in half"),
        ("--bos-html-200-rate", "share of result image downloads answered by an HTML page"),
        ("--bos-truncated-rate", "share of result image downloads cut in half"),
    ):
        add(flag, type=_rate, default=0.0, help=help_text)
    add(
        "--latency",
        type=_burst,
        metavar="MIN_S:MAX_S",
        help="answer every API call and result image download MIN_S to MAX_S seconds late",
    )
    add(
        "--quota-burst",
        type=_burst,
        metavar="EVERY_S:LENGTH_S",
        help="every API call answers 18 for LENGTH_S seconds out of every EVERY_S",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The ``SimConfig`` the parsed flags describe; ValueError if a limit names no ``--key``."""
    quotas = dict(DEFAULT_QUOTAS)
    quotas.update(dict(args.quota or []))
    key_limits: dict[str, dict[str, int]] = {}
    for kind, given in (("daily", args.daily_limit), ("total", args.total_limit)):
        for api_key, count in given or []:
            key_limits.setdefault(api_key, {})[kind] = count
    keys = [*(args.key or []), *(pair for pool in args.keys_json or [] for pair in pool)]
    burst_every, burst_length = args.quota_burst or (0.0, 0.0)
    latency_min, latency_max = args.latency or (0.0, 0.0)
    return SimConfig(
        host=args.host,
        port=args.port,
        keys=dict(keys) if keys else dict(DEFAULT_KEYS),
        token_lifetime_s=args.token_lifetime_s,
        url_lifetime_s=args.url_lifetime_s,
        quotas=quotas,
        quota_scale=args.quota_scale,
        processing_median_s=args.processing_median_s,
        processing_sigma=args.processing_sigma,
        processing_min_s=args.processing_min_s,
        time_scale=args.time_scale,
        task_retention_s=args.task_retention_s,
        key_limits=key_limits,
        transient_rate=args.transient_rate,
        chaos_performed_rate=args.chaos_performed_rate,
        bos_transient_rate=args.bos_transient_rate,
        token_invalid_rate=args.token_invalid_rate,
        html_200_rate=args.html_200_rate,
        truncated_json_rate=args.truncated_json_rate,
        bos_html_200_rate=args.bos_html_200_rate,
        bos_truncated_rate=args.bos_truncated_rate,
        latency_min_s=latency_min,
        latency_max_s=latency_max,
        quota_burst_every_s=burst_every,
        quota_burst_s=burst_length,
        seed=args.seed,
    )


def _announce(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"scangrade-simulator listening on http://{shown}:{port}\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse flags and serve until interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        serve(config, on_ready=_announce)
    except KeyboardInterrupt:
        # uvicorn re-raises SIGINT after its graceful shutdown; Ctrl-C needs no traceback.
        sys.exit(130)


if __name__ == "__main__":
    main()
