"""The simulator's handwriting_composition API over real HTTP: granularities, quirks, the
pending forms, a page that is not a composition, errors and PDF pages.

Shapes are checked field by field against the provider's document (seed 002), including every
documented variant a client must accept, and every index is checked against the text.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from support.simulator_apis import (
    ESSAY,
    XYWH,
    b64,
    blank_page,
    check_times,
    create,
    final,
    get_result,
    make_page,
    make_pdf,
    sim_config,
    submit,
    wait_done,
)


def check_essay(inner: dict[str, Any], granularity: str) -> None:
    """Shape per granularity (seed 002) and self-consistency of every index."""
    key = "recognizeGranularity" if "recognizeGranularity" in inner else "recognize_granularity"
    assert set(inner) == {key, "essayOverall", "title", "content"}
    assert inner[key] == granularity
    overall, title, content = inner["essayOverall"], inner["title"], inner["content"]
    assert set(overall) == {"titleText", "contentText"} and overall["titleText"] == title["text"]
    paragraphs = content["paragraphs"]
    check_paragraph_ids(paragraphs)
    if granularity == "none":
        check_unlocated_essay(title, content)
        return
    check_title(title, granularity)
    lines = {line["lineId"]: line for line in content["lines"]}
    assert list(lines) == [f"l{i}" for i in range(1, len(lines) + 1)]
    assert overall["contentText"] == "\n".join(line["text"] for line in content["lines"])
    assert 20 <= max(len(line["text"]) for line in lines.values()) <= 28
    for p in paragraphs:
        check_located_paragraph(p, lines)
    for line in lines.values():
        check_line(line, granularity)
    if granularity == "word":
        check_chars(title["chars"], title["text"])


def check_paragraph_ids(paragraphs: list[dict[str, Any]]) -> None:
    """Paragraphs p1..pN (2 to 5 of them), sentences s1-pK..., each paragraph its sentences."""
    assert [p["paragraphId"] for p in paragraphs] == [
        f"p{i}" for i in range(1, len(paragraphs) + 1)
    ]
    assert 2 <= len(paragraphs) <= 5
    for p in paragraphs:
        ids = [s["sentenceId"] for s in p["sentences"]]
        assert ids == [f"s{i}-{p['paragraphId']}" for i in range(1, len(ids) + 1)]
        assert p["text"] == "".join(s["text"] for s in p["sentences"])


def check_unlocated_essay(title: dict[str, Any], content: dict[str, Any]) -> None:
    """Granularity none: text only, no boxes, no lines."""
    assert set(title) == {"text"} and set(content) == {"paragraphs"}
    for p in content["paragraphs"]:
        assert set(p) == {"paragraphId", "text", "sentences"}
        assert all(set(s) == {"sentenceId", "text"} for s in p["sentences"])


def check_title(title: dict[str, Any], granularity: str) -> None:
    """A located title: its box, in either documented spelling, and its chars at word level."""
    assert set(title) == ({"text", "bbox", "chars"} if granularity == "word" else {"text", "bbox"})
    title_box = title["bbox"][0] if isinstance(title["bbox"], list) else title["bbox"]
    assert set(title_box) == XYWH


def check_located_paragraph(p: dict[str, Any], lines: dict[str, dict[str, Any]]) -> None:
    """A paragraph's boxes, and each sentence's line segments spelling out its text."""
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
        assert all(lines[g["lineId"]]["paragraphId"] == p["paragraphId"] for g in s["lineSegments"])


def check_line(line: dict[str, Any], granularity: str) -> None:
    expected = {"lineId", "text", "bbox", "paragraphId"} | (
        {"chars"} if granularity == "word" else set()
    )
    assert set(line) == expected and set(line["bbox"]) == XYWH
    if granularity == "word":
        check_chars(line["chars"], line["text"])


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
