"""Deterministic "grading" of a page: the answer key the simulator pretends to have found.

Everything comes from a ``random.Random`` seeded with the SHA-256 of the uploaded bytes, so the
same scan always yields the same questions, ids, boxes and verdicts, whichever task, key or
simulator run it goes through. That makes end-to-end checks possible: a test or a benchmark
can call :func:`grade` on the bytes it uploaded and know exactly which rows the pipeline must
end up with.

Ids follow the provider's quirky scheme seen in its example: ``imageId`` is 32 hex digits,
``questionId`` is the image id plus a two-digit question number (01, 02...) and ``slotId`` is
the image id plus a two-digit slot counter starting at 00 that runs across the page. A slot id
may therefore equal a question id as a string (the provider's own example shows it), and two
different tasks on the same bytes share every id.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import dataclass

from PIL import Image

SUBJECTS: tuple[str, ...] = (
    "chinese",
    "math",
    "english",
    "physics",
    "chemistry",
    "biology",
    "history",
    "geography",
    "politics",
)
TYPE_NAMES: dict[int, str] = {
    0: "DEFAULT",
    1: "ORAL_CALC",
    2: "CHOICE",
    3: "TRUE_FALSE",
    4: "FILL_BLANK",
    5: "WORD_PROBLEM",
    6: "MATCHING",
    7: "DRAWING",
    8: "STEM",
    9: "OTHER",
    10: "MATERIAL",
    11: "CIRCLE",
    17: "CALCULATION",
    18: "PROOF",
    19: "SOLUTION",
    401: "DESCRIPTION",
    402: "ORDERING",
    801: "CHART",
    902: "FILL_WITH_STEPS",
}
QUESTION_TYPES: tuple[int, ...] = tuple(TYPE_NAMES)
# Common types dominate real pages; the rare ones still show up so parsers meet them.
_TYPE_WEIGHTS: tuple[int, ...] = (2, 6, 10, 4, 14, 5, 2, 1, 1, 1, 1, 1, 6, 2, 6, 1, 1, 1, 3)
_ANSWERS: tuple[str, ...] = (
    "studied",
    "to publish",
    "for",
    "a",
    "equally",
    "that",
    "helpful",
    "42",
    "x=3",
    "B",
    "C",
    "true",
    "3/4",
    "photosynthesis",
    "1949",
    "12.5 cm",
)
_PROMPTS: tuple[str, ...] = (
    "Fill in the blanks with the correct form of the given words.",
    "Choose the correct answer.",
    "Calculate and show your working.",
    "Solve the equation for x.",
    "Judge whether each statement is true or false.",
)


@dataclass(frozen=True)
class Box:
    """A rectangle in page pixel coordinates (right/bottom edges exclusive)."""

    left_x: int
    left_y: int
    right_x: int
    right_y: int

    def to_json(self) -> dict[str, int]:
        """The provider's key order (right_y first), kept to look like the real thing."""
        return {
            "right_y": self.right_y,
            "left_x": self.left_x,
            "right_x": self.right_x,
            "left_y": self.left_y,
        }


@dataclass(frozen=True)
class Slot:
    """One answer area and its verdict: 1 correct, 2 wrong, 3 unanswered."""

    slot_id: str
    seqence: int
    area: Box
    correct_result: int
    reason: str


@dataclass(frozen=True)
class Question:
    """One question: its boxes (``questionArea`` is a list) and its answer slots."""

    question_id: str
    seqence: int
    question: str
    areas: tuple[Box, ...]
    type: int
    slots: tuple[Slot, ...]

    @property
    def correct_result(self) -> int:
        """1 if every slot is correct, 3 if every slot is unanswered, else 2."""
        results = {slot.correct_result for slot in self.slots}
        if results == {1}:
            return 1
        if results == {3}:
            return 3
        return 2

    @property
    def bounds(self) -> Box:
        """The smallest box holding every area: what the crop image shows."""
        return Box(
            min(b.left_x for b in self.areas),
            min(b.left_y for b in self.areas),
            max(b.right_x for b in self.areas),
            max(b.right_y for b in self.areas),
        )


@dataclass(frozen=True)
class GradedPage:
    """The full verdict for one uploaded image."""

    image_sha256: str
    image_id: str
    width: int
    height: int
    subject: str
    questions: tuple[Question, ...]


