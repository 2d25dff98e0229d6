"""handwriting_composition: the essay found on a page and the API's JSON answers.

Content is seeded by the page digest. A page that is (nearly) blank is not an essay: when its
grayscale standard deviation is below ``BLANK_STDDEV`` (out of 255) the finished task answers
error 216100 "the input image is not a composition", as the seed's failure example does.

The seed's variants, each on a fraction of pages chosen by digest: ``recognizeGranularity``
instead of ``recognize_granularity`` (1/4); the title's ``bbox`` as one object or as a
one-element list (1/2); ``isPunctuation`` as a bool or as the string "true"/"false" (1/4);
status "Success" or "success". While a task is unfinished, a page answers either the
``{"error_code": 1, "error_msg": "Pending"|"Processing"}`` form or the status form
(``status`` "pending"/"processing"), or switches between them from one poll to the next;
either way the call is recorded as "ok" in ``/_sim/stats``, since it is not a failure.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageStat

from simulator.codes import error_body
from simulator.essay import PUNCTUATION, Layout, Line, Paragraph, write_essay
from simulator.geometry import Rect, union
from simulator.tasks import Task
from simulator.validation import Limits, Picture, UploadError

LIMITS = Limits(min_side=15, max_side=4096, max_base64_chars=10 * 1024 * 1024)
GRANULARITIES = ("none", "line", "word")
BLANK_STDDEV = 3.0
NOT_A_COMPOSITION = "the input image is not a composition"


@dataclass(frozen=True)
class Quirks:
    """Which of the seed's contradictory spellings this page's answers use."""

    camel_granularity: bool
    title_bbox_list: bool
    string_punctuation: bool
    success: str
    pending_style: str  # "error", "status" or "mixed"


@dataclass(frozen=True)
class Essay:
    """The recognised essay of one page (or the verdict that it is none)."""

    digest: str
    granularity: str
    layout: Layout | None
    quirks: Quirks

    def summary(self) -> dict[str, Any]:
        """``/_sim/tasks``: title, counts and body text a full ingestion must contain."""
        if self.layout is None:
            return {"image_sha256": self.digest, "not_a_composition": True}
        layout = self.layout
        return {
            "image_sha256": self.digest,
            "not_a_composition": False,
            "recognize_granularity": self.granularity,
            "title": layout.title,
            "paragraphs": len(layout.paragraphs),
            "sentences": sum(len(p.sentences) for p in layout.paragraphs),
            "lines": len(layout.lines) if self.granularity != "none" else 0,
            "content_text": _content_text(layout),
        }


def parse_granularity(body: dict[str, Any]) -> str:
    """``recognize_granularity``: missing means none; anything unknown is 216100."""
    value = body.get("recognize_granularity")
    if value is None or value == "":
        return "none"
    if value not in GRANULARITIES:
        raise UploadError(216100, "invalid param: recognize_granularity must be none, line or word")
    return str(value)


def read_page(picture: Picture, granularity: str) -> Essay:
    """Recognise a page: CPU work (decodes the image to look for ink), run it in a thread."""
    with Image.open(io.BytesIO(picture.data)) as image:
        stddev = ImageStat.Stat(image.convert("L")).stddev[0]
    layout = None
    if stddev >= BLANK_STDDEV:
        layout = write_essay(picture.digest, picture.width, picture.height)
    rng = random.Random(f"composition.quirks:{picture.digest}")
    quirks = Quirks(
        camel_granularity=rng.random() < 0.25,
        title_bbox_list=rng.random() < 0.5,
        string_punctuation=rng.random() < 0.25,
        success=rng.choice(("Success", "success")),
        pending_style=rng.choice(("error", "status", "mixed")),
    )
    return Essay(picture.digest, granularity, layout, quirks)


def created_body(task_id: str, log_id: str) -> dict[str, Any]:
    """create_task's answer, exactly as in the seed (int 0, 32-digit string ``log_id``)."""
    return {"error_code": 0, "error_msg": "", "log_id": log_id, "result": {"task_id": task_id}}


