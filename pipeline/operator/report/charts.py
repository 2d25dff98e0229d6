"""Inline SVG for the report: stacked bar charts and the boxes drawn over a page.

Drawn here as text so the report needs no script library and no network; every name that
comes from a scan's path is escaped.
"""

from __future__ import annotations

from typing import Final

from markupsafe import Markup, escape

from pipeline.operator.report.data import Box, Row, Tally

RESULT_NAMES: Final = {0: "not graded", 1: "correct", 2: "wrong", 3: "unanswered"}
_LABEL_W, _BAR_W, _VALUE_W, _ROW_H, _BAR_H = 210, 420, 130, 26, 16
_MAX_LABEL: Final = 30


def percent(rate: float | None) -> str:
    """A rate as the report writes it."""
    return "–" if rate is None else f"{rate * 100:.0f} %"


def bar_chart(rows: list[Row], title: str) -> Markup:
    """One bar per row, split into correct, wrong and unanswered shares of graded questions."""
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
    tally = row.tally
    middle = y + _ROW_H // 2
    parts = [
        f"<g><title>{escape(row.label)}: {escape(_describe(tally))}</title>",
        f'<text class="label" x="{_LABEL_W - 8}" y="{middle}">{escape(label)}</text>',
        f'<rect class="track" x="{_LABEL_W}" y="{middle - _BAR_H // 2}" '
        f'width="{_BAR_W}" height="{_BAR_H}"/>',
    ]
    x = float(_LABEL_W)
    for result, count in ((1, tally.correct), (2, tally.wrong), (3, tally.unanswered)):
        if not tally.graded or not count:
            continue
        share = _BAR_W * count / tally.graded
        parts.append(
            f'<rect class="r{result}" x="{x:.1f}" y="{middle - _BAR_H // 2}" '
            f'width="{share:.1f}" height="{_BAR_H}"/>'
        )
        x += share
    value = f"{percent(tally.rate)} ({tally.correct}/{tally.graded})"
    parts.append(f'<text class="value" x="{_LABEL_W + _BAR_W + 8}" y="{middle}">{value}</text>')
    parts.append("</g>")
    return "".join(parts)


def _describe(tally: Tally) -> str:
    return (
        f"{tally.correct} correct, {tally.wrong} wrong, {tally.unanswered} unanswered, "
        f"{tally.not_graded} not graded"
    )


def page_overlay(boxes: tuple[Box, ...], width: int, height: int) -> Markup:
    """The question and answer boxes, in page pixels, to lay over the page's picture."""
    font = max(12, width // 70)
    parts = [
        f'<svg class="overlay" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        'aria-hidden="true">'
    ]
    for box in boxes:
        name = RESULT_NAMES.get(box.result, "not graded")
        result = box.result if box.result in RESULT_NAMES else 0
        parts.append(
            f'<rect class="{box.kind} r{result}" x="{box.left}" y="{box.top}" '
            f'width="{box.right - box.left}" height="{box.bottom - box.top}">'
            f"<title>{escape(box.label)}: {name}</title></rect>"
        )
        if box.kind == "question":
            parts.append(
                f'<text class="tag r{result}" x="{box.left + 4}" y="{box.top + font}" '
                f'font-size="{font}">{escape(box.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
