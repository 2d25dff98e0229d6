r"""Result tables of the APIs beyond correct_edu: cut-out questions, essays, recognised words.

correct_edu's graded ``questions`` and ``slots`` live in ``graded_tables.py``. Every table here
hangs off ``pages`` and ``provider_tasks``; every field of an answer either has a column or
lands in the ``extra`` JSONB of its row, so nothing the provider returned is dropped.
Boxes keep the provider's own shape: ``{x, y, w, h}`` for paper_cut and composition
(lists, even where the provider sent one object), ``left/top/width/height`` columns for OCR.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Index, Integer, Table, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.adapters.db.base import Base, fk_column, id_column


def _extra() -> Mapped[dict[str, Any]]:
    return mapped_column(
        server_default=sql("'{}'::jsonb"), comment="Provider fields with no column yet."
    )


def _boxes(comment: str) -> Mapped[list[Any]]:
    return mapped_column(server_default=sql("'[]'::jsonb"), comment=comment)


class PaperQuestion(Base):
    """A question paper_cut cut out of a page, with what it read inside."""

    __tablename__ = "paper_questions"
    __table_args__ = (
        UniqueConstraint("page_id", "sequence"),
        {"comment": "Questions found by paper_cut_edu_vlm (result.result.qus_result[])."},
    )

    id: Mapped[int] = id_column()
    page_id: Mapped[int] = fk_column("pages.id", "The page the question is on.")
    provider_task_id: Mapped[int] = fk_column(
        "provider_tasks.id", "The task whose answer this row comes from.", index=True
    )
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in qus_result, 0-based.")
    number: Mapped[str | None] = mapped_column(
        Text, comment="The provider's question number (qus_id, or que_id on answer sheets)."
    )
    question_type: Mapped[str | None] = mapped_column(
        Text, comment="qus_type as given (选择题, 填空题, 问答题…); empty on answer sheets."
    )
    question_text: Mapped[str | None] = mapped_column(
        Text, comment="question_words (qus_words): the question as read; paper scene only."
    )
    choices: Mapped[list[Any]] = mapped_column(
        server_default=sql("'[]'::jsonb"), comment="Choices of a multiple-choice question."
    )
    question_boxes: Mapped[list[Any]] = _boxes("qus_location: [{x,y,w,h}] of the question.")
    picture_boxes: Mapped[list[Any]] = _boxes("pic_location: [{x,y,w,h}] of its pictures.")
    answer_boxes: Mapped[list[Any]] = _boxes(
        "ans_location: [{x,y,w,h}] of its handwriting (only_split answers only)."
    )
    extra: Mapped[dict[str, Any]] = _extra()


class PaperAnswer(Base):
    """A handwritten answer read inside a cut-out question."""

    __tablename__ = "paper_answers"
    __table_args__ = (
        UniqueConstraint("question_id", "sequence"),
        Index("ix_paper_answers_page", "page_id"),
        {"comment": "Handwritten answers of paper_questions (qus_elements.answer_words[])."},
    )

    id: Mapped[int] = id_column()
    question_id: Mapped[int] = fk_column("paper_questions.id", "The question answered.")
    page_id: Mapped[int] = fk_column("pages.id", "The page (saves a join).")
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in answer_words, 0-based.")
    number: Mapped[str | None] = mapped_column(
        Text, comment="Sub-question number as printed (answer sheets' {number}); else null."
    )
    answer: Mapped[str | None] = mapped_column(Text, comment="The handwritten answer, as read.")
    extra: Mapped[dict[str, Any]] = _extra()


class Essay(Base):
    """A handwritten essay read from a page."""

    __tablename__ = "essays"
    __table_args__ = (
        UniqueConstraint("page_id"),
        {"comment": "Essays read by handwriting_composition, one per page."},
    )

    id: Mapped[int] = id_column()
    page_id: Mapped[int] = fk_column("pages.id", "The page the essay is on.")
    provider_task_id: Mapped[int] = fk_column(
        "provider_tasks.id", "The task whose answer this row comes from.", index=True
    )
    granularity: Mapped[str | None] = mapped_column(
        Text, comment="recognize_granularity answered: none, line or word."
    )
    title: Mapped[str | None] = mapped_column(
        Text, comment="Title (essayOverall.titleText, else title.text)."
    )
    title_boxes: Mapped[list[Any]] = _boxes("title.bbox: [{x,y,w,h}] (line and word only).")
    title_chars: Mapped[list[Any]] = mapped_column(
        server_default=sql("'[]'::jsonb"),
        comment="title.chars: [{char,index,bbox,is_punctuation}] (word only).",
    )
    content_text: Mapped[str | None] = mapped_column(
        Text, comment="essayOverall.contentText: the body, lines separated by newlines."
    )
    extra: Mapped[dict[str, Any]] = _extra()


class EssayParagraph(Base):
    """A logical paragraph of an essay."""

    __tablename__ = "essay_paragraphs"
    __table_args__ = (
        UniqueConstraint("essay_id", "sequence"),
        {"comment": "Paragraphs of essays (content.paragraphs[])."},
    )

    id: Mapped[int] = id_column()
    essay_id: Mapped[int] = fk_column("essays.id", "The essay.")
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in the essay, 0-based.")
    paragraph_uid: Mapped[str | None] = mapped_column(Text, comment="paragraphId, e.g. p1.")
    text: Mapped[str | None] = mapped_column(Text, comment="The paragraph's full text.")
    boxes: Mapped[list[Any]] = _boxes("bbox: [{x,y,w,h}] outline, maybe several boxes.")
    is_column: Mapped[bool | None] = mapped_column(
        comment="isColumn: written in columns (line and word only)."
    )
    extra: Mapped[dict[str, Any]] = _extra()


class EssaySentence(Base):
    """A sentence of a paragraph, with the pieces of lines it covers."""

    __tablename__ = "essay_sentences"
    __table_args__ = (
        UniqueConstraint("paragraph_id", "sequence"),
        Index("ix_essay_sentences_essay", "essay_id"),
        {"comment": "Sentences of essay paragraphs (paragraphs[].sentences[])."},
    )

    id: Mapped[int] = id_column()
    paragraph_id: Mapped[int] = fk_column("essay_paragraphs.id", "The paragraph.")
    essay_id: Mapped[int] = fk_column("essays.id", "The essay (saves a join).")
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in the paragraph, 0-based.")
    sentence_uid: Mapped[str | None] = mapped_column(Text, comment="sentenceId, e.g. s1-p1.")
    text: Mapped[str | None] = mapped_column(Text, comment="The sentence.")
    boxes: Mapped[list[Any]] = _boxes("bbox: [{x,y,w,h}] outline (line and word only).")
    line_segments: Mapped[list[Any]] = mapped_column(
        server_default=sql("'[]'::jsonb"),
        comment="lineSegments: [{line_uid,start,end}]; join essay_lines on line_uid; "
        "start/end index the line's text, inclusive.",
    )
    extra: Mapped[dict[str, Any]] = _extra()


class EssayLine(Base):
    """A physical line of handwriting, with its characters at word granularity."""

    __tablename__ = "essay_lines"
    __table_args__ = (
        UniqueConstraint("essay_id", "sequence"),
        {"comment": "Lines of essays (content.lines[]; line and word granularity)."},
    )

    id: Mapped[int] = id_column()
    essay_id: Mapped[int] = fk_column("essays.id", "The essay.")
    paragraph_id: Mapped[int | None] = fk_column(
        "essay_paragraphs.id", "The paragraph the line belongs to, if named.", nullable=True
    )
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in the essay, 0-based.")
    line_uid: Mapped[str | None] = mapped_column(Text, comment="lineId, e.g. l1.")
    paragraph_uid: Mapped[str | None] = mapped_column(Text, comment="paragraphId, as given.")
    text: Mapped[str | None] = mapped_column(Text, comment="The line's text.")
    boxes: Mapped[list[Any]] = _boxes("bbox: [{x,y,w,h}] of the line.")
    chars: Mapped[list[Any]] = mapped_column(
        server_default=sql("'[]'::jsonb"),
        comment="chars: [{char,index,bbox,is_punctuation}] (word granularity only).",
    )
    extra: Mapped[dict[str, Any]] = _extra()


class OcrWord(Base):
    """A line of text or a formula read by formula or custom_ocr."""

    __tablename__ = "ocr_words"
    __table_args__ = (
        UniqueConstraint("page_id", "kind", "sequence"),
        Index("ix_ocr_words_task", "provider_task_id"),
        {"comment": "Words and formulas read by formula and custom_ocr."},
    )

    id: Mapped[int] = id_column()
    page_id: Mapped[int] = fk_column("pages.id", "The page read.")
    provider_task_id: Mapped[int] = fk_column(
        "provider_tasks.id", "The call whose answer this row comes from."
    )
    kind: Mapped[str] = mapped_column(
        Text, comment="word (words_result: text and LaTeX mixed) or formula (formula_result)."
    )
    sequence: Mapped[int] = mapped_column(Integer, comment="Order in its list, 0-based.")
    text: Mapped[str | None] = mapped_column(Text, comment="words: the text, or LaTeX.")
    left: Mapped[int | None] = mapped_column(Integer, comment="location.left, pixels.")
    top: Mapped[int | None] = mapped_column(Integer, comment="location.top, pixels.")
    width: Mapped[int | None] = mapped_column(Integer, comment="location.width, pixels.")
    height: Mapped[int | None] = mapped_column(Integer, comment="location.height, pixels.")
    score: Mapped[float | None] = mapped_column(Float, comment="Confidence (custom_ocr's score).")
    chars: Mapped[list[Any]] = mapped_column(
        server_default=sql("'[]'::jsonb"), comment="Per-character boxes, when asked for."
    )
    extra: Mapped[dict[str, Any]] = _extra()


def result_tables() -> list[Table]:
    """The tables whose rows are written from one task's answer (children follow by cascade).

    Every table with a ``provider_task_id`` but ``artifacts``: questions, paper_questions,
    essays and ocr_words.
    """
    return [
        table
        for table in Base.metadata.sorted_tables
        if "provider_task_id" in table.columns and table.name != "artifacts"
    ]
