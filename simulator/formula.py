"""formula: synchronous recognition of text mixed with LaTeX, shaped like the seed's answer.

Entries are text, formulas or text with a formula inside ("的解,则 m - ... 的值是()"); each has
a ``location``, and with ``disp_formula=true`` every formula is listed again on its own in
``formula_result`` with the box of just that formula. Content is seeded by the page digest.

The endpoint reads form fields only (``application/x-www-form-urlencoded``, as documented), so
a JSON body carries no ``image`` and answers 216101 "param image not exist": the general code
for a missing image, which is what the provider's form-only endpoints answer to a body they
cannot read as a form.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from simulator.geometry import Rect, rect, union
from simulator.texts import FORMULAS, TEXT_PIECES
from simulator.validation import Limits, Picture, UploadError, is_true

LIMITS = Limits(min_side=15, max_side=4096, max_base64_chars=4 * 1024 * 1024)
GRANULARITIES = ("big", "small")
# Characters per row of the page; formulas are drawn narrower per LaTeX character.
_ROW_UNITS = 40
_FORMULA_SHARE = 0.45


@dataclass(frozen=True)
class Options:
    """The request switches that shape the answer."""

    small: bool
    detect_direction: bool
    disp_formula: bool


@dataclass(frozen=True)
class Piece:
    """A run of text or one formula, and where it is written."""

    text: str
    formula: bool
    box: Rect


def parse_options(body: dict[str, Any]) -> Options:
    """``recognize_granularity`` big|small (default big; else 216100) and the two flags."""
    granularity = body.get("recognize_granularity") or "big"
    if granularity not in GRANULARITIES:
        raise UploadError(216100, "invalid param: recognize_granularity must be big or small")
    return Options(
        granularity == "small",
        is_true(body.get("detect_direction")),
        is_true(body.get("disp_formula")),
    )


def recognise(picture: Picture) -> tuple[list[list[Piece]], int]:
    """The entries (each a list of pieces) and image direction found on a page."""
    rng = random.Random(f"formula:{picture.digest}")
    drafts = [_draft(rng) for _ in range(rng.randint(2, 6))]
    direction = rng.choice((0, 0, 0, 0, 0, 0, 0, 1, 2, 3))
    pitch = picture.width * 0.84 / _ROW_UNITS
    x0, y0 = picture.width * 0.08, picture.height * 0.06
    row_height = max(1.0, min(pitch * 2.2, picture.height * 0.88 / len(drafts)))
    x, y = x0, y0
    entries = []
    for draft in drafts:
        width = sum(_units(text, formula) for text, formula in draft) * pitch
        if x > x0 and x + width > picture.width - x0:
            x, y = x0, y + row_height
        pieces = []
        for text, formula in draft:
            piece_w = _units(text, formula) * pitch
            height = row_height * (0.9 if formula else 0.6)
            pieces.append(Piece(text, formula, rect(x, y, piece_w, height)))
            x += piece_w
        entries.append(pieces)
        x += pitch
    return entries, direction


def _draft(rng: random.Random) -> list[tuple[str, bool]]:
    kind = rng.choice(("text", "formula", "mixed"))
    if kind == "text":
        return [(rng.choice(TEXT_PIECES), False)]
    if kind == "formula":
        return [(rng.choice(FORMULAS), True)]
    return [
        (rng.choice(TEXT_PIECES), False),
        (rng.choice(FORMULAS), True),
        (rng.choice(TEXT_PIECES), False),
    ]


def _units(text: str, formula: bool) -> float:
    visible = len(text.replace(" ", ""))
    return max(1.0, visible * _FORMULA_SHARE) if formula else float(len(text))


def answer_body(picture: Picture, options: Options, log_id: int) -> dict[str, Any]:
    """The synchronous answer, keys in the seed's order; no ``error_code`` on success."""
    entries, direction = recognise(picture)
    body: dict[str, Any] = {"log_id": log_id}
    if options.detect_direction:
        body["direction"] = direction
    if options.disp_formula:
        formulas = [p for pieces in entries for p in pieces if p.formula]
        body["formula_result_num"] = len(formulas)
        body["formula_result"] = [_entry([p], options) for p in formulas]
    body["words_result_num"] = len(entries)
    body["words_result"] = [_entry(pieces, options) for pieces in entries]
    return body


def _entry(pieces: list[Piece], options: Options) -> dict[str, Any]:
    words = ""
    for piece in pieces:
        if piece.formula and words and not words.endswith(" "):
            words += " "
        words += piece.text
    box = union(p.box for p in pieces)
    entry: dict[str, Any] = {"location": box.location(), "words": words}
    if options.small:
        entry["chars"] = [c for p in pieces for c in _chars(p)]
    return entry


def _chars(piece: Piece) -> list[dict[str, Any]]:
    """One entry per visible character, spread evenly over the piece's box."""
    visible = [c for c in piece.text if not c.isspace()]
    step = piece.box.w / max(1, len(visible))
    return [
        {
            "char": char,
            "location": rect(piece.box.x + i * step, piece.box.y, step, piece.box.h).location(),
        }
        for i, char in enumerate(visible)
    ]
