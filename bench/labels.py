"""The label search's CPU per page, on this host alone: no provider, no service.

A small corpus of badly scanned labelled pages (``devkit.labelled``, as the corpus test of
``tests/integration/test_label_corpus.py`` makes it: turned, skewed, salt-and-pepper noise,
JPEG 40) and as many pages without a label, at each resolution of ``DPIS``. Timed with the
process's CPU clock: decoding the page to search it and the search itself (corners, then the
whole page, then both despeckled), and, for a turned page, turning it and encoding it again.
A page without a label costs the most: every step of the search runs before it gives up.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from devkit.labelled import Damage, corpus
from devkit.samples import jpeg_bytes, make_page_image
from pipeline.adapters.documents.codes import find_code, working_image
from pipeline.adapters.documents.images import normalise
from pipeline.adapters.documents.turn import turn_page
from pipeline.adapters.provider.apis import spec
from pipeline.domain.labels import Label, decode

DPIS = (200, 300)
STUDENTS, PAGES = 20, 3
PLAIN_PAGES = 20
_A4_IN = (8.27, 11.69)


@dataclass(frozen=True)
class LabelRun:
    """What the search did at one resolution."""

    dpi: int
    pages: int
    read: int
    wrong: int
    wrong_turns: int
    search_ms: float
    """CPU per labelled page: decoding it to search it, and the search."""
    turn_ms: float
    """CPU per turned page: turning it upright and encoding it again."""
    plain_ms: float
    """CPU per page without a label: the whole search, to the end."""
    where: dict[str, int] = field(default_factory=dict)


def measure(dpis: Sequence[int] = DPIS) -> list[LabelRun]:
    """One run per resolution."""
    return [_run(dpi) for dpi in dpis]


def _is_label(data: bytes) -> bool:
    return isinstance(decode(data), Label)


def _run(dpi: int) -> LabelRun:
    limits = spec("correct_edu").limits
    scans = list(corpus(STUDENTS, PAGES, damage=Damage(dpi=dpi), seed=dpi))
    read = wrong = wrong_turns = turned = 0
    search_s = turn_s = 0.0
    where: Counter[str] = Counter()
    for scanned in scans:
        started = time.process_time()
        found = find_code(working_image(scanned.jpeg, "image/jpeg"), _is_label)
        search_s += time.process_time() - started
        if found is None:
            continue
        read += 1
        where[found.where] += 1
        wrong += decode(found.data) != scanned.label
        wrong_turns += found.turn != scanned.turn
        if found.turn:
            page = normalise(scanned.jpeg, limits)
            started = time.process_time()
            turn_page(page, found.turn, limits, "bench")
            turn_s += time.process_time() - started
            turned += 1
    return LabelRun(
        dpi,
        len(scans),
        read,
        wrong,
        wrong_turns,
        1000 * search_s / len(scans),
        1000 * turn_s / max(1, turned),
        _plain_ms(dpi),
        dict(where),
    )


def _plain_ms(dpi: int) -> float:
    size = (round(_A4_IN[0] * dpi), round(_A4_IN[1] * dpi))
    total = 0.0
    for seed in range(PLAIN_PAGES):
        data = jpeg_bytes(make_page_image(5000 + seed, *size), quality=60)
        started = time.process_time()
        assert find_code(working_image(data, "image/jpeg"), _is_label) is None
        total += time.process_time() - started
    return 1000 * total / PLAIN_PAGES


def rows(runs: Sequence[LabelRun]) -> list[tuple[str, ...]]:
    """The report's lines: one measure per row, one resolution per column."""
    return [
        (
            "labelled pages (turned 0/90/180/270°, skew, noise, JPEG 40)",
            *(str(r.pages) for r in runs),
        ),
        ("codes read", *(f"{r.read} ({r.read / r.pages:.1%})" for r in runs)),
        ("wrong students / wrong turns", *(f"{r.wrong} / {r.wrong_turns}" for r in runs)),
        ("ms CPU per labelled page: decode + search", *(f"{r.search_ms:.1f}" for r in runs)),
        ("ms CPU per turned page: turn + re-encode", *(f"{r.turn_ms:.1f}" for r in runs)),
        ("ms CPU per page without a label (whole search)", *(f"{r.plain_ms:.1f}" for r in runs)),
        ("found in a corner (no despeckling)", *(f"{r.where.get('corner', 0)}" for r in runs)),
    ]


def header(runs: Sequence[LabelRun]) -> tuple[str, ...]:
    """The table's columns."""
    return ("label search", *(f"{r.dpi} dpi" for r in runs))
