"""What persisting and archiving need from each API: its progress, rows and result images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from pipeline.adapters.provider.responses.common import Progress, TaskInfo, epoch_ms

Answer = dict[str, Any]

# Envelope fields with nothing to keep: success markers, and the task id (a column already).
# The answer's log_id is kept in result_meta: it names this answer, not the create_task call.
ENVELOPE = frozenset({"error_code", "error_msg", "task_id"})


@dataclass(frozen=True)
class ResultImage:
    """A signed result URL to copy to S3, and what it shows.

    ``kind`` is ``result_image`` (the marked page), ``crop`` (one graded question, whose
    ``image_index`` and ``sequence`` it carries) or ``enhanced_image``.
    """

    url: str
    kind: str
    image_index: int = 0
    sequence: int | None = None


class Parsed(Protocol):
    """What every API's answer model tells: whether the task is done."""

    @property
    def progress(self) -> Progress:
        """Running, done or failed."""
        ...


M = TypeVar("M", bound=Parsed)


@dataclass(frozen=True)
class Handler(Generic[M]):
    """One API's way of reading its answers; the stages call these and nothing else.

    An answer is parsed once (``parse``) and the model handed to ``write`` and ``images``;
    ``task_fields`` reads the raw answer, where the fields no model names are.
    """

    parse: Callable[[Answer], M]
    task_fields: Callable[[Answer], dict[str, Any]]
    write: Callable[[Session, int, int, M], None]
    images: Callable[[str, M], dict[str, ResultImage]]

    def progress(self, answer: Answer) -> Progress:
        """Running, done or failed, from one get_result answer."""
        return self.parse(answer).progress


def task_info_fields(answer: Answer, kept_inner: frozenset[str]) -> dict[str, Any]:
    """provider_tasks columns from a paper_cut or composition answer.

    Every field of the answer, its task envelope and its inner result that has no column of
    its own and is not in ``kept_inner`` (written to result rows) lands in ``result_meta``.
    """
    info = TaskInfo.model_validate(answer.get("result") or {})
    meta: dict[str, Any] = {k: v for k, v in answer.items() if k not in ENVELOPE | {"result"}}
    meta |= info.extra()
    meta |= {k: v for k, v in (info.result or {}).items() if k not in kept_inner}
    return {
        "status": info.status,
        "provider_created_at": epoch_ms(info.created_time),
        "provider_started_at": epoch_ms(info.started_time),
        "provider_finished_at": epoch_ms(info.finished_time),
        "duration_ms": info.duration,
        "result_meta": meta,
    }


def result_dir(raw_key: str) -> str:
    """The folder of a task's archived files: beside its raw answer."""
    return raw_key.rsplit("/", 1)[0]
