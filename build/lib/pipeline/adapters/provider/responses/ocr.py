"""formula (seed 003) and custom_ocr (seed 004): synchronous lists of recognised words.

formula answers ``words_result`` (text and LaTeX mixed), ``formula_result`` (formulas only,
with ``disp_formula``) and ``direction``; locations are ``{left, top, width, height}``.
custom_ocr answers ``words_result`` (or ``words_results``, as its field table spells it) with
an optional ``score``.
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator

from pipeline.adapters.provider.responses.common import Lenient, Progress, as_list


class OcrLocation(Lenient):
    """A box as the OCR APIs give it."""

    left: int | None = None
    top: int | None = None
    width: int | None = None
    height: int | None = None


class Word(Lenient):
    """One recognised line of text or formula."""

    words: str | None = None
    location: OcrLocation | None = None
    score: float | None = None
    chars: list[Any] = Field(default_factory=list)

    _chars = field_validator("chars", mode="before")(as_list)


class OcrAnswer(Lenient):
    """A formula or custom_ocr answer."""

    error_code: int | str | None = None
    error_msg: str | None = None
    log_id: int | str | None = None
    direction: int | None = None
    words: list[Word] = Field(
        default_factory=list, validation_alias=AliasChoices("words_result", "words_results")
    )
    words_count: int | None = Field(None, alias="words_result_num")
    formulas: list[Word] = Field(default_factory=list, alias="formula_result")
    formula_count: int | bool | None = Field(None, alias="formula_result_num")

    _lists = field_validator("words", "formulas", mode="before")(as_list)

    @property
    def progress(self) -> Progress:
        """A synchronous answer is always complete."""
        return Progress.DONE
