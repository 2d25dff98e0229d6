"""Inline SVG for the report: stacked bar charts and the boxes drawn over a page.

Drawn here as text so the report needs no script library and no network; every name that
comes from a scan's path is escaped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from markupsafe import Markup, escape

from pipeline.domain.grades import Grade, Tally
from pipeline.operator.report.data import Box, Row

RESULT_NAMES: Final = {grade.value: grade.word for grade in Grade}
_LABEL_W, _BAR_W, _VALUE_W, _ROW_H, _BAR_H = 210, 420, 340, 26, 16
_MAX_LABEL: Final = 30
_SHARES: Final = (Grade.CORRECT, Grade.PARTIAL, Grade.WRONG, Grade.UNANSWERED)


def percent(rate: Decimal | float | None) -> str:
    """A rate as the report writes it."""
    return "–" if rate is None else f"{float(rate) * 100:.0f} %"


def bar_chart(rows: list[Row], title: str) -> Markup:
    """One bar per row: the shares of its graded questions by grade, and both rates.

    The bar counts questions by their own grades; the text beside it gives the correct rate
    per question and the one per slot, each named.
    """
    width = _LABEL_W + _BAR_W + _VALUE_W
    height = _ROW_H * len(rows) + 8
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    ]
    for index, row in enumerate(rows):
        parts.append(_bar(row, 4 + index * _ROW_H))
    parts.append("</svg>")
    return Markup("".join(parts))


def _bar(row: Row, y: int) -> str:
    label = row.label if len(row.label) <= _MAX_LABEL else row.label[: _MAX_LABEL - 1] + "…"
    tally = row.questions
    middle = y + _ROW_H // 2
    parts = [
        f"<g><title>{escape(row.label)}: {escape(_describe(tally))}; "
        f"{escape(_describe(row.slots))}</title>",
        f'<text class="label" x="{_LABEL_W - 8}" y="{middle}">{escape(label)}</text>',
        f'<rect class="track" x="{_LABEL_W}" y="{middle - _BAR_H // 2}" '
        f'width="{_BAR_W}" height="{_BAR_H}"/>',
    ]
    x = float(_LABEL_W)
    for grade in _SHARES:
        count = getattr(tally, grade.name.lower())
        if not tally.graded or not count:
            continue
        share = _BAR_W * count / tally.graded
        parts.append(
            f'<rect class="r{grade.value}" x="{x:.1f}" y="{middle - _BAR_H // 2}" '
            f'width="{share:.1f}" height="{_BAR_H}"/>'
        )
        x += share
    value = (
        f"{percent(tally.rate)} per question ({tally.graded}) · "
        f"{percent(row.slots.rate)} per slot ({row.slots.graded})"
    )
    parts.append(f'<text class="value" x="{_LABEL_W + _BAR_W + 8}" y="{middle}">{value}</text>')
    parts.append("</g>")
    return "".join(parts)


def _describe(tally: Tally) -> str:
    partial = f", {tally.partial} partial" if tally.partial else ""
    return (
        f"{tally.counted}: {tally.correct} correct{partial}, {tally.wrong} wrong, "
        f"{tally.unanswered} unanswered, {tally.not_graded} not graded"
    )


def page_overlay(boxes: tuple[Box, ...], width: int, height: int) -> Markup:
    """The question and answer boxes, in page pixels, to lay over the page's picture."""
    font = max(12, width // 70)
    parts = [
        f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        'aria-hidden="true">'
    ]
    for box in boxes:
        result = box.result if box.result in RESULT_NAMES else 0
        overridden = " overridden" if box.overridden_by is not None else ""
        parts.append(
            f'<rect class="{box.kind} r{result}{overridden}" x="{box.left}" y="{box.top}" '
            f'width="{box.right - box.left}" height="{box.bottom - box.top}">'
            f"<title>{escape(box.label)}: {escape(_grade_text(box))}</title></rect>"
        )
        if box.kind == "question":
            parts.append(
                f'<text class="tag r{result}" x="{box.left + 4}" y="{box.top + font}" '
                f'font-size="{font}">{escape(box.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _grade_text(box: Box) -> str:
    """``partial (set by ms-wang; the provider said wrong)``, or the grade alone."""
    name = RESULT_NAMES.get(box.result, "not graded")
    if box.overridden_by is None:
        return name
    provider = RESULT_NAMES.get(box.provider, "not graded")
    return f"{name} (set by {box.overridden_by}; the provider said {provider})"