def result_body(
    task: Task, essay: Essay, now: float, log_id: int, long_log_id: str
) -> tuple[dict[str, Any], str]:
    """get_result's answer as of ``now`` and the outcome to record ("ok" or "216100")."""
    phase = task.phase(now)
    if phase == "done" and essay.layout is None:
        return error_body(216100, log_id, NOT_A_COMPOSITION), "216100"
    if phase != "done" and _error_form(task, essay):
        message = "Pending" if phase == "pending" else "Processing"
        return {"error_code": 1, "error_msg": message, "log_id": log_id}, "ok"
    status = {"done": essay.quirks.success, "running": "processing", "pending": "pending"}[phase]
    result: dict[str, Any] = {"task_id": task.task_id, "status": status, **task.times_json(now)}
    if essay.layout is not None and phase == "done":
        result["result"] = _recognition(essay, essay.layout)
    body = {"error_code": "0", "error_msg": "", "result": result, "log_id": long_log_id}
    return body, "ok"


def _error_form(task: Task, essay: Essay) -> bool:
    """Whether this poll of an unfinished task answers in the ``error_code: 1`` form."""
    style = essay.quirks.pending_style
    if style == "mixed":
        return random.Random(f"{task.task_id}:{task.fetches}").random() < 0.5
    return style == "error"


def _content_text(layout: Layout) -> str:
    return "\n".join(line.text for line in layout.lines)


def _recognition(essay: Essay, layout: Layout) -> dict[str, Any]:
    """The inner ``result``, shaped like the seed's example for the granularity."""
    key = "recognizeGranularity" if essay.quirks.camel_granularity else "recognize_granularity"
    content: dict[str, Any] = {
        "paragraphs": [_paragraph(essay, layout, p) for p in layout.paragraphs]
    }
    if essay.granularity != "none":
        content["lines"] = [_line(essay, line) for line in layout.lines]
    return {
        key: essay.granularity,
        "essayOverall": {"titleText": layout.title, "contentText": _content_text(layout)},
        "title": _title(essay, layout),
        "content": content,
    }


def _title(essay: Essay, layout: Layout) -> dict[str, Any]:
    title: dict[str, Any] = {"text": layout.title}
    if essay.granularity == "none":
        return title
    box = union(layout.title_chars).xywh()
    title["bbox"] = [box] if essay.quirks.title_bbox_list else box
    if essay.granularity == "word":
        title["chars"] = _chars(essay, layout.title, layout.title_chars)
    return title


def _paragraph(essay: Essay, layout: Layout, paragraph: Paragraph) -> dict[str, Any]:
    if essay.granularity == "none":
        sentences = [{"sentenceId": s.sentence_id, "text": s.text} for s in paragraph.sentences]
        return {
            "paragraphId": paragraph.paragraph_id,
            "text": paragraph.text,
            "sentences": sentences,
        }
    return {
        "paragraphId": paragraph.paragraph_id,
        "text": paragraph.text,
        "bbox": [box.xywh() for box in layout.paragraph_boxes(paragraph)],
        "isColumn": 1 if layout.columns > 1 else 0,
        "sentences": [
            {
                "sentenceId": s.sentence_id,
                "text": s.text,
                "bbox": [box.xywh() for box in layout.sentence_boxes(s)],
                "lineSegments": [
                    {
                        "lineId": layout.lines[g.line].line_id,
                        "startIndex": g.start,
                        "endIndex": g.end,
                    }
                    for g in s.segments
                ],
            }
            for s in paragraph.sentences
        ],
    }


def _line(essay: Essay, line: Line) -> dict[str, Any]:
    item: dict[str, Any] = {
        "lineId": line.line_id,
        "text": line.text,
        "bbox": line.box.xywh(),
        "paragraphId": line.paragraph_id,
    }
    if essay.granularity == "word":
        item["chars"] = _chars(essay, line.text, line.chars)
    return item


def _chars(essay: Essay, text: str, boxes: tuple[Rect, ...]) -> list[dict[str, Any]]:
    def punctuation(char: str) -> bool | str:
        flag = char in PUNCTUATION
        return ("true" if flag else "false") if essay.quirks.string_punctuation else flag

    return [
        {"char": char, "index": index, "bbox": box.xywh(), "isPunctuation": punctuation(char)}
        for index, (char, box) in enumerate(zip(text, boxes, strict=True))
    ]
