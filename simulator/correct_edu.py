"""correct_edu's JSON answers: ``get_result`` and ``only_split``.

Shapes and key names follow the provider's example exactly, quirks included: ``error_code``
is the string "0" on success, ``seqence`` (sic) counts questions from 0 and slots from 1,
``questionArea`` is a list of boxes while ``handwritingArea`` is a single box.

Until a question is graded it shows ``isFinish: false``, ``correctResult: 0``, its slots at
0 with an empty reason, and ``cropUrl: ""``. ``imageUrl`` stays "" until the whole task is
finished, because the marked page only exists once every verdict is known.
"""

from __future__ import annotations

from typing import Any

from simulator.grading import GradedPage, Question
from simulator.objects import UrlSigner, object_path
from simulator.tasks import Task


def get_result_body(task: Task, now: float, signer: UrlSigner, log_id: int) -> dict[str, Any]:
    """The ``get_result`` answer for a known task as of ``now``."""
    done = task.finished(now)
    page = task.page
    questions = [
        _question_json(
            q,
            done[q.seqence],
            signer.url(object_path(q.question_id, task.task_id)) if done[q.seqence] else "",
        )
        for q in page.questions
    ]
    all_done = all(done)
    image_url = signer.url(object_path(page.image_id, task.task_id)) if all_done else ""
    corrected = sum(done)
    return _envelope(task.task_id, page, questions, image_url, all_done, corrected, log_id)


def only_split_body(page: GradedPage, task_id: str, log_id: int) -> dict[str, Any]:
    """The synchronous ``only_split`` answer: the questions found, nothing graded, no images.

    Nothing is stored for a split-only call, so ``task_id`` cannot be fetched later (282808)
    and every URL is "".
    """
    questions = [_question_json(q, False, "", split_only=True) for q in page.questions]
    return _envelope(task_id, page, questions, "", True, len(questions), log_id)


def _envelope(
    task_id: str,
    page: GradedPage,
    questions: list[dict[str, Any]],
    image_url: str,
    all_done: bool,
    corrected: int,
    log_id: int,
) -> dict[str, Any]:
    return {
        "error_code": "0",
        "error_msg": "",
        "task_id": task_id,
        "imageResults": [
            {
                "result": questions,
                "imageId": page.image_id,
                "imageUrl": image_url,
                "paperSubject": page.subject,
            }
        ],
        "isAllFinished": all_done,
        "stat_result": {
            "all": len(questions),
            "correcting": len(questions) - corrected,
            "corrected": corrected,
        },
        "log_id": log_id,
    }


def _question_json(
    question: Question, done: bool, crop_url: str, *, split_only: bool = False
) -> dict[str, Any]:
    graded = done and not split_only
    return {
        "correctResult": question.correct_result if graded else 0,
        "questionId": question.question_id,
        "question": question.question,
        "seqence": question.seqence,
        "questionArea": [box.to_json() for box in question.areas],
        "isFinish": done or split_only,
        "slot": [
            {
                "correctResult": slot.correct_result if graded else 0,
                "reason": slot.reason if graded else "",
                "handwritingArea": slot.area.to_json(),
                "seqence": slot.seqence,
                "slotId": slot.slot_id,
            }
            for slot in question.slots
        ],
        "type": question.type,
        "cropUrl": crop_url if graded else "",
    }
