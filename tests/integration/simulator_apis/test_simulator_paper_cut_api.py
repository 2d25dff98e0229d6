"""The simulator's paper_cut_edu_vlm API over real HTTP: scenes, statuses, quirks, PDF pages,
only_split, signed enhance URLs, errors and pages fetched from a URL.

Shapes are checked field by field against the provider's document (seed 001), including every
documented variant a client must accept.
"""

from __future__ import annotations

import calendar
import hashlib
import http.server
import io
import re
import socket
import threading
import time
import urllib.parse
from typing import Any

import httpx
from PIL import Image
from support.simulator_apis import (
    FORMULA,
    PAPER,
    b64,
    blank_page,
    check_paper_answer,
    check_times,
    create,
    final,
    get_result,
    make_page,
    make_pdf,
    paper_questions,
    post,
    sim_config,
    submit,
    wait_done,
)


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
