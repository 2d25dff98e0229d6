"""What every answer model shares: leniency, box shapes, booleans, status words, URL expiry.

The seeds contradict themselves (``error_code`` as int or string, a box as one object or a
list of them, ``isPunctuation`` as a bool or a string): the models accept every variant the
documents show and keep every field they do not name in ``model_extra``, so nothing the
provider returns is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, model_validator


class Lenient(BaseModel):
    """Accepts unknown fields and keeps them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def extra(self) -> dict[str, Any]:
        """The fields this model has no attribute for."""
        return dict(self.model_extra or {})


class Progress(StrEnum):
    """Where a provider task is, read from one get_result answer."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def status_progress(status: object) -> Progress:
    """Read the ``status`` word of paper_cut and composition, in any case (Success, failed…)."""
    word = str(status or "").strip().lower()
    if word in {"success", "succeeded", "finished", "done"}:
        return Progress.DONE
    if word in {"failed", "failure", "error"}:
        return Progress.FAILED
    return Progress.RUNNING  # pending, running, processing, or nothing yet


def one_or_none(value: object) -> object:
    """A single object where the provider sometimes sends a list of one."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def as_list(value: object) -> object:
    """A list where the provider sometimes sends a single object (or nothing)."""
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def as_bool(value: object) -> object:
    """``true``/``false`` as a bool, whether sent as a bool, a string or 0/1."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"true", "1", "yes"}:
            return True
        if word in {"false", "0", "no", ""}:
            return False
    if isinstance(value, int) and not isinstance(value, bool):
        return bool(value)
    return value


class Rect(Lenient):
    """A box as ``{x, y, w, h}`` (paper_cut, composition), also sent as ``[x, y, w, h]``."""

    x: int = 0
    y: int = 0
    w: int = 0
    h: int = 0

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: object) -> object:
        if isinstance(value, list | tuple) and len(value) == 4:
            return dict(zip("xywh", value, strict=True))
        return value


class TaskInfo(Lenient):
    """The task envelope of paper_cut and composition answers (``result`` of get_result)."""

    task_id: str | None = None
    status: str | None = None
    created_time: int | None = None
    started_time: int | None = None
    finished_time: int | None = None
    duration: int | None = None
    result: dict[str, Any] | None = None

    @property
    def progress(self) -> Progress:
        """Running, done or failed, whatever the status' spelling."""
        return status_progress(self.status)


def epoch_ms(value: int | None) -> datetime | None:
    """The provider's millisecond timestamps as aware datetimes."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def signed_url_expiry(url: str) -> datetime | None:
    """When a ``bce-auth-v1`` signed URL stops working: its signing time plus its lifetime."""
    values = parse_qs(urlsplit(url).query).get("authorization")
    if not values:
        return None
    parts = values[0].split("/")
    if len(parts) < 4 or parts[0] != "bce-auth-v1":
        return None
    try:
        signed = datetime.strptime(parts[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return signed + timedelta(seconds=int(parts[3]))
    except ValueError:
        return None
