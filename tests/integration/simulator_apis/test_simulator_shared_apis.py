"""What every simulator API shares, over real HTTP: tokens, unknown and foreign tasks, quotas,
faults and the call log, determinism, the admin task listing, retention and ``--help``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from typing import Any

import httpx
from support.simulator_apis import (
    API_KEY,
    CUSTOM,
    ESSAY,
    FORMULA,
    OCR,
    OTHER_KEY,
    OTHER_SECRET,
    PAPER,
    QPS_KEY,
    QPS_SECRET,
    b64,
    create,
    final,
    get_result,
    get_token,
    make_page,
    paper_questions,
    post,
    sim_config,
    submit,
    wait_done,
)

# ---------------------------------------------------- shared: tokens, quota, faults


ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    (f"{PAPER}/create_task", {"json": {}}),
    (f"{PAPER}/get_result", {"json": {"task_id": "1"}}),
    (f"{ESSAY}/create_task", {"json": {}}),
    (f"{ESSAY}/get_result", {"json": {"task_id": "1"}}),
    (FORMULA, {"data": {}}),
    (CUSTOM, {"json": {}}),
]


def test_tokens_checked_everywhere(client: httpx.Client) -> None:
    sim_config(client, token_lifetime_s=1)
    try:
        short = get_token(client)
    finally:
        sim_config(client, token_lifetime_s=2592000)
    time.sleep(1.05)
    for path, kwargs in ENDPOINTS:
        assert post(client, path, None, **kwargs)["error_code"] == 100, path
        assert post(client, path, "24.bogus", **kwargs)["error_code"] == 110, path
        assert post(client, path, short, **kwargs)["error_code"] == 111, path


def test_unknown_foreign_and_cross_api_tasks(client: httpx.Client, token: str) -> None:
    for path, task_id in ((PAPER, "1234567890123456789"), (ESSAY, "task-" + "x" * 32)):
        answer = get_result(client, path, token, task_id)
        assert answer["error_code"] == 282808
        assert answer["error_msg"] == f"request id {task_id} not exist"
        assert post(client, f"{path}/get_result", token, json={})["error_code"] == 282003
    paper_id = submit(client, PAPER, token, {"image": b64(make_page("owned"))})
    essay_id = submit(client, ESSAY, token, {"image": b64(make_page("owned"))})
    other = get_token(client, OTHER_KEY, OTHER_SECRET)
    assert get_result(client, PAPER, other, paper_id)["error_code"] == 282808
    assert get_result(client, ESSAY, other, essay_id)["error_code"] == 282808
    assert get_result(client, ESSAY, token, paper_id)["error_code"] == 282808
    assert get_result(client, f"{OCR}/correct_edu", token, paper_id)["error_code"] == 282808
    assert client.get("/_sim/tasks/nope/answer").status_code == 404


def test_quotas(client: httpx.Client) -> None:
    config = client.get("/_sim/config").json()["quotas"]
    assert config["paper_cut_edu_vlm.get_result"] == 10 and config["formula.call"] == 2
    assert config["handwriting_composition.get_result"] == 10 and config["custom_ocr.call"] == 2
    token = get_token(client, QPS_KEY, QPS_SECRET)
    image = b64(make_page("quota", (100, 100)))
    sim_config(client, quota_scale=1, quotas={"custom_ocr.call": 3})
    try:
        calls = [
            (f"{PAPER}/create_task", {"json": {"image": image}}, 2),
            (f"{PAPER}/get_result", {"json": {"task_id": "1"}}, 10),
            (f"{ESSAY}/create_task", {"json": {"image": image}}, 2),
            (f"{ESSAY}/get_result", {"json": {"task_id": "1"}}, 10),
            (FORMULA, {"data": {"image": image}}, 2),
            (CUSTOM, {"json": {"image": image}}, 3),
        ]
        for path, kwargs, quota in calls:
            codes = [
                post(client, path, token, **kwargs).get("error_code") for _ in range(quota + 2)
            ]
            assert codes.count(18) == 2 and 18 not in codes[:quota], (path, codes)
    finally:
        sim_config(client, quota_scale=100, quotas={"custom_ocr.call": 2})
    by_key = client.get("/_sim/stats").json()["by_key"][QPS_KEY]
    assert by_key["formula.call"] == {"ok": 2, "18": 2}
    assert by_key["custom_ocr.call"] == {"ok": 3, "18": 2}
    assert by_key["paper_cut_edu_vlm.get_result"] == {"282808": 10, "18": 2}


def test_faults_and_call_log(client: httpx.Client, token: str) -> None:
    since = time.time()
    rules = [
        {"operation": "paper_cut_edu_vlm.create_task", "error_code": 282000, "count": 1},
        {"operation": "handwriting_composition.get_result", "error_code": 216630, "count": 1},
        {"operation": "formula.call", "http_status": 503, "count": 1},
        {"operation": "custom_ocr.call", "error_code": 336100, "count": 1},
    ]
    assert client.post("/_sim/faults", json={"rules": rules}).status_code == 200
    image = b64(make_page("faults", (100, 100)))
    assert create(client, PAPER, token, {"image": image})["error_code"] == 282000
    essay_id = submit(client, ESSAY, token, {"image": image})
    assert get_result(client, ESSAY, token, essay_id)["error_code"] == 216630
    assert (
        client.post(FORMULA, params={"access_token": token}, data={"image": image}).status_code
        == 503
    )
    assert post(client, CUSTOM, token, json={"image": image})["error_code"] == 336100
    assert "words_result_num" in post(client, CUSTOM, token, json={"image": image})
    calls = [c[1:] for c in client.get("/_sim/calls", params={"since": since}).json()["calls"]]
    assert calls == [
        [API_KEY, "paper_cut_edu_vlm.create_task", "282000"],
        [API_KEY, "handwriting_composition.create_task", "ok"],
        [API_KEY, "handwriting_composition.get_result", "216630"],
        [API_KEY, "formula.call", "http_503"],
        [API_KEY, "custom_ocr.call", "336100"],
        [API_KEY, "custom_ocr.call", "ok"],
    ]
    assert client.get("/_sim/faults").json()["rules"][0]["count"] == 0


# ------------------------------------------------- determinism and admin listings


def strip_volatile(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs between two tasks on the same page."""
    result = dict(answer["result"])
    for name in ("task_id", "created_time", "started_time", "finished_time", "duration"):
        result.pop(name, None)
    return {"error_code": answer["error_code"], "result": result}


