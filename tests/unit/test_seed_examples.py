"""The provider's documented answer examples load, and the lenient reader they need works."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.seed_examples import (
    FIXTURES_DIR,
    FixKind,
    LenientJSONError,
    example_names,
    lenient_loads,
    load_example,
    repair,
    repair_example,
    tokenize,
)

# Counted by hand in the seeds: every 返回示例 / 失败返回示例 / error example, one file each.
EXPECTED_COUNTS = {"000": 4, "001": 6, "002": 7, "003": 1, "004": 2}

# What each example needs repaired before a JSON parser takes it (empty: strict JSON as printed,
# after removing the line numbers of seeds 001 and 004).
EXPECTED_FIXES: dict[str, set[FixKind]] = {
    "002_composition_get_result_ok": {"comment_dropped", "comma_inserted", "closer_appended"},
    "002_composition_get_result_line": {
        "fragment_wrapped",
        "comment_dropped",
        "placeholder_emptied",
    },
    "002_composition_get_result_word": {
        "fragment_wrapped",
        "comment_dropped",
        "placeholder_emptied",
        "trailing_comma_dropped",
    },
    "002_composition_get_result_none": {
        "fragment_wrapped",
        "comment_dropped",
        "placeholder_emptied",
    },
    "004_custom_ocr_ok": {"comma_inserted"},
}

SEEDS_DIR = Path(os.environ.get("SCANGRADE_SEEDS_DIR", "/work/shared/seeds"))
NUMBERED_SEEDS = ("001", "004")  # seeds that print a line number glued to each example line
README_ROW = re.compile(
    r"^\| `(?P<file>[^`]+)` \| `(?P<seed>[^`]+)` \| (?P<first>\d+)-(?P<last>\d+) \|"
)


def _readme_rows() -> dict[str, tuple[str, int, int]]:
    rows: dict[str, tuple[str, int, int]] = {}
    for line in (FIXTURES_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        match = README_ROW.match(line)
        if match:
            assert match["file"] not in rows, f"{match['file']} listed twice"
            rows[match["file"]] = (match["seed"], int(match["first"]), int(match["last"]))
    return rows


# --- the fixtures ---------------------------------------------------------------------------


def test_every_example_of_every_seed_is_there() -> None:
    names = example_names()
    assert all(re.fullmatch(r"00[0-4]_[a-z0-9_]+", name) for name in names), names
    assert Counter(name[:3] for name in names) == EXPECTED_COUNTS
    for seed, count in EXPECTED_COUNTS.items():
        assert len(example_names(f"{seed}_")) == count


def test_readme_lists_every_fixture_once() -> None:
    assert sorted(_readme_rows()) == [f"{name}.jsonc" for name in example_names()]


@pytest.mark.skipif(not SEEDS_DIR.is_dir(), reason=f"seed documents not found in {SEEDS_DIR}")
def test_fixtures_are_verbatim_seed_lines() -> None:
    for file, (seed_file, first, last) in _readme_rows().items():
        lines = (SEEDS_DIR / seed_file).read_text(encoding="utf-8").splitlines(keepends=True)
        expected = lines[first - 1 : last]
        if seed_file[:3] in NUMBERED_SEEDS:
            for number, line in enumerate(expected, 1):
                assert re.match(rf"{number}(?!\d)", line), (file, number, line)
            expected = [line[len(str(n)) :] for n, line in enumerate(expected, 1)]
        assert (FIXTURES_DIR / file).read_text(encoding="utf-8") == "".join(expected), file


@pytest.mark.parametrize("name", example_names())
def test_example_loads_to_a_dict(name: str) -> None:
    example = load_example(name)
    assert isinstance(example, dict)
    assert example


@pytest.mark.parametrize("name", example_names())
def test_example_needs_exactly_its_documented_repairs(name: str) -> None:
    repaired = repair_example(name)
    assert repaired.kinds == EXPECTED_FIXES.get(name, set())
    if not repaired.kinds:  # strict JSON as printed: the lenient reader agrees with json
        text = (FIXTURES_DIR / f"{name}.jsonc").read_text(encoding="utf-8")
        assert load_example(name) == json.loads(text)


@pytest.mark.parametrize(
    "what", ["create_task_ok", "create_task_error", "get_result_ok", "get_result_error"]
)
def test_seed_000_matches_the_hand_made_fixtures(what: str) -> None:
    hand_made = FIXTURES_DIR.parent / f"correct_edu_{what}.json"
    assert load_example(f"000_correct_edu_{what}") == json.loads(hand_made.read_text("utf-8"))


def test_values_keep_their_documented_types() -> None:
    assert load_example("000_correct_edu_create_task_ok")["error_code"] == "0"
    assert load_example("000_correct_edu_create_task_ok")["log_id"] == 1996199501805445169
    created = load_example("002_composition_create_task_ok")
    assert created["error_code"] == 0
    assert created["log_id"] == "10138598131137362685273505665433"
    assert created["result"]["task_id"] == "task-3zy9Bg8CHt1M4pPOcX2q5bg28j26801S"


def test_paper_cut_answer_sheet() -> None:
    outer = load_example("001_paper_cut_get_result_answer_sheet")["result"]
    assert outer["status"] == "Success"
    inner = outer["result"]
    assert inner["log_id"] == 9876543210123124
    assert inner["qus_result_num"] == len(inner["qus_result"]) == 1
    question = inner["qus_result"][0]
    assert question["que_id"] == 1
    assert "qus_id" not in question
    answers = question["qus_elements"]["answer_words"]
    assert all(set(answer) == {"number", "answer"} for answer in answers)
    assert [answer["number"] for answer in answers] == ["1.", "2.", "3.", "4.", "5."]
    assert answers[4]["answer"] == "I can't play the park."


def test_paper_cut_paper_and_split_only() -> None:
    paper = load_example("001_paper_cut_get_result_paper")["result"]["result"]
    elements = paper["qus_result"][0]["qus_elements"]
    assert elements["answer_words"] == ["150克"]
    assert elements["qus_type"] == "问答题"
    assert elements["question_words"].startswith("2.一袋奶粉重500克")
    split = load_example("001_paper_cut_get_result_split_only")["result"]["result"]
    assert split["qus_result_num"] == len(split["qus_result"]) == 4
    assert [q["qus_id"] for q in split["qus_result"]] == [1, 2, 3, 4]
    assert all("qus_elements" not in q for q in split["qus_result"])
    assert split["qus_result"][0]["location"]["ans_location"] == [
        {"x": 100, "y": 50, "w": 95, "h": 20}
    ]


def test_composition_general_example() -> None:
    result = load_example("002_composition_get_result_ok")["result"]
    assert result["status"] == "Success"
    inner = result["result"]
    assert list(inner) == ["recognize_granularity", "essayOverall", "title", "content"]
    assert inner["essayOverall"]["contentText"].count("\n") == 2
    assert inner["title"] == {"text": "我的童年", "bbox": {"x": 100, "y": 50, "w": 95, "h": 20}}
    assert inner["content"] == {"paragraphs": [], "lines": []}


@pytest.mark.parametrize("granularity", ["line", "word", "none"])
def test_composition_fragments_load_as_result_objects(granularity: str) -> None:
    example = load_example(f"002_composition_get_result_{granularity}")
    assert list(example) == ["result"]
    assert isinstance(example["result"], dict)
    assert example["result"]["essayOverall"] == {}  # { /* 同上 */ }


def test_composition_line_granularity() -> None:
    result = load_example("002_composition_get_result_line")["result"]
    assert result["recognize_granularity"] == "line"
    assert result["title"]["bbox"] == [{"x": 100, "y": 50, "w": 95, "h": 20}]
    paragraphs = result["content"]["paragraphs"]
    assert [p["paragraphId"] for p in paragraphs] == ["p1", "p2"]
    assert paragraphs[0]["isColumn"] == 0
    assert "isColumn" not in paragraphs[1]
    assert paragraphs[0]["sentences"][1]["lineSegments"][1] == {
        "lineId": "l2",
        "startIndex": 0,
        "endIndex": 12,
    }
    lines = result["content"]["lines"]
    assert [(line["lineId"], line["paragraphId"]) for line in lines] == [
        ("l1", "p1"),
        ("l2", "p1"),
        ("l3", "p2"),
    ]


def test_composition_word_granularity() -> None:
    result = load_example("002_composition_get_result_word")["result"]
    assert result["recognize_granularity"] == "word"
    chars = result["title"]["chars"]
    assert len(chars) == 4
    assert "".join(char["char"] for char in chars) == "我的童年"
    assert [char["index"] for char in chars] == [0, 1, 2, 3]
    assert all(char["isPunctuation"] is False for char in chars)
    assert result["content"]["paragraphs"] == []  # [ /* 同line粒度的段落/句子结构 */ ]
    (line,) = result["content"]["lines"]  # "// 其余行同此结构" leaves one line
    assert [char["char"] for char in line["chars"]] == ["每", "个", ","]
    assert [char["isPunctuation"] for char in line["chars"]] == [False, False, True]


def test_composition_no_coordinates_keeps_the_camel_case_key() -> None:
    result = load_example("002_composition_get_result_none")["result"]
    assert result["recognizeGranularity"] == "none"
    assert "recognize_granularity" not in result
    assert result["title"] == {"text": "我的童年"}
    assert "lines" not in result["content"]
    sentences = [s["sentenceId"] for p in result["content"]["paragraphs"] for s in p["sentences"]]
    assert sentences == ["s1-p1", "s2-p1", "s1-p2"]


def test_formula_example() -> None:
    example = load_example("003_formula_ok")
    assert example["words_result_num"] == len(example["words_result"]) == 5
    assert example["formula_result_num"] == len(example["formula_result"]) == 3
    assert example["direction"] == 0
    latex = example["formula_result"][0]["words"]
    assert latex.startswith("\\left\\{ \\begin{aligned} & x = - 1 1 \\\\")
    assert latex.endswith("\\right. ")  # trailing space kept
    assert example["words_result"][0] == {
        "location": {"width": 168, "top": 313, "left": 292, "height": 110},
        "words": "已知",
    }


def test_custom_ocr_examples() -> None:
    example = load_example("004_custom_ocr_ok")
    assert example["words_result_num"] == 2
    assert [w["words"] for w in example["words_result"]] == [" OCR", "百度通用文字识别高精度版"]
    assert example["log_id"] == 1390582998516105216
    error = load_example("004_custom_ocr_error_access_token_invalid")
    assert error == {"error_code": 110, "error_msg": "Access token invalid or no longer valid"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("000_correct_edu_create_task_error", 216201),
        ("000_correct_edu_get_result_error", 216630),
        ("001_paper_cut_create_task_error", 216201),
        ("001_paper_cut_get_result_error", 216630),
        ("002_composition_create_task_error", 15),
        ("002_composition_get_result_error", 216100),
        ("004_custom_ocr_error_access_token_invalid", 110),
    ],
)
def test_error_examples(name: str, code: int) -> None:
    example = load_example(name)
    assert example["error_code"] == code
    assert isinstance(example["error_msg"], str)
    assert example["error_msg"]


def test_load_example_accepts_the_suffix_and_rejects_unknown_names() -> None:
    assert load_example("003_formula_ok.jsonc") == load_example("003_formula_ok")
    with pytest.raises(FileNotFoundError):
        load_example("009_nothing")
    assert example_names("9") == []


# --- the lenient reader ---------------------------------------------------------------------


def _loads(text: str) -> Any:
    return lenient_loads(text)


def test_comment_markers_inside_strings_are_kept() -> None:
    text = '{"url": "http://x/a//b", "c": "/* not a comment */", "d": "// nor this"}'
    assert _loads(text) == {"url": "http://x/a//b", "c": "/* not a comment */", "d": "// nor this"}
    assert repair(text).fixes == ()


def test_escaped_quotes_and_escapes_stay_exact() -> None:
    text = r'{"a": "say \"hi\" // still a string", "b": "\\", "c": "\u00e9\n\/"}'
    assert _loads(text) == {"a": 'say "hi" // still a string', "b": "\\", "c": "é\n/"}
    assert r'"say \"hi\" // still a string"' in repair(text).text


def test_numbers_are_reemitted_verbatim() -> None:
    text = '{"f": 1.50, "e": -2E+3, "big": 12345678901234567890, "t": true, "n": null}'
    repaired = repair(text)
    assert repaired.text == '{"f":1.50,"e":-2E+3,"big":12345678901234567890,"t":true,"n":null}'
    assert json.loads(repaired.text)["big"] == 12345678901234567890


def test_comments_are_skipped() -> None:
    text = '// head\n{ /* a */ "a": 1, // tail\n "b": [2 /* x */] } // end'
    repaired = repair(text)
    assert json.loads(repaired.text) == {"a": 1, "b": [2]}
    assert [fix.kind for fix in repaired.fixes] == ["comment_dropped"] * 5
    assert (repaired.fixes[2].line, repaired.fixes[2].column) == (2, 19)  # "// tail"


def test_missing_comma_is_inserted() -> None:
    repaired = repair('{\n "a": 2\n "b": [1 2 {} []]\n}')
    assert json.loads(repaired.text) == {"a": 2, "b": [1, 2, {}, []]}
    assert [(f.kind, f.line, f.column) for f in repaired.fixes] == [
        ("comma_inserted", 3, 2),
        ("comma_inserted", 3, 10),
        ("comma_inserted", 3, 12),
        ("comma_inserted", 3, 15),
    ]
    assert _loads('{"essay": {"t": 1}"title": {}}') == {"essay": {"t": 1}, "title": {}}


def test_trailing_commas_are_dropped() -> None:
    repaired = repair('{"a": [1, 2,], "b": {"c": 3,}, // more\n}')
    assert json.loads(repaired.text) == {"a": [1, 2], "b": {"c": 3}}
    assert repaired.kinds == {"trailing_comma_dropped", "comment_dropped"}


def test_placeholder_comment_object_becomes_empty() -> None:
    repaired = repair('{"essayOverall": { /* 同上 */ }, "p": [ /* 同line粒度 */ ], "q": {}}')
    assert json.loads(repaired.text) == {"essayOverall": {}, "p": [], "q": {}}
    assert [fix.kind for fix in repaired.fixes].count("placeholder_emptied") == 2


def test_fragment_is_wrapped_into_an_object() -> None:
    repaired = repair('\n"result": {\n  "x": 1 // c\n}\n')
    assert json.loads(repaired.text) == {"result": {"x": 1}}
    assert repaired.kinds == {"fragment_wrapped", "comment_dropped"}
    assert _loads('"a": 1, "b": 2') == {"a": 1, "b": 2}
    assert _loads('"just a string"') == "just a string"


def test_missing_closers_are_appended() -> None:
    repaired = repair('{"a": {"b": [1')
    assert json.loads(repaired.text) == {"a": {"b": [1]}}
    assert [fix.kind for fix in repaired.fixes] == ["closer_appended"] * 3


def test_strict_json_passes_through_unchanged() -> None:
    text = '{"a": [1, {"b": "c"}], "d": false}'
    repaired = repair(text)
    assert repaired.fixes == ()
    assert json.loads(repaired.text) == json.loads(text)


def test_tokenizer_kinds() -> None:
    kinds = [(t.kind, t.text) for t in tokenize('{"a": -1.5e3, /*c*/ "b": null}')]
    assert kinds == [
        ("punct", "{"),
        ("string", '"a"'),
        ("punct", ":"),
        ("number", "-1.5e3"),
        ("punct", ","),
        ("comment", "/*c*/"),
        ("string", '"b"'),
        ("punct", ":"),
        ("literal", "null"),
        ("punct", "}"),
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": "open}', (1, 7)),  # unterminated string
        ('{"a": 1 /* open }', (1, 9)),  # unterminated comment
        ('{"a": "bad \\x escape"}', (1, 7)),
        ('{"a": tru}', (1, 7)),  # bare word
        ('{"a": 012}', (1, 7)),  # leading zero
        ('{"a": 1]', (1, 8)),  # mismatched closer
        ("}", (1, 1)),
        ("  // only a comment\n", (2, 1)),
        ("", (1, 1)),
    ],
)
def test_unreadable_text_is_reported_with_its_position(text: str, where: tuple[int, int]) -> None:
    with pytest.raises(LenientJSONError) as raised:
        repair(text)
    assert (raised.value.line, raised.value.column) == where


def test_what_json_itself_rejects_still_fails() -> None:
    with pytest.raises(json.JSONDecodeError):
        _loads('{"a" 1}')  # a missing colon is not guessed
    with pytest.raises(json.JSONDecodeError):
        _loads("{} {}")  # two top-level values are not joined
