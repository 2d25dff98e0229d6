"""The simulator's per-key call limits (errors 17 and 19) and key-bound fault rules.

The pipeline's API-key pool must notice a key that ran dry for the day or for good and move on
to the others; these tests pin down the provider behaviour it is tested against, over real
HTTP against a real simulator process.
"""

from __future__ import annotations

import base64
import calendar
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from devkit.standins import start_simulator
from simulator.codes import MESSAGES
from simulator.quota import KeyCallCounter, provider_day

DAILY_KEY, DAILY_SECRET = "daily-key", "daily-secret"
TOTAL_KEY, TOTAL_SECRET = "total-key", "total-secret"
FREE_KEY, FREE_SECRET = "free-key", "free-secret"
SECRETS = {DAILY_KEY: DAILY_SECRET, TOTAL_KEY: TOTAL_SECRET, FREE_KEY: FREE_SECRET}
START_LIMITS = {DAILY_KEY: {"daily": 3}, TOTAL_KEY: {"total": 2}}
OCR = "/rest/2.0/ocr/v1"
CORRECT = f"{OCR}/correct_edu"
# Every provider API call: (path, "<api>.<op>"). Refused calls never look at the body.
EVERY_CALL = (
    (f"{CORRECT}/create_task", "correct_edu.create_task"),
    (f"{CORRECT}/get_result", "correct_edu.get_result"),
    (f"{OCR}/paper_cut_edu_vlm/create_task", "paper_cut_edu_vlm.create_task"),
    (f"{OCR}/paper_cut_edu_vlm/get_result", "paper_cut_edu_vlm.get_result"),
    (f"{OCR}/handwriting_composition/create_task", "handwriting_composition.create_task"),
    (f"{OCR}/handwriting_composition/get_result", "handwriting_composition.get_result"),
    (f"{OCR}/formula", "formula.call"),
    ("/rpc/2.0/ai_custom/v1/ocr/my_model_v1", "custom_ocr.call"),
)


