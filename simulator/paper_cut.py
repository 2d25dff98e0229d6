"""paper_cut_edu_vlm: deterministic question segmentation of a page, and its JSON answers.

Content comes from an RNG seeded with the page digest (sha256 of the image bytes, or of the
PDF bytes plus page number), so the same page always yields the same questions and boxes.

The seed contradicts itself, so each documented variant is produced by about a quarter of
pages (chosen by digest, so a page always shows the same ones) and a client must accept all:
``qus_words``/``ans_words`` (field table) instead of ``question_words``/``answer_words``
(examples); ``qus_results`` instead of ``qus_result``; boxes as ``[x, y, w, h]`` lists
instead of ``{x, y, w, h}`` objects; ``error_code`` 0 (int) instead of "0". The status is
spelled "Success" or "success", "pending"/"Pending", "running"/"Running". The answer-sheet
scene keys questions by ``que_id`` and carries an inner ``log_id``, as in the seed's 示例三.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from simulator.geometry import Rect, rect
from simulator.objects import ENHANCE_PREFIX, UrlSigner, object_path
from simulator.tasks import Task
from simulator.texts import answer_sheet_items, paper_question
from simulator.validation import Limits, Picture, UploadError, is_true

LIMITS = Limits(min_side=15, max_side=8192, max_base64_chars=10 * 1024 * 1024)
SCENES = ("paper", "answer_sheet")


@dataclass(frozen=True)
class Options:
    """The create_task switches that shape the answer."""

    scene: str
    only_split: bool
    enhance: bool


@dataclass(frozen=True)
class Quirks:
    """Which of the seed's contradictory spellings this page's answers use."""

    short_words: bool
    plural_results: bool
    list_boxes: bool
    int_error_code: bool
    statuses: tuple[str, str, str]


@dataclass(frozen=True)
class CutQuestion:
    """One question: its boxes and, for the recognising mode, its text and answers."""

    number: int
    boxes: tuple[Rect, ...]
    pictures: tuple[Rect, ...]
    answer_boxes: tuple[Rect, ...]
    qus_type: str
    words: str
    choices: tuple[str, ...]
    answers: tuple[str, ...] | tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PaperCut:
    """Everything the provider would find on one page, for one set of options."""

    digest: str
    width: int
    height: int
    options: Options
    questions: tuple[CutQuestion, ...]
    quirks: Quirks
    inner_log_id: int

    @property
    def enhance_id(self) -> str:
        """The owner id in the enhanced page's object path."""
        return self.digest[:32]

    def summary(self) -> dict[str, Any]:
        """``/_sim/tasks``: the page digest and, per question, its id and answer count."""
        return {
            "image_sha256": self.digest,
            "scene_type": self.options.scene,
            "only_split": self.options.only_split,
            "enhance": self.options.enhance,
            "questions": [{"qus_id": q.number, "answers": len(q.answers)} for q in self.questions],
        }


def parse_options(body: dict[str, Any]) -> Options:
    """``scene_type`` (missing = paper; else 216100), ``only_split`` and ``enhance``."""
    scene = body.get("scene_type")
    if scene is None or scene == "":
        scene = "paper"
    if scene not in SCENES:
        raise UploadError(216100, "invalid param: scene_type must be paper or answer_sheet")
    return Options(str(scene), is_true(body.get("only_split")), is_true(body.get("enhance")))


def cut_page(picture: Picture, options: Options) -> PaperCut:
    """Segment (and read) a page the way the simulator does, from its digest and size."""
    rng = random.Random(f"paper_cut:{picture.digest}")
    quirks = _quirks(random.Random(f"paper_cut.quirks:{picture.digest}"))
    width, height = picture.width, picture.height
    count = rng.randint(2, 8) if options.scene == "paper" else rng.randint(1, 3)
    margin_x, margin_y = width * 0.06, height * 0.04
    band = (height - 2 * margin_y) / count
    questions: list[CutQuestion] = []
    next_item = 1
    for index in range(count):
        top = margin_y + index * band + band * 0.05
        box = rect(margin_x, top, width - 2 * margin_x, band * 0.9)
        boxes = _split_box(rng, box)
        pictures = (_inner(rng, box, 0.55, 0.95),) if rng.random() < 0.3 else ()
        answer_boxes = tuple(_inner(rng, box, 0.05, 0.5) for _ in range(rng.randint(1, 3)))
        if options.scene == "paper":
            qus_type, words, choices, answers = paper_question(rng, index + 1)
            question = CutQuestion(
                index + 1, boxes, pictures, answer_boxes, qus_type, words, choices, answers
            )
        else:
            items = answer_sheet_items(rng, next_item)
            next_item += len(items)
            question = CutQuestion(index + 1, boxes, pictures, answer_boxes, "", "", (), items)
        questions.append(question)
    inner_log_id = rng.randrange(10**15, 10**16)
    return PaperCut(picture.digest, width, height, options, tuple(questions), quirks, inner_log_id)


