"""paper_cut_edu_vlm (seed 001): questions cut out of a page, with their text and answers.

Every spelling the seed uses is accepted: ``qus_id`` / ``que_id`` (answer-sheet example),
``qus_result`` / ``qus_results``, ``qus_words`` / ``question_words``, ``ans_words`` /
``answer_words`` (strings in the paper scene, ``{number, answer}`` objects on answer sheets),
locations as ``{x, y, w, h}`` objects or ``[x, y, w, h]`` lists.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from pipeline.adapters.provider.responses.common import Lenient, Progress, Rect, TaskInfo, as_list


class Location(Lenient):
    """Where a question, its pictures and its handwritten answers are on the page."""

    question: list[Rect] = Field(default_factory=list, alias="qus_location")
    picture: list[Rect] = Field(default_factory=list, alias="pic_location")
    answer: list[Rect] = Field(default_factory=list, alias="ans_location")

    _lists = field_validator("question", "picture", "answer", mode="before")(as_list)


class Answer(Lenient):
    """One handwritten answer: a bare string (paper scene) or ``{number, answer}``."""

    number: str | None = None
    answer: str | None = None

    @classmethod
    def parse(cls, value: object) -> Answer:
        """Either form, as one model."""
        if isinstance(value, dict):
            return cls.model_validate(value)
        return cls(answer=None if value is None else str(value))


class Elements(Lenient):
    """``qus_elements``: what was read inside a question."""

    words: str | None = Field(None, validation_alias=AliasChoices("question_words", "qus_words"))
    choices: list[Any] = Field(default_factory=list)
    type: str | None = Field(None, alias="qus_type")
    answers: list[Answer] = Field(
        default_factory=list, validation_alias=AliasChoices("answer_words", "ans_words")
    )

    @field_validator("answers", mode="before")
    @classmethod
    def _answers(cls, value: object) -> object:
        items = as_list(value)
        return [Answer.parse(item) for item in items] if isinstance(items, list) else items

    _choices = field_validator("choices", mode="before")(as_list)


class Question(Lenient):
    """One cut-out question (``qus_result[]``)."""

    number: int | str | None = Field(None, validation_alias=AliasChoices("qus_id", "que_id"))
    location: Location = Field(default_factory=Location)
    elements: Elements | None = Field(None, alias="qus_elements")


class Cut(Lenient):
    """The inner ``result`` of a finished task (or of an ``only_split`` answer)."""

    enhance_url: str | None = None
    count: int | None = Field(None, alias="qus_result_num")
    questions: list[Question] = Field(
        default_factory=list, validation_alias=AliasChoices("qus_result", "qus_results")
    )

    _questions = field_validator("questions", mode="before")(as_list)


class PaperCutAnswer(Lenient):
    """A paper_cut get_result answer, or the synchronous ``only_split`` answer."""

    error_code: int | str | None = None
    error_msg: str | None = None
    log_id: int | str | None = None
    task: TaskInfo = Field(default_factory=TaskInfo, alias="result")

    @property
    def progress(self) -> Progress:
        """From ``result.status``, whatever its case."""
        return self.task.progress

    @property
    def cut(self) -> Cut:
        """The questions found (empty until the task is done)."""
        return Cut.model_validate(self.task.result or {})
