"""Which function builds each async API's ``get_result`` answer for a stored task.

get_result (``server``/``async_apis``) and the admin "final answer" (``admin``) both go
through this table, so a test's expected answer is built exactly like the real one.
"""

from __future__ import annotations

from typing import Any, TypeVar

from simulator import composition, correct_edu, paper_cut
from simulator.composition import Essay
from simulator.config import COMPOSITION, CORRECT_EDU, PAPER_CUT
from simulator.objects import UrlSigner
from simulator.paper_cut import PaperCut
from simulator.state import ResultBuilder
from simulator.tasks import Task, TaskStore

_C = TypeVar("_C")


def _content(task: Task, kind: type[_C]) -> _C:
    """The task's content, which the API's endpoint guarantees is of ``kind``."""
    if not isinstance(task.content, kind):
        raise TypeError(f"task {task.task_id} holds no {kind.__name__}")
    return task.content


def correct_edu_result(
    task: Task, now: float, signer: UrlSigner, ids: TaskStore
) -> tuple[dict[str, Any], str]:
    """correct_edu: questions graded so far, URLs signed by ``signer``."""
    return correct_edu.get_result_body(task, now, signer, ids.new_log_id()), "ok"


def paper_cut_result(
    task: Task, now: float, signer: UrlSigner, ids: TaskStore
) -> tuple[dict[str, Any], str]:
    """paper_cut_edu_vlm: status, then the questions once done."""
    cut = _content(task, PaperCut)
    return paper_cut.result_body(task, cut, now, signer, ids.new_log_id()), "ok"


def composition_result(
    task: Task, now: float, signer: UrlSigner, ids: TaskStore
) -> tuple[dict[str, Any], str]:
    """handwriting_composition: a pending form, the essay, or "not a composition"."""
    essay = _content(task, Essay)
    return composition.result_body(task, essay, now, ids.new_log_id(), ids.new_long_log_id())


RESULT_BUILDERS: dict[str, ResultBuilder] = {
    CORRECT_EDU: correct_edu_result,
    PAPER_CUT: paper_cut_result,
    COMPOSITION: composition_result,
}
