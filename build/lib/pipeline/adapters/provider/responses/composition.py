"""handwriting_composition (seed 002): an essay, from its title down to each character.

Accepted variants: ``recognize_granularity`` / ``recognizeGranularity``; ``bbox`` as one
object or a list of them; ``isPunctuation`` as a bool or a string; ``isColumn`` as 0/1 or a
string; fields missing at coarser granularities. A still-running task may answer
``error_code: 1`` "Pending"/"Processing" with no result at all: the client passes that on as
an answer, and it reads here as running.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator

from pipeline.adapters.provider.responses.common import (
    Lenient,
    Progress,
    Rect,
    TaskInfo,
    as_bool,
    as_list,
    one_or_none,
)


class Char(Lenient):
    """One character with its box (word granularity only)."""

    char: str | None = None
    index: int | None = None
    bbox: Rect | None = None
    is_punctuation: bool | None = Field(None, alias="isPunctuation")

    _bbox = field_validator("bbox", mode="before")(one_or_none)
    _punct = field_validator("is_punctuation", mode="before")(as_bool)


class Title(Lenient):
    """The essay's title."""

    text: str | None = None
    bboxes: list[Rect] = Field(default_factory=list, alias="bbox")
    chars: list[Char] = Field(default_factory=list)

    _bboxes = field_validator("bboxes", "chars", mode="before")(as_list)


class LineSegment(Lenient):
    """The part of one line a sentence covers; indexes into the line's text, inclusive."""

    line_id: str | None = Field(None, alias="lineId")
    start: int | None = Field(None, alias="startIndex")
    end: int | None = Field(None, alias="endIndex")


class Sentence(Lenient):
    """A sentence of a paragraph, and the lines it runs over."""

    sentence_id: str | None = Field(None, alias="sentenceId")
    text: str | None = None
    bboxes: list[Rect] = Field(default_factory=list, alias="bbox")
    segments: list[LineSegment] = Field(default_factory=list, alias="lineSegments")

    _lists = field_validator("bboxes", "segments", mode="before")(as_list)


class Paragraph(Lenient):
    """A logical paragraph."""

    paragraph_id: str | None = Field(None, alias="paragraphId")
    text: str | None = None
    bboxes: list[Rect] = Field(default_factory=list, alias="bbox")
    is_column: bool | None = Field(None, alias="isColumn")
    sentences: list[Sentence] = Field(default_factory=list)

    _lists = field_validator("bboxes", "sentences", mode="before")(as_list)
    _column = field_validator("is_column", mode="before")(as_bool)


class Line(Lenient):
    """A physical line of handwriting."""

    line_id: str | None = Field(None, alias="lineId")
    text: str | None = None
    bboxes: list[Rect] = Field(default_factory=list, alias="bbox")
    paragraph_id: str | None = Field(None, alias="paragraphId")
    chars: list[Char] = Field(default_factory=list)

    _lists = field_validator("bboxes", "chars", mode="before")(as_list)


class Content(Lenient):
    """The body: paragraphs (logical) and lines (physical)."""

    paragraphs: list[Paragraph] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)

    _lists = field_validator("paragraphs", "lines", mode="before")(as_list)


class Overall(Lenient):
    """``essayOverall``: the whole text."""

    title_text: str | None = Field(None, alias="titleText")
    content_text: str | None = Field(None, alias="contentText")


class Essay(Lenient):
    """The inner ``result`` of a finished task."""

    granularity: str | None = Field(
        None, validation_alias=AliasChoices("recognize_granularity", "recognizeGranularity")
    )
    overall: Overall = Field(default_factory=Overall, alias="essayOverall")
    title: Title = Field(default_factory=Title)
    content: Content = Field(default_factory=Content)


class CompositionAnswer(Lenient):
    """A composition get_result answer."""

    error_code: int | str | None = None
    error_msg: str | None = None
    log_id: int | str | None = None
    task: TaskInfo = Field(default_factory=TaskInfo, alias="result")

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, value: object) -> object:
        return value or {}

    @property
    def progress(self) -> Progress:
        """From ``result.status``; the "Pending" error-1 answer has none and is running."""
        return self.task.progress

    @property
    def essay(self) -> Essay:
        """The recognised essay (empty until the task is done)."""
        return Essay.model_validate(self.task.result or {})
