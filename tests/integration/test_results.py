"""Every JSON example of the seeds, verbatim, through the real parsers and persisters.

Answers are persisted with ``persist_task`` (Postgres, moto S3) and the rows checked field
by field; each test also checks that no leaf value of the answer was dropped: every one is
in a column or in a JSONB column of the rows written. Error examples go through the
client's classification, create_task examples through its reading of task and log ids.
The composition examples for line, word and no coordinates are printed in the seed as the
inner ``"result": {…}`` fragment; they are placed in a finished task's envelope here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from support.batches import record_finished_task
from support.seed_examples import load_example

from pipeline.adapters.db.models import (
    Essay,
    EssayLine,
    EssayParagraph,
    EssaySentence,
    OcrWord,
    PaperAnswer,
    PaperQuestion,
    ProviderTask,
)
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.objectstore import get_store
from pipeline.adapters.provider.client import strip_query
from pipeline.settings import Settings
from pipeline.stages.persist import persist_task

RESULT_TABLES = (
    "provider_tasks",
    "questions",
    "slots",
    "paper_questions",
    "paper_answers",
    "essays",
    "essay_paragraphs",
    "essay_sentences",
    "essay_lines",
    "ocr_words",
    "artifacts",
)


# Values that say only "no error", and the task's own id (provider_tasks.task_id, set by
# submit; the examples share one id, which these tests cannot all insert).
ENVELOPE_LEAVES = {".error_code", ".error_msg", ".task_id", ".result.task_id"}


def persist(api: str, answer: dict[str, Any], name: str) -> int:
    """Record a page whose task finished with ``answer``, persist it; the page id."""
    raw = json.dumps(answer, ensure_ascii=False).encode()
    finished = record_finished_task(
        raw, api=api, rel_path=f"{name}.pdf", task_id=name, batch_name=name
    )
    assert persist_task(finished.task_row_id, get_store())
    return finished.page_id


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def _norm(value: Any) -> str:
    if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false")):
        return str(value).lower()
    if isinstance(value, datetime):
        return str(round(value.timestamp() * 1000))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.startswith("http"):
        return strip_query(value)
    return str(value)


def _stored_values(page_id: int) -> set[str]:
    values: set[str] = set()
    with session_scope() as session:
        for table in RESULT_TABLES:
            where = (
                "essay_id IN (SELECT id FROM essays WHERE page_id = :p)"
                if table.startswith("essay_")
                else "page_id = :p"
            )
            rows = session.execute(
                text(f"SELECT to_jsonb(t) FROM {table} t WHERE {where}"), {"p": page_id}
            ).scalars()
            for row in rows:
                values |= {_norm(v) for _, v in _leaves(row)}
        tasks = session.scalars(select(ProviderTask).where(ProviderTask.page_id == page_id))
        for task in tasks:
            for column in ("provider_created_at", "provider_started_at", "provider_finished_at"):
                if getattr(task, column) is not None:
                    values.add(_norm(getattr(task, column)))
    return values


def assert_nothing_dropped(answer: dict[str, Any], page_id: int) -> None:
    stored = _stored_values(page_id)
    missing = [
        (path, value)
        for path, value in _leaves(answer)
        if path not in ENVELOPE_LEAVES and value not in (None, "") and _norm(value) not in stored
    ]
    assert missing == []


def _task(page_id: int) -> ProviderTask:
    with session_scope() as session:
        task = session.scalars(select(ProviderTask).where(ProviderTask.page_id == page_id)).one()
        session.expunge(task)
        return task


def _rows(model: Any, page_id: int, order: Any) -> list[Any]:
    with session_scope() as session:
        rows = list(session.scalars(select(model).where(model.page_id == page_id).order_by(*order)))
        session.expunge_all()
        return rows


BOX = {"x": 100, "y": 50, "w": 95, "h": 20}


def test_paper_scene_example(env: Settings) -> None:
    answer = load_example("001_paper_cut_get_result_paper")
    page_id = persist("paper_cut", answer, "paper-scene")
    (question,) = _rows(PaperQuestion, page_id, [PaperQuestion.sequence])
    assert question.number == "1"
    assert question.question_text == "2.一袋奶粉重500克。每天用50克,用了7天,还剩多少克?"
    assert question.question_type == "问答题"
    assert question.choices == []
    assert question.question_boxes == [BOX, BOX]
    assert question.picture_boxes == [BOX]
    assert question.answer_boxes == []
    (reply,) = _rows(PaperAnswer, page_id, [PaperAnswer.sequence])
    assert (reply.question_id, reply.number, reply.answer) == (question.id, None, "150克")
    task = _task(page_id)
    assert task.status == "Success"
    assert task.provider_created_at is not None
    assert round(task.provider_created_at.timestamp() * 1000) == 1757417161000
    assert round(task.provider_finished_at.timestamp() * 1000) == 1757497412914  # type: ignore[union-attr]
    assert task.duration_ms == 80250914
    assert task.result_meta == {"qus_result_num": 1}
    assert_nothing_dropped(answer, page_id)


def test_answer_sheet_example(env: Settings) -> None:
    answer = load_example("001_paper_cut_get_result_answer_sheet")
    page_id = persist("paper_cut", answer, "answer-sheet")
    (question,) = _rows(PaperQuestion, page_id, [PaperQuestion.sequence])
    assert question.number == "1"  # spelt que_id in this example
    assert (question.question_text, question.question_type) == ("", "")
    replies = _rows(PaperAnswer, page_id, [PaperAnswer.sequence])
    assert [(r.number, r.answer) for r in replies] == [
        ("1.", "This is my classmate"),
        ("2.", "He has a green T-shirt."),
        ("3.", "They have glasses magic"),
        ("4.", "There are many books in the classroom."),
        ("5.", "I can't play the park."),
    ]
    assert _task(page_id).result_meta == {"log_id": 9876543210123124, "qus_result_num": 1}
    assert_nothing_dropped(answer, page_id)


def test_split_only_example(env: Settings) -> None:
    answer = load_example("001_paper_cut_get_result_split_only")
    page_id = persist("paper_cut", answer, "split-only")
    questions = _rows(PaperQuestion, page_id, [PaperQuestion.sequence])
    assert [q.number for q in questions] == ["1", "2", "3", "4"]
    for question in questions:
        assert question.question_boxes == [BOX, BOX]
        assert question.picture_boxes == [BOX]
        assert question.answer_boxes == [BOX]
        assert question.question_type is None
    assert _rows(PaperAnswer, page_id, [PaperAnswer.id]) == []
    assert_nothing_dropped(answer, page_id)


def test_paper_cut_variants_of_the_field_table(env: Settings) -> None:
    """qus_words/ans_words, qus_results and [x, y, w, h] lists, as the field table has them."""
    answer = {
        "error_code": 0,
        "result": {
            "task_id": "t",
            "status": "success",
            "result": {
                "qus_results": [
                    {
                        "qus_id": 7,
                        "location": {"qus_location": [[1, 2, 3, 4]], "pic_location": []},
                        "qus_elements": {
                            "qus_words": "1+1=?",
                            "choices": ["A. 1", "B. 2"],
                            "qus_type": "选择题",
                            "ans_words": ["B"],
                        },
                    }
                ]
            },
        },
    }
    page_id = persist("paper_cut", answer, "field-table")
    (question,) = _rows(PaperQuestion, page_id, [PaperQuestion.sequence])
    assert (question.number, question.question_text) == ("7", "1+1=?")
    assert question.choices == ["A. 1", "B. 2"]
    assert question.question_boxes == [{"x": 1, "y": 2, "w": 3, "h": 4}]
    (reply,) = _rows(PaperAnswer, page_id, [PaperAnswer.sequence])
    assert reply.answer == "B"


def _finished(fragment: dict[str, Any]) -> dict[str, Any]:
    """A seed fragment ``{"result": inner}`` inside the envelope of a finished task."""
    return {
        "error_code": "0",
        "error_msg": "",
        "result": {"task_id": "1965376138007096888", "status": "Success", **fragment},
    }


def test_composition_general_example(env: Settings) -> None:
    answer = load_example("002_composition_get_result_ok")
    page_id = persist("composition", answer, "essay-general")
    (essay,) = _rows(Essay, page_id, [Essay.id])
    assert essay.granularity == "none"
    assert essay.title == "我的童年"
    assert essay.title_boxes == [BOX]
    assert essay.content_text == (
        "每个人都有难忘的童年。我的童年充满了欢声笑语,\n夏天会和小伙伴去河边捉鱼。"
        "冬天则围在火炉旁\n听奶奶讲故事。"
    )
    assert _task(page_id).status == "Success"
    assert_nothing_dropped(answer, page_id)


def test_composition_line_example(env: Settings) -> None:
    answer = _finished(load_example("002_composition_get_result_line"))
    page_id = persist("composition", answer, "essay-line")
    (essay,) = _rows(Essay, page_id, [Essay.id])
    assert (essay.granularity, essay.title) == ("line", "我的童年")
    assert essay.title_boxes == [BOX]
    with session_scope() as session:
        paragraphs = list(
            session.scalars(
                select(EssayParagraph)
                .where(EssayParagraph.essay_id == essay.id)
                .order_by(EssayParagraph.sequence)
            )
        )
        sentences = list(
            session.scalars(
                select(EssaySentence)
                .where(EssaySentence.essay_id == essay.id)
                .order_by(EssaySentence.paragraph_id, EssaySentence.sequence)
            )
        )
        lines = list(
            session.scalars(
                select(EssayLine).where(EssayLine.essay_id == essay.id).order_by(EssayLine.sequence)
            )
        )
        session.expunge_all()
    assert [(p.paragraph_uid, p.is_column) for p in paragraphs] == [("p1", False), ("p2", None)]
    assert paragraphs[0].boxes == [{"x": 80, "y": 100, "w": 350, "h": 40}]
    assert [s.sentence_uid for s in sentences] == ["s1-p1", "s2-p1", "s1-p2"]
    assert sentences[1].text == "我的童年充满了欢声笑语,夏天会和小伙伴去河边捉鱼。"
    assert sentences[1].line_segments == [
        {"line_uid": "l1", "start": 11, "end": 25},
        {"line_uid": "l2", "start": 0, "end": 12},
    ]
    assert sentences[2].paragraph_id == paragraphs[1].id
    assert [(line.line_uid, line.paragraph_id) for line in lines] == [
        ("l1", paragraphs[0].id),
        ("l2", paragraphs[0].id),
        ("l3", paragraphs[1].id),
    ]
    assert lines[2].text == "听奶奶讲故事。"
    assert lines[2].boxes == [{"x": 80, "y": 160, "w": 120, "h": 20}]
    assert lines[0].chars == []
    assert_nothing_dropped(answer, page_id)


def test_composition_word_example(env: Settings) -> None:
    answer = _finished(load_example("002_composition_get_result_word"))
    page_id = persist("composition", answer, "essay-word")
    (essay,) = _rows(Essay, page_id, [Essay.id])
    assert essay.granularity == "word"
    assert [c["char"] for c in essay.title_chars] == ["我", "的", "童", "年"]
    assert essay.title_chars[1] == {
        "char": "的",
        "index": 1,
        "bbox": {"x": 125, "y": 50, "w": 20, "h": 20},
        "is_punctuation": False,
    }
    with session_scope() as session:
        (line,) = session.scalars(select(EssayLine).where(EssayLine.essay_id == essay.id))
        chars = line.chars
    assert [(c["char"], c["index"], c["is_punctuation"]) for c in chars] == [
        ("每", 0, False),
        ("个", 1, False),
        (",", 24, True),
    ]
    assert_nothing_dropped(answer, page_id)


def test_composition_without_coordinates(env: Settings) -> None:
    answer = _finished(load_example("002_composition_get_result_none"))
    page_id = persist("composition", answer, "essay-none")
    (essay,) = _rows(Essay, page_id, [Essay.id])
    assert essay.granularity == "none"  # spelt recognizeGranularity here
    with session_scope() as session:
        texts = list(
            session.scalars(
                select(EssaySentence.text)
                .where(EssaySentence.essay_id == essay.id)
                .order_by(EssaySentence.paragraph_id, EssaySentence.sequence)
            )
        )
        lines = session.scalar(
            select(text("count(*)")).select_from(EssayLine).where(EssayLine.essay_id == essay.id)
        )
    assert texts == [
        "每个人都有难忘的童年。",
        "我的童年充满了欢声笑语,夏天会和小伙伴去河边捉鱼。",
        "冬天则围在火炉旁听奶奶讲故事。",
    ]
    assert lines == 0
    assert_nothing_dropped(answer, page_id)


def test_composition_punctuation_as_strings(env: Settings) -> None:
    answer = _finished(
        {
            "result": {
                "recognize_granularity": "word",
                "title": {"text": "T", "bbox": [BOX]},
                "content": {
                    "lines": [
                        {
                            "lineId": "l1",
                            "text": "a,",
                            "bbox": [BOX],
                            "chars": [
                                {
                                    "char": "a",
                                    "index": "0",
                                    "bbox": [BOX],
                                    "isPunctuation": "false",
                                },
                                {"char": ",", "index": "1", "bbox": BOX, "isPunctuation": "true"},
                            ],
                        }
                    ]
                },
            }
        }
    )
    page_id = persist("composition", answer, "essay-strings")
    (essay,) = _rows(Essay, page_id, [Essay.id])
    with session_scope() as session:
        (chars,) = session.scalars(select(EssayLine.chars).where(EssayLine.essay_id == essay.id))
    assert [(c["index"], c["is_punctuation"], c["bbox"]) for c in chars] == [
        (0, False, BOX),
        (1, True, BOX),
    ]


def test_formula_example(env: Settings) -> None:
    answer = load_example("003_formula_ok")
    page_id = persist("formula", answer, "formula")
    words = _rows(OcrWord, page_id, [OcrWord.kind, OcrWord.sequence])
    formulas = [w for w in words if w.kind == "formula"]
    lines = [w for w in words if w.kind == "word"]
    assert len(formulas) == 3 and len(lines) == 5
    first = lines[0]
    assert (first.text, first.left, first.top, first.width, first.height) == (
        "已知",
        292,
        313,
        168,
        110,
    )
    assert formulas[2].text == "m - \\left[ 1 0 0 , - \\infty \\right) "
    assert _task(page_id).result_meta == {
        "log_id": 2671713289176456793,
        "direction": 0,
        "formula_result_num": 3,
        "words_result_num": 5,
    }
    assert_nothing_dropped(answer, page_id)


def test_custom_ocr_example(env: Settings) -> None:
    answer = load_example("004_custom_ocr_ok")
    page_id = persist("custom_ocr", answer, "custom")
    words = _rows(OcrWord, page_id, [OcrWord.sequence])
    assert [(w.kind, w.text, w.left, w.score) for w in words] == [
        ("word", " OCR", None, None),
        ("word", "百度通用文字识别高精度版", None, None),
    ]
    assert _task(page_id).result_meta == {"log_id": 1390582998516105216, "words_result_num": 2}
    assert_nothing_dropped(answer, page_id)


def test_custom_ocr_field_table_spelling(env: Settings) -> None:
    answer = {"log_id": 1, "words_result_num": 1, "words_results": [{"words": "x", "score": 0.5}]}
    page_id = persist("custom_ocr", answer, "custom-results")
    (word,) = _rows(OcrWord, page_id, [OcrWord.sequence])
    assert (word.text, word.score) == ("x", 0.5)