def make_page(label: str) -> str:
    """A small page correct_edu accepts, base64-encoded."""
    image = Image.new("RGB", (512, 512), "white")
    draw = ImageDraw.Draw(image)
    for line in range(8):
        draw.text((20, 20 + 60 * line), f"{label} line {line}: 2 + {line} = ____", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


@pytest.fixture(scope="module")
def client(logs_dir: Path) -> Iterator[httpx.Client]:
    args = [
        "--time-scale", "0.01", "--quota-scale", "100", "--seed", "5",
        "--key", f"{DAILY_KEY}:{DAILY_SECRET}", "--key", f"{TOTAL_KEY}:{TOTAL_SECRET}",
        "--key", f"{FREE_KEY}:{FREE_SECRET}",
        "--daily-limit", f"{DAILY_KEY}=3", "--total-limit", f"{TOTAL_KEY}=2",
    ]  # fmt: skip
    service = start_simulator(args, logs_dir / "simulator-key-limits.log")
    with httpx.Client(base_url=service.url, timeout=20) as http:
        yield http
    service.stop()


@pytest.fixture(autouse=True)
def fresh(client: httpx.Client) -> None:
    """Every test starts with no calls counted, no faults and the start-up limits."""
    assert client.post("/_sim/reset").status_code == 200
    limits = {FREE_KEY: {}, **START_LIMITS}
    assert client.post("/_sim/config", json={"key_limits": limits}).status_code == 200


def token(client: httpx.Client, key: str) -> str:
    params = {"grant_type": "client_credentials", "client_id": key, "client_secret": SECRETS[key]}
    response = client.post("/oauth/2.0/token", params=params)
    assert response.status_code == 200, response.text
    access_token: str = response.json()["access_token"]
    return access_token


def call(client: httpx.Client, path: str, access_token: str, **body: Any) -> dict[str, Any]:
    """One API call; provider errors come with HTTP 200, like the real service's."""
    response = client.post(path, params={"access_token": access_token}, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def submit(client: httpx.Client, access_token: str, label: str) -> str:
    answer = call(client, f"{CORRECT}/create_task", access_token, image=make_page(label))
    assert answer["error_code"] == "0", answer
    task_id: str = answer["result"]["task_id"]
    return task_id


def poll(client: httpx.Client, access_token: str, task_id: str) -> dict[str, Any]:
    return call(client, f"{CORRECT}/get_result", access_token, task_id=task_id)


def set_limits(client: httpx.Client, limits: dict[str, Any]) -> httpx.Response:
    return client.post("/_sim/config", json={"key_limits": limits})


def assert_refused(client: httpx.Client, access_token: str, code: int) -> None:
    """Every API and operation answers ``code`` with the provider's message."""
    for path, operation in EVERY_CALL:
        answer = call(client, path, access_token, task_id="1")
        assert answer["error_code"] == code, (operation, answer)
        assert answer["error_msg"] == MESSAGES[code]
        assert isinstance(answer["log_id"], int)


def test_daily_limit_refuses_every_api_of_that_key_only(client: httpx.Client) -> None:
    limited, free = token(client, DAILY_KEY), token(client, FREE_KEY)
    task_id = submit(client, limited, "daily")
    assert poll(client, limited, task_id)["error_code"] == "0"
    assert poll(client, limited, task_id)["error_code"] == "0"

    assert_refused(client, limited, 17)
    assert_refused(client, limited, 17)  # refusals do not use anything up, nor free it
    # Tokens are not API calls: the key can still get one, and it is refused all the same.
    assert_refused(client, token(client, DAILY_KEY), 17)

    other = submit(client, free, "free")
    assert poll(client, free, other)["error_code"] == "0"

    stats = client.get("/_sim/stats").json()
    by_key = stats["by_key"][DAILY_KEY]
    assert by_key["correct_edu.create_task"] == {"ok": 1, "17": 3}
    assert by_key["correct_edu.get_result"] == {"ok": 2, "17": 3}
    assert by_key["formula.call"] == {"17": 3}
    assert stats["by_key"][FREE_KEY]["correct_edu.create_task"] == {"ok": 1}


def test_total_limit_answers_19(client: httpx.Client) -> None:
    limited = token(client, TOTAL_KEY)
    # Any admitted call counts, whatever its outcome (282808: no such task).
    missing = call(client, f"{OCR}/paper_cut_edu_vlm/get_result", limited, task_id="1")
    assert missing["error_code"] == 282808
    submit(client, limited, "total")
    assert_refused(client, limited, 19)
    stats = client.get("/_sim/stats").json()
    assert stats["calls"]["custom_ocr.call"] == {"19": 1}


def test_total_is_reported_before_daily(client: httpx.Client) -> None:
    assert set_limits(client, {FREE_KEY: {"daily": 1, "total": 1}}).status_code == 200
    free = token(client, FREE_KEY)
    submit(client, free, "both")
    assert_refused(client, free, 19)


def test_reset_clears_the_counts_not_the_limits(client: httpx.Client) -> None:
    limited = token(client, DAILY_KEY)
    for n in range(3):
        submit(client, limited, f"before reset {n}")
    assert_refused(client, limited, 17)
    assert client.post("/_sim/reset").json() == {"ok": True}
    for n in range(3):
        submit(client, limited, f"after reset {n}")
    assert_refused(client, limited, 17)


def test_limits_change_at_run_time(client: httpx.Client) -> None:
    config = client.get("/_sim/config").json()
    assert config["key_limits"] == START_LIMITS

    response = set_limits(client, {FREE_KEY: {"daily": 1}})
    assert response.status_code == 200
    assert response.json()["key_limits"] == {**START_LIMITS, FREE_KEY: {"daily": 1}}
    free = token(client, FREE_KEY)
    submit(client, free, "runtime")
    assert_refused(client, free, 17)

    # A limit raised at run time counts the calls already made, and only the admitted ones:
    # 3 admitted calls then 8 refused ones leave exactly 2 calls of a total of 5.
    limited = token(client, DAILY_KEY)
    for n in range(3):
        submit(client, limited, f"runtime {n}")
    assert_refused(client, limited, 17)
    assert set_limits(client, {DAILY_KEY: {"daily": 10, "total": 5}}).status_code == 200
    submit(client, limited, "raised 1")
    submit(client, limited, "raised 2")
    assert_refused(client, limited, 19)

    # {} lifts a key's limits.
    response = set_limits(client, {FREE_KEY: {}, DAILY_KEY: {}})
    assert response.json()["key_limits"] == {TOTAL_KEY: {"total": 2}}
    submit(client, free, "lifted")


@pytest.mark.parametrize(
    "body",
    [
        {"key_limits": {FREE_KEY: {"daily": -1}}},
        {"key_limits": {FREE_KEY: {"daily": 1.5}}},
        {"key_limits": {FREE_KEY: {"daily": "3"}}},
        {"key_limits": {FREE_KEY: {"total": True}}},
        {"key_limits": {FREE_KEY: {"weekly": 3}}},
        {"key_limits": {FREE_KEY: 3}},
        {"key_limits": {"no-such-key": {"daily": 3}}},
        {"key_limits": [FREE_KEY, 3]},
        # All or nothing: the valid change in the same body is not applied either.
        {"time_scale": 1, "key_limits": {FREE_KEY: {"daily": -1}}},
    ],
)
def test_bad_limits_are_rejected(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.post("/_sim/config", json=body)
    assert response.status_code == 400
    assert "key_limits" in response.json()["error"]
    config = client.get("/_sim/config").json()
    assert config["key_limits"] == START_LIMITS and config["time_scale"] == 0.01


def test_qps_refusals_do_not_count(client: httpx.Client) -> None:
    """The limits are checked before the QPS window, and an 18 uses none of the allowance."""
    # 0.01 x quota scale 100 = 1 call per second.
    assert client.post("/_sim/config", json={"quotas": {"formula.call": 0.01}}).status_code == 200
    try:
        assert set_limits(client, {FREE_KEY: {"daily": 2}}).status_code == 200
        free = token(client, FREE_KEY)
        formula = f"{OCR}/formula"
        assert call(client, formula, free)["error_code"] not in (17, 18)
        assert call(client, formula, free)["error_code"] == 18
        assert call(client, formula, free)["error_code"] == 18
        time.sleep(1.05)
        assert call(client, formula, free)["error_code"] not in (17, 18)
        assert call(client, formula, free)["error_code"] == 17
    finally:
        client.post("/_sim/config", json={"quotas": {"formula.call": 2}})


def test_fault_rule_bound_to_a_key(client: httpx.Client) -> None:
    rules = [{"operation": "*", "error_code": 282000, "api_key": FREE_KEY}]
    response = client.post("/_sim/faults", json={"rules": rules})
    assert response.status_code == 200
    assert response.json()["rules"][0]["api_key"] == FREE_KEY
    free, other = token(client, FREE_KEY), token(client, DAILY_KEY)
    for path, operation in EVERY_CALL:
        assert call(client, path, free, task_id="1")["error_code"] == 282000, operation
    task_id = submit(client, other, "not faulted")
    assert poll(client, other, task_id)["error_code"] == "0"

    # Rules without api_key still hit every key; a non-string api_key is refused.
    plain = [{"operation": "correct_edu.get_result", "error_code": 282000, "count": 1}]
    assert client.post("/_sim/faults", json={"rules": plain}).status_code == 200
    assert client.get("/_sim/faults").json()["rules"][0]["api_key"] is None
    assert poll(client, other, task_id)["error_code"] == 282000
    bad = [{"operation": "*", "error_code": 282000, "api_key": 7}]
    assert client.post("/_sim/faults", json={"rules": bad}).status_code == 400


def test_provider_day_rolls_over_at_beijing_midnight() -> None:
    # 2024-03-01 23:59:59 in Beijing is 15:59:59 UTC.
    before = calendar.timegm((2024, 3, 1, 15, 59, 59))
    midnight = before + 1
    assert provider_day(midnight) == provider_day(before) + 1
    assert provider_day(midnight + 86399.5) == provider_day(midnight)

    counter = KeyCallCounter()
    counter.count("k", before)
    counter.count("k", before)
    assert counter.refusal("k", {"daily": 2}, before) == 17
    assert counter.refusal("k", {"daily": 2}, midnight) is None
    assert counter.refusal("k", {"daily": 2, "total": 2}, midnight) == 19
    assert counter.refusal("other", {"daily": 0}, midnight) == 17
    assert counter.refusal("k", {}, before) is None
