"""Helpers shared by the simulator API tests (``tests/integration/test_simulator_*_api*.py``).

Pages, PDFs and base64 made on the fly, one simulator's command line, the HTTP calls every
API shares (token, create_task, get_result, waiting for a task) and the paper_cut answer
checks, which the admin listing tests use too. Shapes follow the provider's documents (seeds
001-004), including every documented variant a client must accept.
"""

from __future__ import annotations

import base64
import io
import re
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw

from devkit.standins import Service, start_simulator

API_KEY, SECRET = "demo-api-key", "demo-secret-key"
QPS_KEY, QPS_SECRET = "qps-key", "qps-secret"
OTHER_KEY, OTHER_SECRET = "other-key", "other-secret"
OCR = "/rest/2.0/ocr/v1"
PAPER = f"{OCR}/paper_cut_edu_vlm"
ESSAY = f"{OCR}/handwriting_composition"
FORMULA = f"{OCR}/formula"
CUSTOM = "/rpc/2.0/ai_custom/v1/ocr/my_model_v1"
QUESTION_TYPES = {"选择题", "填空题", "判断题", "计算题", "问答题"}
XYWH = {"x", "y", "w", "h"}


def make_page(label: str = "page", size: tuple[int, int] = (600, 800), fmt: str = "PNG") -> bytes:
    """A white page with a few lines of 'text' on it."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for line in range(10):
        y = 20 + line * (size[1] - 40) // 10
        draw.text((20, y), f"{label} line {line}: 3 + {line} = ____", fill="black")
        draw.line((20, y + 15, size[0] - 20, y + 15), fill="grey")
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def blank_page(size: tuple[int, int] = (600, 800)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, format="PNG")
    return out.getvalue()


def make_pdf(pages: int) -> bytes:
    images = [
        Image.open(io.BytesIO(make_page(f"pdf page {n}"))).convert("RGB") for n in range(pages)
    ]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=150)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def start_api_simulator(log: Path) -> Service:
    """A fast, seeded simulator that knows the demo, QPS and other keys."""
    args = [
        "--time-scale", "0.01", "--quota-scale", "100", "--seed", "11",
        "--key", f"{API_KEY}:{SECRET}", "--key", f"{QPS_KEY}:{QPS_SECRET}",
        "--key", f"{OTHER_KEY}:{OTHER_SECRET}",
    ]  # fmt: skip
    return start_simulator(args, log)


def get_token(client: httpx.Client, key: str = API_KEY, secret: str = SECRET) -> str:
    params = {"grant_type": "client_credentials", "client_id": key, "client_secret": secret}
    token: str = client.post("/oauth/2.0/token", params=params).json()["access_token"]
    return token


def sim_config(client: httpx.Client, **changes: Any) -> None:
    response = client.post("/_sim/config", json=changes)
    assert response.status_code == 200, response.text


def post(client: httpx.Client, path: str, token: str | None, **kwargs: Any) -> dict[str, Any]:
    params = {"access_token": token} if token is not None else {}
    response = client.post(path, params=params, **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def create(client: httpx.Client, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    return post(client, f"{path}/create_task", token, json=body)


def get_result(client: httpx.Client, path: str, token: str, task_id: str) -> dict[str, Any]:
    return post(client, f"{path}/get_result", token, json={"task_id": task_id})


def submit(client: httpx.Client, path: str, token: str, body: dict[str, Any]) -> str:
    answer = create(client, path, token, body)
    assert answer["error_code"] in ("0", 0) and answer["error_msg"] == "", answer
    task_id: str = answer["result"]["task_id"]
    return task_id


def final(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/_sim/tasks/{task_id}/answer")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def is_done(answer: dict[str, Any]) -> bool:
    result = answer.get("result")
    return isinstance(result, dict) and str(result.get("status")).lower() == "success"


def wait_done(client: httpx.Client, path: str, token: str, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answer = get_result(client, path, token, task_id)
        if is_done(answer) or answer.get("error_code") == 216100:
            return answer
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} never finished")


def boxes_of(items: list[Any]) -> list[tuple[int, int, int, int]]:
    """Boxes in either documented spelling: {x, y, w, h} objects or [x, y, w, h] lists."""
    out = []
    for box in items:
        if isinstance(box, list):
            assert len(box) == 4 and all(isinstance(v, int) for v in box)
            out.append((box[0], box[1], box[2], box[3]))
        else:
            assert set(box) == XYWH and all(isinstance(v, int) for v in box.values())
            out.append((box["x"], box["y"], box["w"], box["h"]))
    return out


def paper_questions(inner: dict[str, Any]) -> list[dict[str, Any]]:
    key = "qus_results" if "qus_results" in inner else "qus_result"
    questions: list[dict[str, Any]] = inner[key]
    assert inner["qus_result_num"] == len(questions)
    return questions


def check_times(result: dict[str, Any], status: str) -> None:
    assert isinstance(result["created_time"], int) and result["created_time"] > 1.7e12
    if status in ("running", "success"):
        assert result["started_time"] >= result["created_time"]
    else:
        assert "started_time" not in result
    if status == "success":
        assert result["duration"] == result["finished_time"] - result["started_time"]
        assert result["duration"] >= 0
    else:
        assert "finished_time" not in result and "duration" not in result


def check_paper_answer(answer: dict[str, Any], scene: str, only_split: bool = False) -> None:
    assert set(answer) == {"error_code", "error_msg", "result", "log_id"}
    assert answer["error_code"] in ("0", 0) and answer["error_msg"] == ""
    assert isinstance(answer["log_id"], int)
    result = answer["result"]
    assert result["status"] in ("Success", "success")
    check_times(result, "success")
    inner = result["result"]
    allowed = {"qus_result_num", "qus_result", "qus_results", "enhance_url", "log_id"}
    assert set(inner) <= allowed and ("log_id" in inner) is (scene == "answer_sheet")
    questions = paper_questions(inner)
    id_key = "que_id" if scene == "answer_sheet" else "qus_id"
    assert [q[id_key] for q in questions] == list(range(1, len(questions) + 1))
    for q in questions:
        expected = {id_key, "location"} | (set() if only_split else {"qus_elements"})
        assert set(q) == expected
        location = q["location"]
        loc_keys = {"qus_location", "pic_location"} | ({"ans_location"} if only_split else set())
        assert set(location) == loc_keys
        assert boxes_of(location["qus_location"]) and isinstance(location["pic_location"], list)
        boxes_of(location["pic_location"])
        if only_split:
            assert boxes_of(location["ans_location"])
            continue
        check_elements(q["qus_elements"], scene)


def check_elements(elements: dict[str, Any], scene: str) -> None:
    short = "qus_words" in elements
    words_key, answers_key = (
        ("qus_words", "ans_words") if short else ("question_words", "answer_words")
    )
    assert set(elements) == {words_key, "choices", "qus_type", answers_key}
    answers = elements[answers_key]
    if scene == "answer_sheet":
        assert (
            elements[words_key] == "" and elements["choices"] == [] and elements["qus_type"] == ""
        )
        assert answers and all(set(a) == {"number", "answer"} for a in answers)
        assert all(re.fullmatch(r"\d+\.", a["number"]) for a in answers)
        return
    assert elements["qus_type"] in QUESTION_TYPES and elements[words_key]
    assert all(isinstance(a, str) and a for a in answers)
    if elements["qus_type"] == "选择题":
        assert [c[:3] for c in elements["choices"]] == ["A. ", "B. ", "C. ", "D. "]
    else:
        assert elements["choices"] == []
