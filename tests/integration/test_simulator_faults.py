"""The simulator's fault switches, over real HTTP against real processes.

Dropped connections and timeouts give no HTTP answer at all; ``performed`` decides whether the
provider acted before the answer was lost; 110 faults revoke the token; chaos (from the
command line or /_sim/config) fails a seeded, even mix of transient answers; quota bursts
answer 18 for a while; /_sim/uploads and /_sim/calls?detail=1 explain every call a page cost.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from devkit.samples import jpeg_bytes, make_page_image
from devkit.standins import Service, start_simulator
from simulator.__main__ import build_parser, config_from_args

KEY, SECRET = "faults-key", "faults-secret"
OTHER, OTHER_SECRET = "faults-other", "faults-other-secret"
CORRECT = "/rest/2.0/ocr/v1/correct_edu"
FORMULA = "/rest/2.0/ocr/v1/formula"
READ_TIMEOUT_S = 0.8
FAST = ("--quota-scale", "1000", "--time-scale", "0.01")
# What a client sees for each transient kind of chaos.
CHAOS_OUTCOMES = {"1", "2", "282000", "336100", "http_500", "http_502", "timeout", "drop"}


@pytest.fixture(scope="module")
def sim(logs_dir: Path) -> Iterator[Service]:
    keys = ("--key", f"{KEY}:{SECRET}", "--key", f"{OTHER}:{OTHER_SECRET}")
    service = start_simulator((*keys, *FAST, "--seed", "11"), logs_dir / "faults-simulator.log")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def http(sim: Service) -> Iterator[httpx.Client]:
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT_S)
    with httpx.Client(base_url=sim.url, timeout=timeout) as client:
        yield client


@pytest.fixture(autouse=True)
def clean(http: httpx.Client) -> Iterator[None]:
    """Each test starts with no calls, tasks or rules, and leaves no chaos switched on."""
    http.post("/_sim/reset").raise_for_status()
    yield
    http.post("/_sim/faults", json={"rules": []}).raise_for_status()
    chaos_off = {
        "transient_rate": 0,
        "token_invalid_rate": 0,
        "bos_transient_rate": 0,
        "quota_burst_every_s": 0,
        "quota_burst_s": 0,
        "html_200_rate": 0,
        "truncated_json_rate": 0,
        "bos_html_200_rate": 0,
        "bos_truncated_rate": 0,
        "latency_max_s": 0,
    }
    http.post("/_sim/config", json=chaos_off).raise_for_status()


def token(http: httpx.Client, key: str = KEY, secret: str = SECRET) -> str:
    params = {"grant_type": "client_credentials", "client_id": key, "client_secret": secret}
    value: str = http.post("/oauth/2.0/token", params=params).json()["access_token"]
    return value


def page(seed: int, size: tuple[int, int] = (600, 800)) -> bytes:
    return jpeg_bytes(make_page_image(seed, *size))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def set_rules(http: httpx.Client, *rules: dict[str, Any]) -> None:
    response = http.post("/_sim/faults", json={"rules": list(rules)})
    assert response.status_code == 200, response.text


def create(http: httpx.Client, tok: str, data: bytes) -> httpx.Response:
    body = {"image": base64.b64encode(data).decode()}
    return http.post(f"{CORRECT}/create_task", params={"access_token": tok}, json=body)


def ask(http: httpx.Client, tok: str, task_id: str = "1234567890123456789") -> httpx.Response:
    body = {"task_id": task_id}
    return http.post(f"{CORRECT}/get_result", params={"access_token": tok}, json=body)


def get_result(http: httpx.Client, tok: str, task_id: str = "1234567890123456789") -> Any:
    return ask(http, tok, task_id).json()


def seen(call: Callable[[], httpx.Response]) -> str:
    """What the client got: the provider's error code, ok, http_<status>, timeout or drop."""
    try:
        response = call()
    except httpx.ReadTimeout:
        return "timeout"
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return "drop"
    if response.status_code != 200:
        return f"http_{response.status_code}"
    code = response.json().get("error_code")
    return "ok" if str(code) == "0" else str(code)


def detailed_calls(http: httpx.Client) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = http.get("/_sim/calls", params={"detail": 1}).json()["calls"]
    return [call for call in calls if call["operation"] != "oauth.token"]


