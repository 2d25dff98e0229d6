"""The simulator's sync APIs over real HTTP: formula (form bodies) and custom OCR models (JSON).

Shapes are checked field by field against the provider's documents (seeds 003 and 004),
including every documented variant a client must accept.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import httpx
from support.simulator_apis import (
    CUSTOM,
    FORMULA,
    b64,
    blank_page,
    make_page,
    post,
)

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
