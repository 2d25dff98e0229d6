"""The essay handwriting_composition "reads" off a page: text and a self-consistent layout.

Paragraphs start on a new line and wrap at a fixed number of characters per line (20-28, like
squared composition paper), so sentences cross lines and every index is checkable: a
paragraph's text is its sentences joined, each line's characters spell its text, and each
``lineSegments`` entry names the inclusive character range of its line that the sentence
covers. About one page in five is written in two columns.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulator.geometry import Rect, rect, union
from simulator.texts import essay

PUNCTUATION = frozenset("。,、;:?!…—“”‘’()《》,.;:?!\"'()")


@dataclass(frozen=True)
class Line:
    """One physical line: its text, paragraph, column and one box per character."""

    line_id: str
    text: str
    paragraph_id: str
    column: int
    chars: tuple[Rect, ...]

    @property
    def box(self) -> Rect:
        """The line's bounding box."""
        return union(self.chars)


@dataclass(frozen=True)
class Segment:
    """The part of a line a sentence covers: ``start``..``end`` inclusive."""

    line: int
    start: int
    end: int


@dataclass(frozen=True)
class Sentence:
    """One sentence and the line pieces it is written on."""

    sentence_id: str
    text: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Paragraph:
    """One logical paragraph: its sentences and the lines it occupies."""

    paragraph_id: str
    sentences: tuple[Sentence, ...]
    lines: tuple[int, ...]

    @property
    def text(self) -> str:
        """The sentences joined, exactly."""
        return "".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class Layout:
    """A whole essay as written on the page."""

    title: str
    title_chars: tuple[Rect, ...]
    paragraphs: tuple[Paragraph, ...]
    lines: tuple[Line, ...]
    columns: int

    def sentence_boxes(self, sentence: Sentence) -> list[Rect]:
        """One box per column the sentence is written in."""
        return self._per_column([(self.lines[s.line], s.start, s.end) for s in sentence.segments])

    def paragraph_boxes(self, paragraph: Paragraph) -> list[Rect]:
        """One box per column the paragraph occupies."""
        spans = [(self.lines[i], 0, len(self.lines[i].text) - 1) for i in paragraph.lines]
        return self._per_column(spans)

    @staticmethod
    def _per_column(spans: list[tuple[Line, int, int]]) -> list[Rect]:
        by_column: dict[int, list[Rect]] = {}
        for line, start, end in spans:
            by_column.setdefault(line.column, []).extend(line.chars[start : end + 1])
        return [union(boxes) for _, boxes in sorted(by_column.items())]


def write_essay(digest: str, width: int, height: int) -> Layout:
    """The essay and its layout for a page, from the page digest and size only."""
    rng = random.Random(f"composition:{digest}")
    title, paragraph_texts = essay(rng)
    per_line = rng.randint(20, 28)
    columns = 2 if rng.random() < 0.2 else 1
    wrapped = [_wrap("".join(texts), per_line) for texts in paragraph_texts]
    grid = _Grid(width, height, per_line, columns, sum(len(w) for w in wrapped))
    lines: list[Line] = []
    paragraphs: list[Paragraph] = []
    for number, (texts, chunks) in enumerate(zip(paragraph_texts, wrapped, strict=True), 1):
        pid = f"p{number}"
        first = len(lines)
        for chunk in chunks:
            column, row = divmod(len(lines), grid.rows)
            chars = grid.line_chars(chunk, column, row)
            lines.append(Line(f"l{len(lines) + 1}", chunk, pid, column, chars))
        sentences = _sentences(texts, pid, first, per_line)
        paragraphs.append(Paragraph(pid, sentences, tuple(range(first, len(lines)))))
    return Layout(title, grid.title_chars(title), tuple(paragraphs), tuple(lines), columns)


def _wrap(text: str, per_line: int) -> list[str]:
    return [text[i : i + per_line] for i in range(0, len(text), per_line)]


def _sentences(
    texts: tuple[str, ...], paragraph_id: str, first_line: int, per_line: int
) -> tuple[Sentence, ...]:
    """Sentences with the line pieces they cover (lines wrap every ``per_line`` chars)."""
    sentences = []
    offset = 0
    for number, text in enumerate(texts, 1):
        start, stop = offset, offset + len(text)
        segments = []
        for row in range(start // per_line, (stop - 1) // per_line + 1):
            line_start = row * per_line
            segments.append(
                Segment(
                    first_line + row,
                    max(start, line_start) - line_start,
                    min(stop, line_start + per_line) - 1 - line_start,
                )
            )
        sentences.append(Sentence(f"s{number}-{paragraph_id}", text, tuple(segments)))
        offset = stop
    return tuple(sentences)


class _Grid:
    """Character cells of the page: a centred title, then rows in one or two columns."""

    def __init__(self, width: int, height: int, per_line: int, columns: int, lines: int) -> None:
        self.margin_x, self.margin_y = width * 0.08, height * 0.05
        gap = width * 0.04 if columns > 1 else 0.0
        self.column_width = (width - 2 * self.margin_x - gap * (columns - 1)) / columns
        self.column_step = self.column_width + gap
        self.pitch = self.column_width / per_line
        self.width = width
        self.top = self.margin_y + 2 * self.pitch
        self.rows = max(1, math.ceil(lines / columns))
        room = (height - self.top - self.margin_y) / self.rows
        self.spacing = max(1.0, min(self.pitch * 1.6, room))
        self.char_h = max(1.0, min(self.pitch, self.spacing) * 0.85)

    def line_chars(self, text: str, column: int, row: int) -> tuple[Rect, ...]:
        """Boxes of a line's characters; punctuation is written half as wide."""
        x0 = self.margin_x + column * self.column_step
        y = self.top + row * self.spacing
        return tuple(self._char(ch, x0 + i * self.pitch, y) for i, ch in enumerate(text))

    def title_chars(self, title: str) -> tuple[Rect, ...]:
        """Boxes of the title's characters, centred on the page."""
        x0 = (self.width - len(title) * self.pitch) / 2
        return tuple(
            self._char(ch, x0 + i * self.pitch, self.margin_y) for i, ch in enumerate(title)
        )

    def _char(self, char: str, x: float, y: float) -> Rect:
        share = 0.45 if char in PUNCTUATION else 0.9
        return rect(x, y, self.pitch * share, self.char_h)