def uploads(http: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = http.get("/_sim/uploads").json()["uploads"]
    return body


def test_drop_closes_the_connection_without_a_byte(http: httpx.Client, sim: Service) -> None:
    tok = token(http)
    set_rules(http, {"operation": "correct_edu.get_result", "drop": True, "count": 2})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        get_result(http, tok)
    # The same, seen from a socket: the request goes out, the connection closes, nothing comes.
    url = urlsplit(sim.url)
    body = b'{"task_id": "1"}'
    request = (
        f"POST {CORRECT}/get_result?access_token={tok} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((url.hostname, url.port), timeout=5) as raw:
        raw.sendall(request)
        assert raw.recv(1024) == b""
    assert get_result(http, tok)["error_code"] == 282808  # the rule is spent; calls work again
    assert [c["outcome"] for c in detailed_calls(http)] == ["drop", "drop", "282808"]


def test_timeout_holds_until_the_client_gives_up(http: httpx.Client) -> None:
    tok = token(http)
    set_rules(http, {"operation": "correct_edu.get_result", "timeout": True, "count": 1})
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        get_result(http, tok)
    assert READ_TIMEOUT_S <= time.monotonic() - started < READ_TIMEOUT_S + 1
    # With delay_s the hold ends earlier, and the connection is dropped.
    set_rules(http, {"operation": "correct_edu.get_result", "timeout": True, "delay_s": 0.1})
    with httpx.Client(base_url=str(http.base_url), timeout=5) as patient:
        started = time.monotonic()
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            get_result(patient, tok)
        assert time.monotonic() - started < 3  # well before its own 5 s timeout


@pytest.mark.parametrize(
    "kind",
    [{"drop": True}, {"timeout": True}, {"http_status": 500}, {"http_status": 502}],
    ids=["drop", "timeout", "http_500", "http_502"],
)
def test_performed_decides_whether_the_task_exists(
    http: httpx.Client, kind: dict[str, Any]
) -> None:
    tok = token(http)
    expected = "http_" + str(kind["http_status"]) if "http_status" in kind else next(iter(kind))
    outcomes = {}
    for seed, performed in ((1, None), (2, False), (3, True)):
        data = page(seed)
        rule: dict[str, Any] = {"operation": "correct_edu.create_task", "count": 1, **kind}
        if performed is not None:
            rule["performed"] = performed
        set_rules(http, rule)
        outcomes[performed] = seen(partial(create, http, tok, data))
        counts = uploads(http)[sha(data)]
        assert counts["calls"] == 1 and counts["answered"] == 0
        assert counts["outcomes"] == {expected: 1}
        tasks = http.get("/_sim/tasks").json()["tasks"]
        created = [tid for tid, task in tasks.items() if task["image_sha256"] == sha(data)]
        if performed:
            assert counts["performed"] == 1 and len(created) == 1
            assert counts["task_ids"] == created
        else:  # not performed, by default too
            assert counts["performed"] == 0 and counts["task_ids"] == [] and created == []
    assert set(outcomes.values()) == {expected}


def test_a_late_answer_is_performed_and_answered(http: httpx.Client) -> None:
    tok = token(http)
    set_rules(http, {"operation": "correct_edu.create_task", "delay_s": 0.2, "count": 1})
    started = time.monotonic()
    assert create(http, tok, page(4)).json()["error_code"] == "0"
    assert time.monotonic() - started >= 0.2
    counts = uploads(http)[sha(page(4))]
    assert (counts["performed"], counts["answered"], len(counts["task_ids"])) == (1, 1, 1)


def test_a_refused_page_is_not_performed_under_a_performed_fault(http: httpx.Client) -> None:
    tok = token(http)
    tiny = page(5, size=(300, 400))  # below correct_edu's 512 px: 216202
    set_rules(http, {"operation": "correct_edu.create_task", "drop": True, "performed": True})
    assert seen(lambda: create(http, tok, tiny)) == "drop"
    assert uploads(http)[sha(tiny)]["performed"] == 0
    assert http.get("/_sim/tasks").json()["tasks"] == {}


def test_110_revokes_the_token_until_a_new_one_is_fetched(http: httpx.Client) -> None:
    tok = token(http)
    set_rules(http, {"operation": "correct_edu.get_result", "error_code": 110, "count": 1})
    assert get_result(http, tok)["error_code"] == 110
    assert http.get("/_sim/faults").json()["rules"][0]["count"] == 0
    assert get_result(http, tok)["error_code"] == 110  # no rule left: the token itself is bad
    fresh = token(http)
    assert get_result(http, fresh)["error_code"] == 282808
    set_rules(http, {"operation": "correct_edu.get_result", "error_code": 111, "count": 1})
    assert get_result(http, fresh)["error_code"] == 111
    assert get_result(http, fresh)["error_code"] == 111
    # The revoked token is still known to be this key's: its calls are counted as the key's.
    calls = detailed_calls(http)
    assert [c["api_key"] for c in calls] == [KEY] * 5
    assert [c["injected"] for c in calls] == [True, False, False, True, False]


def test_rules_that_cannot_mean_anything_are_refused(http: httpx.Client) -> None:
    bad = [
        {"drop": True, "http_status": 500},
        {"timeout": True, "error_code": 2},
        {"error_code": 282000, "performed": True},
        {"delay_s": 1, "performed": False},
        {"drop": "yes"},
        {"performed": True},
        {"http_status": 500, "rate": 2},
    ]
    for rule in bad:
        response = http.post("/_sim/faults", json={"rules": [{"operation": "*", **rule}]})
        assert response.status_code == 400, rule
    set_rules(http, {"operation": "*", "drop": True}, {"operation": "*", "delay_s": 1})
    shown = http.get("/_sim/faults").json()["rules"]
    assert [(r["drop"], r["timeout"], r["performed"]) for r in shown] == [
        (True, False, False),
        (False, False, True),
    ]


def spend_calls_on_two_pages(http: httpx.Client, tok: str, first: bytes, second: bytes) -> None:
    """Five create_task calls on ``first`` (drop performed, 18, 502, ok, 110), then a create_task
    and a formula call on ``second``, both ok."""
    sequence = [
        ({"drop": True, "performed": True}, "drop"),
        ({"error_code": 18}, "18"),
        ({"http_status": 502}, "http_502"),
        (None, "ok"),
    ]
    for rule, outcome in sequence:
        set_rules(http, *([{"operation": "correct_edu.create_task", **rule}] if rule else []))
        assert seen(lambda: create(http, tok, first)) == outcome
    assert seen(lambda: create(http, "24.not-a-token", first)) == "110"
    assert seen(lambda: create(http, tok, second)) == "ok"
    form = {"image": base64.b64encode(second).decode()}
    assert "error_code" not in http.post(FORMULA, params={"access_token": tok}, data=form).json()


def check_upload_counts(
    counts: dict[str, Any], tasks: dict[str, Any], first: bytes, second: bytes
) -> None:
    """/_sim/uploads after :func:`spend_calls_on_two_pages`."""
    assert counts[sha(first)]["calls"] == 5
    assert counts[sha(first)]["performed"] == 2  # the dropped one and the answered one
    assert counts[sha(first)]["answered"] == 1
    assert counts[sha(first)]["outcomes"] == {"drop": 1, "18": 1, "http_502": 1, "ok": 1, "110": 1}
    assert len(counts[sha(first)]["task_ids"]) == 2 and set(counts[sha(first)]["task_ids"]) <= set(
        tasks
    )
    assert counts[sha(second)] == {
        "calls": 2,
        "performed": 2,
        "answered": 2,
        "task_ids": [next(t for t, v in tasks.items() if v["image_sha256"] == sha(second))],
        "outcomes": {"ok": 2},
    }


def check_detailed_calls(calls: list[dict[str, Any]], second: bytes) -> None:
    """/_sim/calls?detail=1 after :func:`spend_calls_on_two_pages`."""
    assert set(calls[0]) == {
        "at", "api_key", "operation", "outcome", "injected", "performed", "task_id",
        "upload_sha256",
    }  # fmt: skip
    assert [(c["operation"], c["outcome"], c["injected"], c["performed"]) for c in calls] == [
        ("correct_edu.create_task", "drop", True, True),
        ("correct_edu.create_task", "18", True, False),
        ("correct_edu.create_task", "http_502", True, False),
        ("correct_edu.create_task", "ok", False, True),
        ("correct_edu.create_task", "110", False, False),
        ("correct_edu.create_task", "ok", False, True),
        ("formula.call", "ok", False, True),
    ]
    assert calls[-1]["task_id"] is None and calls[-1]["upload_sha256"] == sha(second)


def test_per_page_accounting_explains_every_call(http: httpx.Client) -> None:
    tok = token(http)
    first, second = page(6), page(7)
    spend_calls_on_two_pages(http, tok, first, second)
    counts = uploads(http)
    check_upload_counts(counts, http.get("/_sim/tasks").json()["tasks"], first, second)
    check_detailed_calls(detailed_calls(http), second)
    # get_result calls name the task they asked about; the compact log keeps its shape.
    task_id = counts[sha(second)]["task_ids"][0]
    get_result(http, tok, task_id)
    assert detailed_calls(http)[-1]["task_id"] == task_id
    assert http.get("/_sim/calls").json()["calls"][-1][1:] == [
        KEY,
        "correct_edu.get_result",
        "ok",
    ]


def test_chaos_switches_on_and_off_at_run_time(http: httpx.Client) -> None:
    tok = token(http)
    assert http.post("/_sim/config", json={"transient_rate": 1.5}).status_code == 400
    assert http.post("/_sim/config", json={"token_invalid_rate": -1}).status_code == 400
    config = http.post("/_sim/config", json={"transient_rate": 1}).json()
    assert config["transient_rate"] == 1 and config["chaos_performed_rate"] == 0.5
    data = page(9, size=(512, 512))
    kinds = Counter(seen(partial(create, http, tok, data)) for _ in range(16))
    assert kinds == dict.fromkeys(CHAOS_OUTCOMES, 2)  # two full decks, none of the real answers
    # Half of the 5xx, timeouts and drops were performed anyway: their tasks exist.
    counts = uploads(http)[sha(data)]
    assert 0 < counts["performed"] < 8 and counts["answered"] == 0
    assert len(counts["task_ids"]) == len(http.get("/_sim/tasks").json()["tasks"])
    assert counts["performed"] == len(counts["task_ids"])
    http.post("/_sim/config", json={"transient_rate": 0}).raise_for_status()
    assert get_result(http, tok)["error_code"] == 282808

    http.post("/_sim/config", json={"bos_transient_rate": 1}).raise_for_status()
    bos = {seen(lambda: http.get("/bos/any/object.png?authorization=x")) for _ in range(8)}
    assert bos == {"http_500", "http_502", "timeout", "drop"}
    http.post("/_sim/config", json={"bos_transient_rate": 0}).raise_for_status()
    assert http.get("/bos/any/object.png?authorization=x").status_code == 403

    http.post("/_sim/config", json={"token_invalid_rate": 1}).raise_for_status()
    assert get_result(http, tok)["error_code"] == 110
    http.post("/_sim/config", json={"token_invalid_rate": 0}).raise_for_status()
    assert get_result(http, tok)["error_code"] == 110  # revoked for good
    assert get_result(http, token(http))["error_code"] == 282808


def test_a_sloppy_provider_sends_html_with_200_and_cut_json(http: httpx.Client) -> None:
    """HTML with 200 (not performed by default) and half a JSON answer (always performed)."""
    tok = token(http)
    set_rules(http, {"operation": "correct_edu.create_task", "html_200": True, "count": 1})
    answer = create(http, tok, page(21))
    assert answer.status_code == 200 and answer.text.lstrip().startswith("<!DOCTYPE html>")
    assert uploads(http)[sha(page(21))]["performed"] == 0
    set_rules(http, {"operation": "correct_edu.create_task", "truncated": True, "count": 1})
    cut = create(http, tok, page(22))
    assert cut.status_code == 200 and cut.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        cut.json()
    counts = uploads(http)[sha(page(22))]
    assert counts["performed"] == 1 and counts["outcomes"] == {"truncated": 1}
    assert (
        http.post(
            "/_sim/faults",
            json={"rules": [{"operation": "*", "truncated": True, "performed": False}]},
        ).status_code
        == 400
    )


def test_sloppy_chaos_switches_latency_and_downloads(http: httpx.Client) -> None:
    tok = token(http)
    config = {"latency_min_s": 0.3, "latency_max_s": 0.5, "html_200_rate": 1}
    http.post("/_sim/config", json=config).raise_for_status()
    started = time.monotonic()
    assert create(http, tok, page(23)).text.startswith("<!DOCTYPE html>")
    assert time.monotonic() - started >= 0.3
    http.post("/_sim/config", json={"html_200_rate": 0, "truncated_json_rate": 1})
    with pytest.raises(ValueError):
        ask(http, tok).json()
    http.post("/_sim/config", json={"truncated_json_rate": 0, "latency_max_s": 0})
    http.post("/_sim/config", json={"bos_html_200_rate": 1}).raise_for_status()
    bos = http.get("/bos/any/object.png?authorization=x")
    assert bos.status_code == 200 and bos.headers["content-type"].startswith("text/html")
    assert http.post("/_sim/config", json={"bos_truncated_rate": 2}).status_code == 400


def test_quota_bursts_answer_18_during_the_burst_only(http: httpx.Client) -> None:
    tokens = {KEY: token(http), OTHER: token(http, OTHER, OTHER_SECRET)}
    before = time.time()
    http.post("/_sim/config", json={"quota_burst_every_s": 1.5, "quota_burst_s": 0.5})
    after = time.time()
    seen_at: list[tuple[float, float, str, int]] = []
    while time.time() < before + 3.2:
        for key, tok in tokens.items():
            start = time.time()
            code = get_result(http, tok)["error_code"]
            seen_at.append((start, time.time(), key, code))
    # A call surely inside a burst answers 18, surely outside one does not (the burst starts
    # between ``before`` and ``after``); calls near a boundary may go either way.
    phases: Counter[str] = Counter()
    for start, end, _, code in seen_at:
        earliest, latest = start - after, end - before
        for burst_start in (0.0, 1.5, 3.0):
            if earliest >= burst_start and latest < burst_start + 0.5:
                assert code == 18
                phases["burst"] += 1
        for gap_start in (0.5, 2.0):
            if earliest >= gap_start and latest < gap_start + 1.0:
                assert code == 282808
                phases["gap"] += 1
    assert phases["burst"] >= 3 and phases["gap"] >= 6, phases
    assert {key for *_, key, code in seen_at if code == 18} == set(tokens)
    assert all(c["injected"] for c in detailed_calls(http) if c["outcome"] == "18")


def test_chaos_flags_parse() -> None:
    args = build_parser().parse_args(
        ["--transient-rate", "0.1", "--token-invalid-rate", "0.02", "--quota-burst", "30:5"]
    )
    config = config_from_args(args)
    assert (config.transient_rate, config.token_invalid_rate) == (0.1, 0.02)
    assert (config.quota_burst_every_s, config.quota_burst_s) == (30.0, 5.0)
    assert (config.chaos_performed_rate, config.bos_transient_rate) == (0.5, 0.0)
    for bad in (["--transient-rate", "1.5"], ["--quota-burst", "30"], ["--quota-burst", "a:b"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


@pytest.fixture(scope="module")
def chaos_sim(logs_dir: Path) -> Iterator[Service]:
    flags = ("--transient-rate", "0.1", "--seed", "5")
    service = start_simulator(
        ("--key", f"{KEY}:{SECRET}", *FAST, *flags), logs_dir / "chaos-simulator.log"
    )
    yield service
    service.stop()


def test_chaos_from_the_command_line(chaos_sim: Service) -> None:
    """--transient-rate 0.1: about one call in ten fails, every kind as often as the others."""
    timeout = httpx.Timeout(10.0, read=1.0)
    with httpx.Client(base_url=chaos_sim.url, timeout=timeout) as http:
        tok = token(http)

    def poll(ids: range) -> dict[str, str]:
        with httpx.Client(base_url=chaos_sim.url, timeout=timeout) as http:
            return {str(i): seen(partial(ask, http, tok, str(i))) for i in ids}

    # Four clients at once, each call asking for its own (unknown) task id, so that what a
    # client saw can be matched with what the simulator recorded.
    with ThreadPoolExecutor(4) as pool:
        client_saw: dict[str, str] = {}
        for part in pool.map(poll, [range(k * 100, (k + 1) * 100) for k in range(4)]):
            client_saw |= part
    with httpx.Client(base_url=chaos_sim.url, timeout=timeout) as http:
        calls = detailed_calls(http)
    assert {c["task_id"]: c["outcome"] for c in calls} == client_saw
    failed = [c for c in calls if c["injected"]]
    assert 0.07 <= len(failed) / len(calls) <= 0.13
    kinds = Counter(c["outcome"] for c in failed)
    assert set(kinds) == CHAOS_OUTCOMES
    assert max(kinds.values()) - min(kinds.values()) <= 1  # dealt evenly
    assert {c["outcome"] for c in calls if not c["injected"]} == {"282808"}


def test_no_server_errors_were_logged(logs_dir: Path, sim: Service, chaos_sim: Service) -> None:
    """Dropping and holding connections never makes uvicorn complain or answer 500 itself."""
    for name in ("faults-simulator.log", "chaos-simulator.log"):
        text = (logs_dir / name).read_text()
        assert "Exception in ASGI application" not in text
        assert "ASGI callable returned without" not in text