def grade(image_bytes: bytes) -> GradedPage:
    """Grade an image the way the simulator does; raises if Pillow cannot read its header."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        width, height = image.size
    return grade_layout(hashlib.sha256(image_bytes).hexdigest(), width, height)


def grade_layout(sha256_hex: str, width: int, height: int) -> GradedPage:
    """Grade from the digest and size only, for callers that already decoded the image."""
    rng = random.Random(int(sha256_hex, 16))
    image_id = sha256_hex[:32]
    subject = rng.choice(SUBJECTS)
    count = rng.randint(2, 6)
    margin_x, margin_y = round(width * 0.05), round(height * 0.04)
    band = (height - 2 * margin_y) / count
    questions: list[Question] = []
    slot_counter = 0
    for seq in range(count):
        top = margin_y + seq * band + band * 0.04
        bottom = margin_y + (seq + 1) * band - band * 0.04
        left = margin_x + rng.randint(0, margin_x // 2)
        right = width - margin_x - rng.randint(0, margin_x // 2)
        areas = _question_areas(rng, left, round(top), right, round(bottom))
        qtype = rng.choices(QUESTION_TYPES, weights=_TYPE_WEIGHTS)[0]
        slot_boxes = _slot_boxes(rng, areas[0], rng.randint(1, 6))
        slots = []
        for number, box in enumerate(slot_boxes, start=1):
            verdict = _verdict(rng)
            reason = _reason(rng, qtype, verdict)
            slots.append(Slot(f"{image_id}{slot_counter:02d}", number, box, verdict, reason))
            slot_counter += 1
        text = f"{seq + 1}. {rng.choice(_PROMPTS)}" if rng.random() < 0.2 else ""
        qid = f"{image_id}{seq + 1:02d}"
        questions.append(Question(qid, seq, text, areas, qtype, tuple(slots)))
    return GradedPage(sha256_hex, image_id, width, height, subject, tuple(questions))


def _question_areas(
    rng: random.Random, left: int, top: int, right: int, bottom: int
) -> tuple[Box, ...]:
    """Usually one box; sometimes two stacked ones, since ``questionArea`` is a list."""
    if rng.random() >= 0.15 or bottom - top < 8:
        return (Box(left, top, right, bottom),)
    split = top + (bottom - top) * 3 // 5
    narrow = left + max(2, round((right - left) * rng.uniform(0.5, 0.9)))
    return (Box(left, top, right, split), Box(left, split, narrow, bottom))


def _slot_boxes(rng: random.Random, area: Box, count: int) -> list[Box]:
    """Lay ``count`` answer areas on a grid inside ``area``, each jittered within its cell."""
    cols = min(count, 3)
    rows = math.ceil(count / cols)
    cell_w = (area.right_x - area.left_x) / cols
    cell_h = (area.right_y - area.left_y) / rows
    boxes = []
    for index in range(count):
        cx = area.left_x + (index % cols) * cell_w
        cy = area.left_y + (index // cols) * cell_h
        x0 = math.floor(cx + cell_w * rng.uniform(0.05, 0.3))
        x1 = math.floor(cx + cell_w * rng.uniform(0.6, 0.95))
        y0 = math.floor(cy + cell_h * rng.uniform(0.05, 0.25))
        y1 = math.floor(cy + cell_h * rng.uniform(0.7, 0.95))
        boxes.append(Box(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
    return boxes


def _verdict(rng: random.Random) -> int:
    """1 correct (~60%), 2 wrong (~25%), 3 unanswered (~15%)."""
    draw = rng.random()
    if draw < 0.60:
        return 1
    return 2 if draw < 0.85 else 3


def _reason(rng: random.Random, qtype: int, verdict: int) -> str:
    """A reason in the provider's tagged style: presence, type, normalised answer, prose."""
    kind = TYPE_NAMES[qtype]
    answer = rng.choice(_ANSWERS)
    if verdict == 3:
        return f"[PRESENCE: NO][TYPE: {kind}][NORM: ] No handwriting in the answer area, unanswered"
    tag = f"[PRESENCE: YES][TYPE: {kind}][NORM: {answer}]"
    if verdict == 1:
        return f"{tag} Visible handwritten answer with valid strokes, matches the key, correct"
    return f"{tag} Visible handwritten answer with valid strokes, does not match the key, wrong"
