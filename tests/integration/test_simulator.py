"""End-to-end tests of the provider simulator, over real HTTP against a real process."""

from __future__ import annotations

import base64
import calendar
import hashlib
import io
import re
import select
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from simulator.__main__ import build_parser, config_from_args
from simulator.config import DEFAULT_KEYS
from simulator.grading import grade

API_KEY, SECRET = "demo-api-key", "demo-secret-key"
QPS_KEY, QPS_SECRET = "qps-key", "qps-secret"
OTHER_KEY, OTHER_SECRET = "other-key", "other-secret"
REST = "/rest/2.0/ocr/v1/correct_edu"
LISTENING = re.compile(r"^scangrade-simulator listening on (http://127\.0\.0\.1:(\d+))$")


def make_page(label: str = "page", size: tuple[int, int] = (800, 1100), fmt: str = "JPEG") -> bytes:
    """A white page with a few lines of 'text' on it."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for line in range(12):
        y = 40 + line * (size[1] - 80) // 12
        draw.text((40, y), f"{label} line {line}: 3 + {line} = ____", fill="black")
        draw.line((40, y + 20, size[0] - 40, y + 20), fill="grey")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    cmd = [
        sys.executable,
        "-m",
        "simulator",
        "--port",
        "0",
        "--time-scale",
        "0.01",
        "--quota-scale",
        "100",
        "--seed",
        "7",
        "--key",
        f"{API_KEY}:{SECRET}",
        "--key",
        f"{QPS_KEY}:{QPS_SECRET}",
        "--key",
        f"{OTHER_KEY}:{OTHER_SECRET}",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline().strip() if ready else "<nothing within 20 s>"
        match = LISTENING.match(line)
        assert match, (
            f"unexpected first line {line!r}; stderr: {proc.stderr and proc.stderr.read()}"
        )
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def get_token(client: httpx.Client, key: str = API_KEY, secret: str = SECRET) -> str:
    params = {"grant_type": "client_credentials", "client_id": key, "client_secret": secret}
    response = client.post("/oauth/2.0/token", params=params)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def token(client: httpx.Client) -> str:
    return get_token(client)


def sim_config(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    response = client.post("/_sim/config", json=changes)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create(client: httpx.Client, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"{REST}/create_task", params={"access_token": token}, json=body)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def get_result(client: httpx.Client, token: str, task_id: str) -> dict[str, Any]:
    response = client.post(
        f"{REST}/get_result", params={"access_token": token}, json={"task_id": task_id}
    )
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def submit(client: httpx.Client, token: str, image: bytes) -> str:
    answer = create(client, token, {"image": b64(image)})
    assert answer["error_code"] == "0", answer
    task_id: str = answer["result"]["task_id"]
    return task_id


def wait_finished(client: httpx.Client, token: str, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answer = get_result(client, token, task_id)
        if answer["isAllFinished"]:
            return answer
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} never finished")


def questions_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = answer["imageResults"][0]["result"]
    return result


def check_invariants(answer: dict[str, Any]) -> None:
    """What every get_result answer must satisfy, finished or not."""
    questions = questions_of(answer)
    stat = answer["stat_result"]
    finished = sum(q["isFinish"] for q in questions)
    assert stat == {
        "all": len(questions),
        "correcting": len(questions) - finished,
        "corrected": finished,
    }
    assert answer["isAllFinished"] is (finished == len(questions))
    assert [q["seqence"] for q in questions] == list(range(len(questions)))
    for q in questions:
        assert set(q) == {
            "correctResult", "questionId", "question", "seqence", "questionArea",
            "isFinish", "slot", "type", "cropUrl",
        }  # fmt: skip
        assert isinstance(q["questionArea"], list) and q["questionArea"]
        assert all(
            set(box) == {"left_x", "left_y", "right_x", "right_y"} for box in q["questionArea"]
        )
        assert [s["seqence"] for s in q["slot"]] == list(range(1, len(q["slot"]) + 1))
        for slot in q["slot"]:
            assert set(slot) == {"correctResult", "reason", "handwritingArea", "seqence", "slotId"}
            assert isinstance(slot["handwritingArea"], dict)
        if q["isFinish"]:
            assert q["correctResult"] in (1, 2, 3)
            assert all(s["correctResult"] in (1, 2, 3) and s["reason"] for s in q["slot"])
            assert q["cropUrl"].startswith("http://")
        else:
            assert q["correctResult"] == 0 and q["cropUrl"] == ""
            assert all(s["correctResult"] == 0 and s["reason"] == "" for s in q["slot"])
    image_url = answer["imageResults"][0]["imageUrl"]
    assert (image_url != "") is answer["isAllFinished"]


def test_token_success(client: httpx.Client) -> None:
    params = {"grant_type": "client_credentials", "client_id": API_KEY, "client_secret": SECRET}
    body = client.post("/oauth/2.0/token", params=params).json()
    assert re.fullmatch(r"24\.[0-9a-f]{32}\.2592000\.\d{10}\.\d{6}-\d+", body["access_token"])
    assert body["expires_in"] == 2592000
    assert body["refresh_token"].startswith("25.")
    assert {"scope", "session_key", "session_secret"} <= set(body)
    form = client.post("/oauth/2.0/token", data=params)
    assert form.status_code == 200 and form.json()["access_token"] != body["access_token"]
    # A newer token does not revoke the older one.
    assert create(client, body["access_token"], {})["error_code"] == 216101


def test_token_errors(client: httpx.Client) -> None:
    unknown = client.post(
        "/oauth/2.0/token",
        params={"grant_type": "client_credentials", "client_id": "nope", "client_secret": "x"},
    )
    assert unknown.status_code == 401
    assert unknown.json() == {"error": "invalid_client", "error_description": "unknown client id"}
    wrong = client.post(
        "/oauth/2.0/token",
        params={"grant_type": "client_credentials", "client_id": API_KEY, "client_secret": "x"},
    )
    assert wrong.status_code == 401
    assert wrong.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }
    no_grant = client.post("/oauth/2.0/token", params={"client_id": API_KEY})
    assert no_grant.status_code == 400
    assert no_grant.json()["error"] == "unsupported_grant_type"


def test_bad_tokens(client: httpx.Client) -> None:
    missing = client.post(f"{REST}/create_task", json={}).json()
    assert missing["error_code"] == 100 and missing["error_msg"] == "Invalid parameter"
    assert isinstance(missing["log_id"], int)
    bogus = create(client, "24.deadbeef", {})
    assert bogus["error_code"] == 110
    assert bogus["error_msg"] == "Access token invalid or no longer valid"
    sim_config(client, token_lifetime_s=1)
    try:
        short = get_token(client)
        assert ".1." in short
    finally:
        sim_config(client, token_lifetime_s=2592000)
    time.sleep(1.05)
    expired = get_result(client, short, "1")
    assert expired["error_code"] == 111 and expired["error_msg"] == "Access token expired"


def test_create_task(client: httpx.Client, token: str) -> None:
    answer = create(client, token, {"image": b64(make_page("create"))})
    assert answer["error_code"] == "0" and answer["error_msg"] == ""
    assert re.fullmatch(r"\d{19}", answer["result"]["task_id"])
    assert isinstance(answer["log_id"], int) and 0 < answer["log_id"] < 2**64


def test_bad_images(client: httpx.Client, token: str) -> None:
    def code(body: dict[str, Any]) -> tuple[int, str]:
        answer = create(client, token, body)
        return answer["error_code"], answer["error_msg"]

    assert code({}) == (216101, "param image not exist")
    assert code({"url": "https://example.com/a.jpg"}) == (282111, "url format illegal")
    assert code({"image": "not base64 at all!"}) == (216201, "image format error")
    assert code({"image": b64(b"hello, not an image")}) == (216201, "image format error")
    assert code({"image": b64(make_page(fmt="GIF"))}) == (216201, "image format error")
    assert code({"image": b64(make_page(size=(400, 600)))}) == (216202, "image size error")
    png = make_page("png", size=(512, 700), fmt="PNG")
    assert create(client, token, {"image": b64(png)})["error_code"] == "0"


def test_qps_limit(client: httpx.Client) -> None:
    sim_config(client, quota_scale=1)
    try:
        token = get_token(client, QPS_KEY, QPS_SECRET)
        image = {"image": b64(make_page("qps", size=(512, 512), fmt="PNG"))}
        burst = [create(client, token, image)["error_code"] for _ in range(5)]
        assert burst.count("0") == 2 and burst.count(18) == 3, burst
        time.sleep(1.1)
        later = [create(client, token, image)["error_code"] for _ in range(2)]
        assert later == ["0", "0"]
    finally:
        sim_config(client, quota_scale=100)
    stats = client.get("/_sim/stats").json()
    assert stats["by_key"][QPS_KEY]["correct_edu.create_task"] == {"ok": 4, "18": 3}


def test_partial_then_finished(client: httpx.Client, token: str) -> None:
    sim_config(client, time_scale=0.05)
    try:
        task_id = submit(client, token, make_page("partial"))
    finally:
        sim_config(client, time_scale=0.01)
    answers = [get_result(client, token, task_id)]
    assert answers[0]["isAllFinished"] is False
    while not answers[-1]["isAllFinished"]:
        time.sleep(0.02)
        answers.append(get_result(client, token, task_id))
        assert len(answers) < 1000
    for answer in answers:
        assert answer["error_code"] == "0" and answer["task_id"] == task_id
        check_invariants(answer)
    corrected = [a["stat_result"]["corrected"] for a in answers]
    assert corrected == sorted(corrected)
    assert answers[-1]["stat_result"]["correcting"] == 0
    assert answers[-1]["imageResults"][0]["paperSubject"] in {
        "chinese", "math", "english", "physics", "chemistry",
        "biology", "history", "geography", "politics",
    }  # fmt: skip


def _verdicts(answer: dict[str, Any]) -> list[Any]:
    return [
        (q["questionId"], q["type"], q["correctResult"], q["questionArea"],
         [(s["slotId"], s["correctResult"], s["reason"], s["handwritingArea"]) for s in q["slot"]])
        for q in questions_of(answer)
    ]  # fmt: skip


def test_determinism(client: httpx.Client, token: str) -> None:
    image = make_page("same bytes")
    first = wait_finished(client, token, submit(client, token, image))
    second = wait_finished(client, token, submit(client, token, image))
    assert first["task_id"] != second["task_id"]
    assert _verdicts(first) == _verdicts(second)
    assert first["imageResults"][0]["imageId"] == second["imageResults"][0]["imageId"]
    graded = grade(image)
    assert graded.image_id == first["imageResults"][0]["imageId"]
    assert [q.question_id for q in graded.questions] == [q[0] for q in _verdicts(first)]
    assert [q.correct_result for q in graded.questions] == [q[2] for q in _verdicts(first)]
    assert 2 <= len(graded.questions) <= 6
    other = grade(make_page("other bytes"))
    assert other.image_id != graded.image_id


def test_unknown_and_foreign_tasks(client: httpx.Client, token: str) -> None:
    unknown = get_result(client, token, "1234567890123456789")
    assert unknown["error_code"] == 282808
    assert unknown["error_msg"] == "request id 1234567890123456789 not exist"
    missing = client.post(f"{REST}/get_result", params={"access_token": token}, json={})
    assert missing.json()["error_code"] == 282003
    task_id = submit(client, token, make_page("foreign"))
    other = get_token(client, OTHER_KEY, OTHER_SECRET)
    assert get_result(client, other, task_id)["error_code"] == 282808


def test_only_split(client: httpx.Client, token: str) -> None:
    image = make_page("split")
    answer = create(client, token, {"image": b64(image), "only_split": True})
    assert answer["error_code"] == "0" and answer["isAllFinished"] is True
    questions = questions_of(answer)
    assert len(questions) == len(grade(image).questions)
    for q in questions:
        assert q["isFinish"] is True and q["correctResult"] == 0 and q["cropUrl"] == ""
        assert all(s["correctResult"] == 0 and s["reason"] == "" for s in q["slot"])
    assert get_result(client, token, answer["task_id"])["error_code"] == 282808


def _png_sha(client: httpx.Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return hashlib.sha256(response.content).hexdigest()


def test_signed_urls(client: httpx.Client, base_url: str, token: str) -> None:
    image = make_page("signed")
    answer = wait_finished(client, token, submit(client, token, image))
    question = questions_of(answer)[0]
    crop_url, page_url = question["cropUrl"], answer["imageResults"][0]["imageUrl"]
    pattern = (
        re.escape(base_url) + r"/bos/correct_evaluate_data/(\w+)/\d{19}/\1/[0-9a-f-]{36}\.png"
        r"\?authorization=bce-auth-v1%2FALTAKsimulator0000000000%2F"
        r"\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ%2F86400%2Fhost%2F[0-9a-f]{64}"
    )
    assert re.fullmatch(pattern, crop_url) and re.fullmatch(pattern, page_url)
    assert _png_sha(client, crop_url) == _png_sha(client, crop_url)
    assert _png_sha(client, page_url) == _png_sha(client, page_url)
    crop = Image.open(io.BytesIO(client.get(crop_url).content))
    box = question["questionArea"]
    assert crop.width == max(b["right_x"] for b in box) - min(b["left_x"] for b in box)
    page = Image.open(io.BytesIO(client.get(page_url).content))
    assert page.size == (800, 1100)

    tampered = crop_url[:-1] + ("0" if crop_url[-1] != "0" else "1")
    denied = client.get(tampered)
    assert denied.status_code == 403 and "SignatureDoesNotMatch" in denied.text
    assert client.get(crop_url.split("?")[0]).status_code == 403

    sim_config(client, url_lifetime_s=1)
    try:
        short = questions_of(get_result(client, token, answer["task_id"]))[0]["cropUrl"]
    finally:
        sim_config(client, url_lifetime_s=86400)
    assert "%2F1%2Fhost%2F" in short
    auth = urllib.parse.unquote(short.split("authorization=")[1])
    signed_at = calendar.timegm(time.strptime(auth.split("/")[2], "%Y-%m-%dT%H:%M:%SZ"))
    time.sleep(max(0.0, signed_at + 1.05 - time.time()))
    expired = client.get(short)
    assert expired.status_code == 403
    assert "AccessDenied" in expired.text and "expired" in expired.text
    assert client.get(crop_url).status_code == 200


def test_faults(client: httpx.Client, token: str) -> None:
    task_id = submit(client, token, make_page("faults"))
    rules = [
        {"operation": "correct_edu.get_result", "error_code": 282000, "count": 1},
        {"operation": "correct_edu.get_result", "http_status": 503, "count": 1},
    ]
    assert client.post("/_sim/faults", json={"rules": rules}).status_code == 200
    assert get_result(client, token, task_id)["error_code"] == 282000
    response = client.post(
        f"{REST}/get_result", params={"access_token": token}, json={"task_id": task_id}
    )
    assert response.status_code == 503
    assert get_result(client, token, task_id)["error_code"] == "0"
    assert client.post("/_sim/faults", json={"rules": [{"operation": "x"}]}).status_code == 400


def test_observability(client: httpx.Client, token: str) -> None:
    assert client.post("/_sim/reset").json() == {"ok": True}
    image = make_page("observed")
    task_id = submit(client, token, image)
    assert create(client, "24.bogus", {})["error_code"] == 110
    answer = wait_finished(client, token, task_id)
    polls = sum(
        1 for _, _, op, _ in client.get("/_sim/calls").json()["calls"] if op.endswith("get_result")
    )
    assert client.get(questions_of(answer)[0]["cropUrl"]).status_code == 200

    stats = client.get("/_sim/stats").json()
    assert stats["calls"]["correct_edu.create_task"] == {"ok": 1, "110": 1}
    assert stats["calls"]["correct_edu.get_result"] == {"ok": polls}
    assert stats["by_key"][API_KEY]["correct_edu.create_task"] == {"ok": 1}
    assert stats["by_key"]["-"]["correct_edu.create_task"] == {"110": 1}
    assert stats["tasks"] == 1 and stats["served_objects"] == 1

    calls = client.get("/_sim/calls").json()["calls"]
    assert len(calls) == 1 + 1 + polls + 1
    assert all(isinstance(t, float) for t, *_ in calls)
    assert calls[0][1:] == [API_KEY, "correct_edu.create_task", "ok"]

    tasks = client.get("/_sim/tasks").json()["tasks"]
    info = tasks[task_id]
    assert info["image_sha256"] == hashlib.sha256(image).hexdigest()
    assert info["created_at"] <= info["ready_at"] <= info["first_complete_fetch_at"]
    expected = [
        {"questionId": q["questionId"], "seqence": q["seqence"],
         "slots": [s["slotId"] for s in q["slot"]]}
        for q in questions_of(answer)
    ]  # fmt: skip
    assert [
        {k: q[k] for k in ("questionId", "seqence", "slots")} for q in info["questions"]
    ] == expected
    config = client.get("/_sim/config").json()
    assert config["quotas"]["correct_edu.create_task"] == 2 and config["time_scale"] == 0.01
    assert client.post("/_sim/config", json={"port": 1}).status_code == 400


def test_keys_json_takes_a_key_pool_as_the_settings_write_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docker-compose passes the workers' SCANGRADE_BAIDU_KEYS as it is (other fields too)."""
    pool = '[{"api_key": "pool-a", "secret_key": "sa", "daily_budget": 5}, '
    pool += '{"api_key": "pool-b", "secret_key": "sb", "quotas": {"formula.call": 1}}]'
    args = build_parser().parse_args(["--key", "k:s", "--keys-json", pool, "--keys-json", "[]"])
    assert config_from_args(args).keys == {"k": "s", "pool-a": "sa", "pool-b": "sb"}
    alone = build_parser().parse_args(["--keys-json", "[]"])
    assert config_from_args(alone).keys == DEFAULT_KEYS
    for bad in ('[{"api_key": "a", "secret_key": "very-secret"', '[{"api_key": "very-secret"}]'):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--keys-json", bad])
        assert "very-secret" not in capsys.readouterr().err