def test_determinism(client: httpx.Client, token: str) -> None:
    image = b64(make_page("same bytes"))
    for path, body in (
        (PAPER, {"image": image, "scene_type": "answer_sheet"}),
        (PAPER, {"image": image}),
        (ESSAY, {"image": image, "recognize_granularity": "word"}),
    ):
        first = final(client, submit(client, path, token, body))
        second = final(client, submit(client, path, token, body))
        assert first["result"]["task_id"] != second["result"]["task_id"]
        assert strip_volatile(first) == strip_volatile(second)
    other = final(client, submit(client, PAPER, token, {"image": b64(make_page("other bytes"))}))
    assert strip_volatile(other) != strip_volatile(
        final(client, submit(client, PAPER, token, {"image": image}))
    )
    for path, kwargs in (
        (FORMULA, {"data": {"image": image}}),
        (CUSTOM, {"json": {"image": image}}),
    ):
        one, two = post(client, path, token, **kwargs), post(client, path, token, **kwargs)
        assert one["log_id"] != two["log_id"]
        assert {**one, "log_id": 0} == {**two, "log_id": 0}


def test_sim_tasks_describe_ingestion(client: httpx.Client, token: str) -> None:
    paper_id = submit(client, PAPER, token, {"image": b64(make_page("listed"))})
    essay_id = submit(
        client, ESSAY, token, {"image": b64(make_page("listed")), "recognize_granularity": "line"}
    )
    correct_image = make_page("listed correct", size=(600, 800))
    correct_id = submit(client, f"{OCR}/correct_edu", token, {"image": b64(correct_image)})
    tasks = client.get("/_sim/tasks").json()["tasks"]

    paper = tasks[paper_id]
    assert paper["api"] == "paper_cut_edu_vlm" and paper["api_key"] == API_KEY
    questions = paper_questions(final(client, paper_id)["result"]["result"])
    answers = [
        len(q["qus_elements"].get("answer_words", q["qus_elements"].get("ans_words")))
        for q in questions
    ]
    assert paper["questions"] == [
        {"qus_id": q["qus_id"], "answers": n} for q, n in zip(questions, answers, strict=True)
    ]
    assert paper["created_at"] <= paper["started_at"] <= paper["ready_at"]

    essay = tasks[essay_id]
    inner = final(client, essay_id)["result"]["result"]
    assert essay["api"] == "handwriting_composition" and essay["not_a_composition"] is False
    assert essay["title"] == inner["title"]["text"]
    assert essay["content_text"] == inner["essayOverall"]["contentText"]
    assert essay["paragraphs"] == len(inner["content"]["paragraphs"])
    assert essay["sentences"] == sum(len(p["sentences"]) for p in inner["content"]["paragraphs"])
    assert essay["lines"] == len(inner["content"]["lines"])

    correct = tasks[correct_id]
    assert correct["api"] == "correct_edu"
    assert correct["image_sha256"] == hashlib.sha256(correct_image).hexdigest()
    assert {"image_id", "questions", "ready_at", "fetches", "first_complete_fetch_at"} <= set(
        correct
    )
    finished = final(client, correct_id)
    assert finished["isAllFinished"] is True and finished["imageResults"][0]["imageUrl"]
    assert client.get("/_sim/tasks").json()["tasks"][correct_id]["fetches"] == 0


def test_retention_forgets_new_tasks(client: httpx.Client, token: str) -> None:
    sim_config(client, task_retention_s=0.2)
    try:
        paper_id = submit(client, PAPER, token, {"image": b64(make_page("forgotten", (100, 100)))})
        essay_id = submit(client, ESSAY, token, {"image": b64(make_page("forgotten", (100, 100)))})
        wait_done(client, PAPER, token, paper_id)
        time.sleep(1.3)
        assert get_result(client, PAPER, token, paper_id)["error_code"] == 282808
        assert get_result(client, ESSAY, token, essay_id)["error_code"] == 282808
    finally:
        sim_config(client, task_retention_s=0)


def test_help_documents_everything() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for text in (
        "paper_cut_edu_vlm:get_result=10", "handwriting_composition:create_task=2",
        "formula:call=2", "custom_ocr:call=2", "/rpc/2.0/ai_custom/v1/ocr/<model>",
        "/_sim/tasks/<task_id>/answer", "--quota-scale", "--time-scale",
    ):  # fmt: skip
        assert text in out, text
    from simulator.__main__ import build_parser, config_from_args

    args = build_parser().parse_args(["--quota", "formula:call=5", "--quota-scale", "2"])
    config = config_from_args(args)
    assert config.quota_for("formula", "call") == 10
    assert config.quota_for("paper_cut_edu_vlm", "get_result") == 20