def _quirks(rng: random.Random) -> Quirks:
    statuses = (
        rng.choice(("Success", "success")),
        rng.choice(("pending", "Pending")),
        rng.choice(("running", "Running")),
    )
    short_words, plural_results, list_boxes, int_error_code = (
        rng.random() < 0.25 for _ in range(4)
    )
    return Quirks(short_words, plural_results, list_boxes, int_error_code, statuses)


def _split_box(rng: random.Random, box: Rect) -> tuple[Rect, ...]:
    """Usually one box; sometimes two stacked ones, since ``qus_location`` is a list."""
    if rng.random() >= 0.2 or box.h < 4:
        return (box,)
    upper = box.h * 3 // 5
    return (Rect(box.x, box.y, box.w, upper), Rect(box.x, box.y + upper, box.w, box.h - upper))


def _inner(rng: random.Random, box: Rect, low: float, high: float) -> Rect:
    """A box inside ``box`` spanning roughly ``low``..``high`` of its width."""
    x0 = box.x + box.w * rng.uniform(low, (low + high) / 2)
    x1 = box.x + box.w * rng.uniform((low + high) / 2, high)
    y0 = box.y + box.h * rng.uniform(0.1, 0.4)
    y1 = box.y + box.h * rng.uniform(0.6, 0.9)
    return rect(x0, y0, x1 - x0, y1 - y0)


def created_body(task_id: str, log_id: int) -> dict[str, Any]:
    """create_task's answer, exactly as in the seed (string "0", numeric ``log_id``)."""
    return {"error_code": "0", "error_msg": "", "result": {"task_id": task_id}, "log_id": log_id}


def result_body(
    task: Task, cut: PaperCut, now: float, signer: UrlSigner, log_id: int
) -> dict[str, Any]:
    """get_result's answer as of ``now``: status and times, the result once done."""
    phase = task.phase(now)
    success, pending, running = cut.quirks.statuses
    status = {"done": success, "running": running, "pending": pending}[phase]
    result: dict[str, Any] = {"task_id": task.task_id, "status": status, **task.times_json(now)}
    if phase == "done":
        url = ""
        if cut.options.enhance:
            url = signer.url(object_path(cut.enhance_id, task.task_id, ENHANCE_PREFIX))
        result["result"] = _recognition(cut, url)
    return _envelope(cut, result, log_id)


def _envelope(cut: PaperCut, result: dict[str, Any], log_id: int) -> dict[str, Any]:
    return {
        "error_code": 0 if cut.quirks.int_error_code else "0",
        "error_msg": "",
        "result": result,
        "log_id": log_id,
    }


def _recognition(cut: PaperCut, enhance_url: str) -> dict[str, Any]:
    """The inner ``result``: questions with boxes, and their text unless only splitting."""
    body: dict[str, Any] = {}
    if enhance_url:
        body["enhance_url"] = enhance_url
    if cut.options.scene == "answer_sheet":
        body["log_id"] = cut.inner_log_id
    body["qus_result_num"] = len(cut.questions)
    key = "qus_results" if cut.quirks.plural_results else "qus_result"
    body[key] = [_question(cut, q) for q in cut.questions]
    return body


def _question(cut: PaperCut, question: CutQuestion) -> dict[str, Any]:
    def boxes(rects: tuple[Rect, ...]) -> list[Any]:
        return [r.as_list() if cut.quirks.list_boxes else r.xywh() for r in rects]

    location = {"qus_location": boxes(question.boxes), "pic_location": boxes(question.pictures)}
    if cut.options.only_split:
        location["ans_location"] = boxes(question.answer_boxes)
    id_key = "que_id" if cut.options.scene == "answer_sheet" else "qus_id"
    item: dict[str, Any] = {id_key: question.number, "location": location}
    if not cut.options.only_split:
        item["qus_elements"] = _elements(cut, question)
    return item


def _elements(cut: PaperCut, question: CutQuestion) -> dict[str, Any]:
    words_key, answers_key = (
        ("qus_words", "ans_words") if cut.quirks.short_words else ("question_words", "answer_words")
    )
    answers: list[Any] = [
        {"number": a[0], "answer": a[1]} if isinstance(a, tuple) else a for a in question.answers
    ]
    return {
        words_key: question.words,
        "choices": list(question.choices),
        "qus_type": question.qus_type,
        answers_key: answers,
    }
