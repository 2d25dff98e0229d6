"""correct_edu (seed 000): homework correction, graded question by question.

``seqence`` (sic) counts questions from 0 and slots from 1; ``questionArea`` is a list of
boxes while ``handwritingArea`` is one; a task is done when ``isAllFinished`` is true.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from pipeline.adapters.provider.responses.common import Lenient, Progress
from pipeline.adapters.provider.responses.common import as_list as _box_list
from pipeline.adapters.provider.responses.common import one_or_none as _one_box


class Box(Lenient):
    """A rectangle in page pixels, as correct_edu draws them."""

    left_x: int = 0
    left_y: int = 0
    right_x: int = 0
    right_y: int = 0


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
    log_id: int | str | None = None
    error_code: int | str | None = None
    error_msg: str | None = None
    images: list[ImageResult] = Field(default_factory=list, alias="imageResults")
    finished: bool = Field(False, alias="isAllFinished")
    stat: Stat | None = Field(None, alias="stat_result")

    @field_validator("images", mode="before")
    @classmethod
    def _images(cls, value: object) -> object:
        return value or []

    @property
    def progress(self) -> Progress:
        """Done once every question is graded."""
        return Progress.DONE if self.finished else Progress.RUNNING
