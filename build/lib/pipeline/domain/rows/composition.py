"""composition answers → ``essays``, ``essay_paragraphs``, ``essay_sentences``, ``essay_lines``.

The essay row is kept per page and its children replaced as a whole, with lines linked to
their paragraph by ``paragraphId``. Boxes are stored as lists whatever shape they came in.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Essay, EssayLine, EssayParagraph, EssaySentence
from pipeline.adapters.provider.responses.common import Rect
from pipeline.adapters.provider.responses.composition import Char, CompositionAnswer, Paragraph
from pipeline.adapters.provider.responses.composition import Essay as EssayAnswer
from pipeline.domain.rows.base import Answer, Handler, ResultImage, task_info_fields

_ESSAY_FIELDS = frozenset(
    {"recognize_granularity", "recognizeGranularity", "essayOverall", "title", "content"}
)


def _task_fields(answer: Answer) -> dict[str, Any]:
    return task_info_fields(answer, _ESSAY_FIELDS)


def _images(raw_key: str, answer: CompositionAnswer) -> dict[str, ResultImage]:
    return {}  # the API returns no images


def _boxes(boxes: list[Rect]) -> list[dict[str, Any]]:
    return [box.model_dump() for box in boxes]


def _chars(chars: list[Char]) -> list[dict[str, Any]]:
    return [
        {
            "char": char.char,
            "index": char.index,
            "bbox": char.bbox.model_dump() if char.bbox else None,
            "is_punctuation": char.is_punctuation,
        }
        | char.extra()
        for char in chars
    ]


def _write(session: Session, page_id: int, task_row_id: int, answer: CompositionAnswer) -> None:
    essay = answer.essay
    session.execute(delete(Essay).where(Essay.page_id == page_id))
    essay_id = session.scalar(
        insert(Essay).values(_essay_row(page_id, task_row_id, essay)).returning(Essay.id)
    )
    assert essay_id is not None
    paragraph_ids = {
        paragraph.paragraph_id: _write_paragraph(session, essay_id, sequence, paragraph)
        for sequence, paragraph in enumerate(essay.content.paragraphs)
    }
    lines = [
        {
            "essay_id": essay_id,
            "paragraph_id": paragraph_ids.get(line.paragraph_id),
            "sequence": sequence,
            "line_uid": line.line_id,
            "paragraph_uid": line.paragraph_id,
            "text": line.text,
            "boxes": _boxes(line.bboxes),
            "chars": _chars(line.chars),
            "extra": line.extra(),
        }
        for sequence, line in enumerate(essay.content.lines)
    ]
    if lines:
        session.execute(insert(EssayLine), lines)


def _essay_row(page_id: int, task_row_id: int, essay: EssayAnswer) -> dict[str, Any]:
    extra: dict[str, Any] = essay.extra()
    for name, part in (
        ("essayOverall", essay.overall),
        ("title", essay.title),
        ("content", essay.content),
    ):
        if part.extra():
            extra[name] = part.extra()
    title_text = essay.title.text
    title = essay.overall.title_text if essay.overall.title_text is not None else title_text
    if title_text is not None and title_text != title:
        extra["title_text"] = title_text  # the two titles disagree: keep both
    return {
        "page_id": page_id,
        "provider_task_id": task_row_id,
        "granularity": essay.granularity,
        "title": title,
        "title_boxes": _boxes(essay.title.bboxes),
        "title_chars": _chars(essay.title.chars),
        "content_text": essay.overall.content_text,
        "extra": extra,
    }


def _write_paragraph(session: Session, essay_id: int, sequence: int, paragraph: Paragraph) -> int:
    paragraph_id = session.scalar(
        insert(EssayParagraph)
        .values(
            essay_id=essay_id,
            sequence=sequence,
            paragraph_uid=paragraph.paragraph_id,
            text=paragraph.text,
            boxes=_boxes(paragraph.bboxes),
            is_column=paragraph.is_column,
            extra=paragraph.extra(),
        )
        .returning(EssayParagraph.id)
    )
    assert paragraph_id is not None
    sentences = [
        {
            "paragraph_id": paragraph_id,
            "essay_id": essay_id,
            "sequence": index,
            "sentence_uid": sentence.sentence_id,
            "text": sentence.text,
            "boxes": _boxes(sentence.bboxes),
            "line_segments": [
                {"line_uid": s.line_id, "start": s.start, "end": s.end} | s.extra()
                for s in sentence.segments
            ],
            "extra": sentence.extra(),
        }
        for index, sentence in enumerate(paragraph.sentences)
    ]
    if sentences:
        session.execute(insert(EssaySentence), sentences)
    return int(paragraph_id)


HANDLER = Handler(
    parse=CompositionAnswer.model_validate, task_fields=_task_fields, write=_write, images=_images
)
