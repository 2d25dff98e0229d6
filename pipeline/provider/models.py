"""Tolerant models of the provider's answers.

The seeds contradict themselves (``error_code`` as int or string, a box as one object or a
list of them): the models accept every variant the documents show and keep every field they
do not name in ``model_extra``, so nothing the provider returns is dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Lenient(BaseModel):
    """Accepts unknown fields and keeps them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def extra(self) -> dict[str, Any]:
        """The fields this model has no attribute for."""
        return dict(self.model_extra or {})


class Box(Lenient):
    """A rectangle in page pixels, as correct_edu draws them."""

    left_x: int = 0
    left_y: int = 0
    right_x: int = 0
    right_y: int = 0


def _one_box(value: object) -> object:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _box_list(value: object) -> object:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class Slot(Lenient):
    """An answer slot (``slot[]``); ``seqence`` (sic) is 1-based."""

    sequence: int = Field(0, alias="seqence")
    slot_id: str | None = Field(None, alias="slotId")
    correct_result: int = Field(0, alias="correctResult")
    reason: str | None = None
    handwriting_area: Box | None = Field(None, alias="handwritingArea")

    _area = field_validator("handwriting_area", mode="before")(_one_box)


class Question(Lenient):
    """A question (``result[]``); ``seqence`` (sic) is 0-based."""

    sequence: int = Field(0, alias="seqence")
    question_id: str | None = Field(None, alias="questionId")
    question: str | None = None
    type: int | None = None
    correct_result: int = Field(0, alias="correctResult")
    is_finish: bool = Field(False, alias="isFinish")
    area: list[Box] = Field(default_factory=list, alias="questionArea")
    crop_url: str | None = Field(None, alias="cropUrl")
    slots: list[Slot] = Field(default_factory=list, alias="slot")

    _areas = field_validator("area", mode="before")(_box_list)


class ImageResult(Lenient):
    """The grading of one image (``imageResults[]``)."""

    image_id: str | None = Field(None, alias="imageId")
    image_url: str | None = Field(None, alias="imageUrl")
    subject: str | None = Field(None, alias="paperSubject")
    questions: list[Question] = Field(default_factory=list, alias="result")


class Stat(Lenient):
    """``stat_result``: questions in all, graded, still grading."""

    all: int = 0
    corrected: int = 0
    correcting: int = 0


class CorrectEduResult(Lenient):
    """A correct_edu get_result answer, finished or partial."""

    task_id: str | None = None
    log_id: int | None = None
    error_code: int | str | None = None
    error_msg: str | None = None
    images: list[ImageResult] = Field(default_factory=list, alias="imageResults")
    finished: bool = Field(False, alias="isAllFinished")
    stat: Stat | None = Field(None, alias="stat_result")

    @field_validator("images", mode="before")
    @classmethod
    def _images(cls, value: object) -> object:
        return value or []


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
