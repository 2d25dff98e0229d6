"""The simulator's paper_cut, composition, formula and custom OCR APIs, over real HTTP.

Shapes are checked field by field against the provider's documents (seeds 001-004),
including every documented variant a client must accept.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import http.server
import io
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from devkit.standins import start_simulator

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


@pytest.fixture(scope="module")
def base_url(logs_dir: Path) -> Iterator[str]:
    args = [
        "--time-scale", "0.01", "--quota-scale", "100", "--seed", "11",
        "--key", f"{API_KEY}:{SECRET}", "--key", f"{QPS_KEY}:{QPS_SECRET}",
        "--key", f"{OTHER_KEY}:{OTHER_SECRET}",
    ]  # fmt: skip
    service = start_simulator(args, logs_dir / "simulator-apis.log")
    yield service.url
    service.stop()


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=20) as http:
        yield http


def get_token(client: httpx.Client, key: str = API_KEY, secret: str = SECRET) -> str:
    params = {"grant_type": "client_credentials", "client_id": key, "client_secret": secret}
    token: str = client.post("/oauth/2.0/token", params=params).json()["access_token"]
    return token


@pytest.fixture(scope="module")
def token(client: httpx.Client) -> str:
    return get_token(client)


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


# ---------------------------------------------------------------- paper_cut_edu_vlm


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


def test_paper_cut_paper_scene(client: httpx.Client, token: str) -> None:
    answer = create(client, PAPER, token, {"image": b64(make_page("paper")), "scene_type": "paper"})
    assert set(answer) == {"error_code", "error_msg", "result", "log_id"}
    assert answer["error_code"] == "0" and answer["error_msg"] == ""
    assert re.fullmatch(r"\d{19}", answer["result"]["task_id"]) and set(answer["result"]) == {
        "task_id"
    }
    assert isinstance(answer["log_id"], int)
    done = wait_done(client, PAPER, token, answer["result"]["task_id"])
    assert done["result"]["task_id"] == answer["result"]["task_id"]
    check_paper_answer(done, "paper")
    assert "enhance_url" not in done["result"]["result"]


def test_paper_cut_default_scene_and_answer_sheet(client: httpx.Client, token: str) -> None:
    default = final(client, submit(client, PAPER, token, {"image": b64(make_page("default"))}))
    check_paper_answer(default, "paper")
    task_id = submit(
        client, PAPER, token, {"image": b64(make_page("sheet")), "scene_type": "answer_sheet"}
    )
    check_paper_answer(wait_done(client, PAPER, token, task_id), "answer_sheet")


def test_paper_cut_statuses_progress(client: httpx.Client, token: str) -> None:
    # Slow enough that the pending phase (a fifth of the processing time or more) lasts
    # well over a poll round trip even on a loaded machine.
    sim_config(client, time_scale=0.25)
    try:
        task_id = submit(client, PAPER, token, {"image": b64(make_page("progress"))})
    finally:
        sim_config(client, time_scale=0.01)
    seen: list[str] = []
    while True:
        answer = get_result(client, PAPER, token, task_id)
        result = answer["result"]
        status = result["status"]
        assert status in ("pending", "Pending", "running", "Running", "Success", "success")
        check_times(result, status.lower())
        assert ("result" in result) is (status.lower() == "success")
        if not seen or seen[-1] != status.lower():
            seen.append(status.lower())
        if status.lower() == "success":
            break
        time.sleep(0.01)
    assert seen == ["pending", "running", "success"]


def test_paper_cut_quirks_all_occur(client: httpx.Client, token: str) -> None:
    seen: dict[str, set[Any]] = {}

    def saw(name: str, value: Any) -> None:
        seen.setdefault(name, set()).add(value)

    for n in range(40):
        image = make_page(f"quirk {n}", size=(300, 400))
        answer = final(client, submit(client, PAPER, token, {"image": b64(image)}))
        check_paper_answer(answer, "paper")
        inner = answer["result"]["result"]
        saw("error_code", answer["error_code"])
        saw("status", answer["result"]["status"])
        saw("results_key", "qus_results" in inner)
        question = paper_questions(inner)[0]
        saw("list_boxes", isinstance(question["location"]["qus_location"][0], list))
        saw("short_words", "qus_words" in question["qus_elements"])
    assert seen == {
        "error_code": {"0", 0},
        "status": {"Success", "success"},
        "results_key": {True, False},
        "list_boxes": {True, False},
        "short_words": {True, False},
    }


def test_paper_cut_pdf_pages(client: httpx.Client, token: str) -> None:
    pdf = make_pdf(3)
    first = final(client, submit(client, PAPER, token, {"pdf_file": b64(pdf)}))
    one = final(client, submit(client, PAPER, token, {"pdf_file": b64(pdf), "pdf_file_num": "1"}))
    second_id = submit(client, PAPER, token, {"pdf_file": b64(pdf), "pdf_file_num": "2"})
    second = final(client, second_id)
    check_paper_answer(second, "paper")
    assert paper_questions(first["result"]["result"]) == paper_questions(one["result"]["result"])
    assert paper_questions(second["result"]["result"]) != paper_questions(first["result"]["result"])
    info = client.get("/_sim/tasks").json()["tasks"][second_id]
    assert info["api"] == "paper_cut_edu_vlm"
    assert info["image_sha256"] == hashlib.sha256(pdf + b"2").hexdigest()

    def code(body: dict[str, Any]) -> tuple[int, str]:
        answer = create(client, PAPER, token, body)
        return answer["error_code"], answer["error_msg"]

    assert code({"pdf_file": b64(pdf), "pdf_file_num": "4"})[0] == 216100
    assert "out of range" in code({"pdf_file": b64(pdf), "pdf_file_num": "4"})[1]
    assert code({"pdf_file": b64(pdf), "pdf_file_num": "two"})[0] == 216100
    assert code({"pdf_file": b64(b"%PDF-1.4 broken")}) == (216201, "image format error")
    # image > url > pdf_file: the image wins and the others are ignored.
    image = make_page("priority")
    by_image = final(
        client, submit(client, PAPER, token, {"image": b64(image), "pdf_file": b64(pdf)})
    )
    alone = final(client, submit(client, PAPER, token, {"image": b64(image)}))
    assert paper_questions(by_image["result"]["result"]) == paper_questions(
        alone["result"]["result"]
    )


def test_paper_cut_only_split_is_sync(client: httpx.Client, token: str) -> None:
    image = make_page("split")
    answer = create(client, PAPER, token, {"image": b64(image), "only_split": True})
    check_paper_answer(answer, "paper", only_split=True)
    task_id = answer["result"]["task_id"]
    assert re.fullmatch(r"\d{19}", task_id)
    assert get_result(client, PAPER, token, task_id)["error_code"] == 282808
    assert task_id not in client.get("/_sim/tasks").json()["tasks"]
    sheet = create(
        client,
        PAPER,
        token,
        {"image": b64(image), "only_split": "true", "scene_type": "answer_sheet"},
    )
    check_paper_answer(sheet, "answer_sheet", only_split=True)
    # The split matches the recognising mode's questions and boxes.
    full = final(client, submit(client, PAPER, token, {"image": b64(image)}))
    split_q = paper_questions(answer["result"]["result"])
    full_q = paper_questions(full["result"]["result"])
    assert [q["location"]["qus_location"] for q in split_q] == [
        q["location"]["qus_location"] for q in full_q
    ]


def test_paper_cut_enhance_url(client: httpx.Client, base_url: str, token: str) -> None:
    image = make_page("enhance", size=(500, 700))
    task_id = submit(client, PAPER, token, {"image": b64(image), "enhance": True})
    answer = wait_done(client, PAPER, token, task_id)
    url = answer["result"]["result"]["enhance_url"]
    pattern = (
        re.escape(base_url) + r"/bos/paper_cut_enhance_data/(\w+)/\d{19}/\1/[0-9a-f-]{36}\.png"
        r"\?authorization=bce-auth-v1%2FALTAKsimulator0000000000%2F"
        r"\d{4}-\d\d-\d\dT\d\d%3A\d\d%3A\d\dZ%2F86400%2Fhost%2F[0-9a-f]{64}"
    )
    assert re.fullmatch(pattern, url), url
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    enhanced = Image.open(io.BytesIO(response.content))
    assert enhanced.format == "PNG" and enhanced.mode == "L" and enhanced.size == (500, 700)
    assert client.get(url).content == response.content
    assert client.get(url[:-1] + ("0" if url[-1] != "0" else "1")).status_code == 403

    sim_config(client, url_lifetime_s=1)
    try:
        short = get_result(client, PAPER, token, task_id)["result"]["result"]["enhance_url"]
    finally:
        sim_config(client, url_lifetime_s=86400)
    auth = urllib.parse.unquote(short.split("authorization=")[1])
    signed_at = calendar.timegm(time.strptime(auth.split("/")[2], "%Y-%m-%dT%H:%M:%SZ"))
    time.sleep(max(0.0, signed_at + 1.05 - time.time()))
    expired = client.get(short)
    assert expired.status_code == 403 and "expired" in expired.text
    # only_split with enhance answers a working URL too, though nothing can be polled.
    split = create(client, PAPER, token, {"image": b64(image), "only_split": True, "enhance": True})
    assert client.get(split["result"]["result"]["enhance_url"]).status_code == 200


def test_paper_cut_errors(client: httpx.Client, token: str) -> None:
    def code(body: dict[str, Any]) -> int:
        result: int = create(client, PAPER, token, body)["error_code"]
        return result

    image = b64(make_page("errors"))
    assert code({"image": image, "scene_type": "exam"}) == 216100
    assert code({}) == 216101
    assert code({"image": b64(make_page(size=(10, 400)))}) == 216202
    assert code({"image": b64(blank_page((8193, 20)))}) == 216202
    assert code({"image": "!!not base64!!"}) == 216201
    assert code({"url": "ftp://example.com/a.png"}) == 282111
    assert code({"url": "not a url"}) == 282111


class _OneFile(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self) -> None:
        if self.path != "/scan.png":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_url_source(client: httpx.Client, token: str) -> None:
    image = make_page("from a url")
    _OneFile.payload = image
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OneFile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        task_id = submit(client, PAPER, token, {"url": f"http://127.0.0.1:{port}/scan.png"})
        info = client.get("/_sim/tasks").json()["tasks"][task_id]
        assert info["image_sha256"] == hashlib.sha256(image).hexdigest()
        missing = create(client, PAPER, token, {"url": f"http://127.0.0.1:{port}/nope.png"})
        assert missing["error_code"] == 282112
        form = {"url": f"http://127.0.0.1:{port}/scan.png"}
        assert "words_result" in post(client, FORMULA, token, data=form)
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    refused = create(client, PAPER, token, {"url": f"http://127.0.0.1:{closed}/scan.png"})
    assert refused == {
        "log_id": refused["log_id"],
        "error_msg": "url download timeout",
        "error_code": 282112,
    }


# ---------------------------------------------------------- handwriting_composition


def check_essay(inner: dict[str, Any], granularity: str) -> None:
    """Shape per granularity (seed 002) and self-consistency of every index."""
    key = "recognizeGranularity" if "recognizeGranularity" in inner else "recognize_granularity"
    assert set(inner) == {key, "essayOverall", "title", "content"}
    assert inner[key] == granularity
    overall, title, content = inner["essayOverall"], inner["title"], inner["content"]
    assert set(overall) == {"titleText", "contentText"} and overall["titleText"] == title["text"]
    paragraphs = content["paragraphs"]
    assert [p["paragraphId"] for p in paragraphs] == [
        f"p{i}" for i in range(1, len(paragraphs) + 1)
    ]
    assert 2 <= len(paragraphs) <= 5
    for p in paragraphs:
        ids = [s["sentenceId"] for s in p["sentences"]]
        assert ids == [f"s{i}-{p['paragraphId']}" for i in range(1, len(ids) + 1)]
        assert p["text"] == "".join(s["text"] for s in p["sentences"])
    if granularity == "none":
        assert set(title) == {"text"} and set(content) == {"paragraphs"}
        for p in paragraphs:
            assert set(p) == {"paragraphId", "text", "sentences"}
            assert all(set(s) == {"sentenceId", "text"} for s in p["sentences"])
        return
    assert set(title) == ({"text", "bbox", "chars"} if granularity == "word" else {"text", "bbox"})
    title_box = title["bbox"][0] if isinstance(title["bbox"], list) else title["bbox"]
    assert set(title_box) == XYWH
    lines = {line["lineId"]: line for line in content["lines"]}
    assert list(lines) == [f"l{i}" for i in range(1, len(lines) + 1)]
    assert overall["contentText"] == "\n".join(line["text"] for line in content["lines"])
    assert 20 <= max(len(line["text"]) for line in lines.values()) <= 28
    for p in paragraphs:
        assert set(p) == {"paragraphId", "text", "bbox", "isColumn", "sentences"}
        assert p["isColumn"] in (0, 1) and all(set(b) == XYWH for b in p["bbox"])
        for s in p["sentences"]:
            assert set(s) == {"sentenceId", "text", "bbox", "lineSegments"}
            assert all(set(b) == XYWH for b in s["bbox"])
            pieces = [
                lines[g["lineId"]]["text"][g["startIndex"] : g["endIndex"] + 1]
                for g in s["lineSegments"]
            ]
            assert "".join(pieces) == s["text"]
            assert all(
                lines[g["lineId"]]["paragraphId"] == p["paragraphId"] for g in s["lineSegments"]
            )
    for line in lines.values():
        expected = {"lineId", "text", "bbox", "paragraphId"} | (
            {"chars"} if granularity == "word" else set()
        )
        assert set(line) == expected and set(line["bbox"]) == XYWH
        if granularity == "word":
            check_chars(line["chars"], line["text"])
    if granularity == "word":
        check_chars(title["chars"], title["text"])


def check_chars(chars: list[dict[str, Any]], text: str) -> None:
    assert "".join(c["char"] for c in chars) == text
    assert [c["index"] for c in chars] == list(range(len(text)))
    for c in chars:
        assert set(c) == {"char", "index", "bbox", "isPunctuation"} and set(c["bbox"]) == XYWH
        assert c["isPunctuation"] in (True, False, "true", "false")
        assert str(c["isPunctuation"]).lower() == str(c["char"] in "。,、;:?!“”").lower()


def check_essay_answer(answer: dict[str, Any], task_id: str, granularity: str) -> None:
    assert set(answer) == {"error_code", "error_msg", "result", "log_id"}
    assert answer["error_code"] == "0" and answer["error_msg"] == ""
    assert re.fullmatch(r"\d{32}", answer["log_id"])
    result = answer["result"]
    assert result["task_id"] == task_id and result["status"] in ("Success", "success")
    check_times(result, "success")
    check_essay(result["result"], granularity)


def test_composition_create_and_granularities(client: httpx.Client, token: str) -> None:
    image = b64(make_page("essay"))
    answer = create(client, ESSAY, token, {"image": image})
    assert set(answer) == {"error_code", "error_msg", "log_id", "result"}
    assert answer["error_code"] == 0 and answer["error_msg"] == ""
    assert re.fullmatch(r"\d{32}", answer["log_id"])
    task_id = answer["result"]["task_id"]
    assert re.fullmatch(r"task-[A-Za-z0-9]{32}", task_id) and set(answer["result"]) == {"task_id"}
    check_essay_answer(wait_done(client, ESSAY, token, task_id), task_id, "none")
    for granularity in ("none", "line", "word"):
        body = {"image": image, "recognize_granularity": granularity}
        task_id = submit(client, ESSAY, token, body)
        check_essay_answer(wait_done(client, ESSAY, token, task_id), task_id, granularity)


def test_composition_quirks_all_occur(client: httpx.Client, token: str) -> None:
    seen: dict[str, set[Any]] = {}
    for n in range(40):
        body = {
            "image": b64(make_page(f"essay {n}", size=(300, 400))),
            "recognize_granularity": "word",
        }
        task_id = submit(client, ESSAY, token, body)
        answer = final(client, task_id)
        check_essay_answer(answer, task_id, "word")
        inner = answer["result"]["result"]
        flags = {
            "camel": "recognizeGranularity" in inner,
            "title_list": isinstance(inner["title"]["bbox"], list),
            "string_punct": isinstance(
                inner["content"]["lines"][0]["chars"][0]["isPunctuation"], str
            ),
            "status": answer["result"]["status"],
            "columns": inner["content"]["paragraphs"][0]["isColumn"],
        }
        for name, value in flags.items():
            seen.setdefault(name, set()).add(value)
    assert seen == {
        "camel": {True, False},
        "title_list": {True, False},
        "string_punct": {True, False},
        "status": {"Success", "success"},
        "columns": {0, 1},
    }


def test_composition_pending_forms(client: httpx.Client, token: str) -> None:
    sim_config(client, time_scale=1)
    try:
        ids = [
            submit(client, ESSAY, token, {"image": b64(make_page(f"slow {n}", (200, 260)))})
            for n in range(12)
        ]
    finally:
        sim_config(client, time_scale=0.01)
    forms = set()
    for task_id in ids:
        for _ in range(3):
            answer = get_result(client, ESSAY, token, task_id)
            if answer["error_code"] == 1:
                assert answer["error_msg"] in ("Pending", "Processing") and "result" not in answer
                forms.add("error")
            else:
                assert answer["error_code"] == "0"
                result = answer["result"]
                assert result["status"] in ("pending", "processing") and "result" not in result
                check_times(
                    result, {"pending": "pending", "processing": "running"}[result["status"]]
                )
                forms.add("status")
    assert forms == {"error", "status"}


def test_composition_not_a_composition(client: httpx.Client, token: str) -> None:
    task_id = submit(client, ESSAY, token, {"image": b64(blank_page())})
    answer = wait_done(client, ESSAY, token, task_id)
    assert answer == {
        "log_id": answer["log_id"],
        "error_msg": "the input image is not a composition",
        "error_code": 216100,
    }
    assert isinstance(answer["log_id"], int)
    info = client.get("/_sim/tasks").json()["tasks"][task_id]
    assert info["api"] == "handwriting_composition" and info["not_a_composition"] is True


def test_composition_errors(client: httpx.Client, token: str) -> None:
    image = b64(make_page("bad"))
    bad = create(client, ESSAY, token, {"image": image, "recognize_granularity": "char"})
    assert bad["error_code"] == 216100
    assert (
        create(client, ESSAY, token, {"image": b64(blank_page((4097, 30)))})["error_code"] == 216202
    )
    assert create(client, ESSAY, token, {})["error_code"] == 216101
    pdf = make_pdf(2)
    task_id = submit(
        client,
        ESSAY,
        token,
        {"pdf_file": b64(pdf), "pdf_file_num": "2", "recognize_granularity": "line"},
    )
    check_essay_answer(final(client, task_id), task_id, "line")


# ------------------------------------------------------------------------ formula


def check_location(location: dict[str, Any]) -> None:
    assert list(location) == ["width", "top", "left", "height"]
    assert all(isinstance(v, int) and v >= 0 for v in location.values())


def test_formula_shapes(client: httpx.Client, token: str) -> None:
    image = b64(make_page("formula"))
    plain = post(client, FORMULA, token, data={"image": image})
    assert set(plain) == {"log_id", "words_result_num", "words_result"}
    assert isinstance(plain["log_id"], int) and "error_code" not in plain
    assert plain["words_result_num"] == len(plain["words_result"]) >= 2
    for entry in plain["words_result"]:
        assert set(entry) == {"location", "words"} and entry["words"]
        check_location(entry["location"])
    options = {"recognize_granularity": "small", "detect_direction": "true", "disp_formula": "true"}
    full = post(client, FORMULA, token, data={"image": image, **options})
    assert set(full) == {
        "log_id",
        "direction",
        "words_result_num",
        "words_result",
        "formula_result_num",
        "formula_result",
    }
    assert full["direction"] in (-1, 0, 1, 2, 3)
    assert full["formula_result_num"] == len(full["formula_result"])
    words = [e["words"] for e in full["words_result"]]
    assert words == [e["words"] for e in plain["words_result"]]
    for formula in full["formula_result"]:
        assert set(formula) == {"location", "words", "chars"}
        assert "\\" in formula["words"] or "^" in formula["words"]
        assert any(formula["words"] in w for w in words)
    for entry in full["words_result"]:
        assert "".join(c["char"] for c in entry["chars"]) == entry["words"].replace(" ", "")
        for char in entry["chars"]:
            check_location(char["location"])
    # A URL-encoded body written by hand (as the seed's curl and Java samples do) works too.
    raw = "image=" + urllib.parse.quote(image, safe="")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (
        post(client, FORMULA, token, content=raw, headers=headers)["words_result"]
        == plain["words_result"]
    )


def test_formula_mixed_text_and_latex(client: httpx.Client, token: str) -> None:
    kinds = set()
    for n in range(12):
        answer = post(
            client,
            FORMULA,
            token,
            data={"image": b64(make_page(f"f{n}", (300, 300))), "disp_formula": "true"},
        )
        for entry in answer["words_result"]:
            latex = "\\" in entry["words"] or "^" in entry["words"] or "=" in entry["words"]
            chinese = bool(re.search(r"[\u4e00-\u9fff]", entry["words"]))
            kinds.add((latex, chinese))
    assert {(True, False), (False, True), (True, True)} <= kinds


def test_formula_errors(client: httpx.Client, token: str) -> None:
    image = b64(make_page("formula errors"))
    as_json = post(client, FORMULA, token, json={"image": image})
    assert as_json["error_code"] == 216101 and as_json["error_msg"] == "param image not exist"
    assert post(client, FORMULA, token, data={})["error_code"] == 216101
    assert (
        post(client, FORMULA, token, data={"image": "A" * (4 * 1024 * 1024 + 4)})["error_code"]
        == 216202
    )
    assert (
        post(client, FORMULA, token, data={"image": b64(blank_page((4097, 20)))})["error_code"]
        == 216202
    )
    assert (
        post(client, FORMULA, token, data={"image": b64(blank_page((14, 20)))})["error_code"]
        == 216202
    )
    assert post(client, FORMULA, token, data={"image": b64(b"GIF89a nope")})["error_code"] == 216201
    bad = post(client, FORMULA, token, data={"image": image, "recognize_granularity": "huge"})
    assert bad["error_code"] == 216100


# --------------------------------------------------------------------- custom OCR


def ocr_lines(answer: dict[str, Any]) -> list[dict[str, Any]]:
    key = "words_results" if "words_results" in answer else "words_result"
    assert set(answer) == {"log_id", "words_result_num", key}
    lines: list[dict[str, Any]] = answer[key]
    assert answer["words_result_num"] == len(lines)
    return lines


def test_custom_ocr(client: httpx.Client, token: str) -> None:
    keys = set()
    for n in range(40):
        answer = post(client, CUSTOM, token, json={"image": b64(make_page(f"ocr {n}", (120, 160)))})
        assert isinstance(answer["log_id"], int) and "error_code" not in answer
        lines = ocr_lines(answer)
        assert lines
        for line in lines:
            assert set(line) == {"words", "score"} and line["words"]
            assert 0.9 <= line["score"] < 1.0
        keys.add("words_results" in answer)
    assert keys == {True, False}
    english = post(
        client,
        "/rpc/2.0/ai_custom/v1/ocr/other",
        token,
        json={"image": b64(make_page("en")), "language_type": "ENG"},
    )
    assert all(line["words"].isascii() for line in ocr_lines(english))


def test_custom_ocr_errors(client: httpx.Client, token: str) -> None:
    image = b64(make_page("ocr errors"))

    def code(**kwargs: Any) -> tuple[int, str]:
        answer = post(client, CUSTOM, token, **kwargs)
        assert isinstance(answer["log_id"], int)
        return answer["error_code"], answer["error_msg"]

    assert code(data={"image": image}) == (336001, "Invalid Argument")
    headers = {"Content-Type": "application/json"}
    assert code(content=b'{"image": ', headers=headers) == (336002, "JSON不合法")
    assert code(json={}) == (336006, "缺失必要参数")
    assert code(json={"image": "%%%not base64"}) == (336003, "Base64解码失败")
    assert code(json={"image": "A" * (4 * 1024 * 1024 + 4)}) == (336004, "输入文件大小不合法")
    assert code(json={"image": b64(blank_page((4097, 20)))}) == (336004, "输入文件大小不合法")
    assert code(json={"image": b64(b"definitely not an image")}) == (336005, "图片解码失败")
    assert code(json={"image": image, "language_type": "KLINGON"}) == (336001, "Invalid Argument")


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
