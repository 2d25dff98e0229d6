"""Labelled pages in order, and what a labelled assignment lacks or has twice.

The rules, the same in the dry run (:func:`gaps`, on what the plan read), at ingest
(:func:`mark_replaced`) and in the ``v_label_gaps`` view that ``status`` and the report read
(:func:`batch_gaps`):

- a student's pages of an assignment are in the order of their labels' page numbers, however
  they were scanned, across files too;
- a page number of 1..N (N: the labels' page count) that no scan carries is **missing**;
- a page with no valid label, in a document where other pages have one, is **extra** (a
  sheet slipped in, a label torn off): it keeps the student its folder, manifest or roster
  gives, if any. A blank or failed page is never extra;
- the same label on two scans is a **duplicate**: the later scan (the later document, then
  the later page of it) replaces the earlier, which is kept and marked
  (``pages.label_replaced_by``), left out of the views, and not sent if it was not yet.

Gaps are per batch: a page handed in a night later, in another batch, leaves its page
missing in the first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Page
from pipeline.adapters.db.states import PageState
from pipeline.adapters.db.transitions import move
from pipeline.domain.labels import Label

GapKind = Literal["missing", "extra", "duplicate"]
REPLACED_CODE = "label_replaced"


@dataclass(frozen=True)
class ScannedPage:
    """A page as scanned: its document's place in scan order, its number there, its label."""

    document: int
    page_no: int
    label: Label | None
    counts: bool = True
    """False for a blank or failed page, which is never an extra one."""

    @property
    def scanned(self) -> tuple[int, int]:
        """The scan order: a later document, then a later page of it, is a later scan."""
        return (self.document, self.page_no)


@dataclass(frozen=True)
class Gap:
    """One finding: a missing page, an extra page, or a page a later scan replaced."""

    kind: GapKind
    key: tuple[str, str, str] | None
    """The student's assignment (class, student id, assignment); None for an extra page."""
    label_page: int | None = None
    page: ScannedPage | None = None
    replaced_by: ScannedPage | None = None


def in_order(pages: Iterable[ScannedPage]) -> dict[tuple[str, str, str], list[ScannedPage]]:
    """Each student's assignment's kept pages (the latest scan of each label), by label page."""
    latest: dict[tuple[tuple[str, str, str], int], ScannedPage] = {}
    for page in sorted((p for p in pages if p.label is not None), key=lambda p: p.scanned):
        assert page.label is not None
        latest[(page.label.key, page.label.page)] = page
    ordered: dict[tuple[str, str, str], list[ScannedPage]] = defaultdict(list)
    for (key, _), page in sorted(latest.items()):
        ordered[key].append(page)
    return dict(ordered)


def gaps(pages: Iterable[ScannedPage]) -> list[Gap]:
    """Every missing, extra and duplicate page, by student's assignment, then page."""
    pages = list(pages)
    kept = in_order(pages)
    found: list[Gap] = []
    for key, own in kept.items():
        expected = max(page.label.pages for page in own if page.label is not None)
        seen = {page.label.page for page in own if page.label is not None}
        found += [Gap("missing", key, n) for n in range(1, expected + 1) if n not in seen]
    keepers = {(p.label.key, p.label.page): p for ps in kept.values() for p in ps if p.label}
    for page in pages:
        if page.label is None:
            continue
        keeper = keepers[(page.label.key, page.label.page)]
        if keeper is not page:
            found.append(Gap("duplicate", page.label.key, page.label.page, page, keeper))
    labelled = {page.document for page in pages if page.label is not None}
    found += [
        Gap("extra", None, page=page)
        for page in pages
        if page.label is None and page.counts and page.document in labelled
    ]
    return sorted(found, key=_shown_order)


def _shown_order(gap: Gap) -> tuple[object, ...]:
    where = gap.page.scanned if gap.page is not None else (0, 0)
    return (gap.key is None, gap.key or ("", "", ""), gap.label_page or 0, gap.kind, where)


_MARK = text(
    """
    WITH latest AS (
        SELECT p.id, p.state,
               first_value(p.id) OVER (
                   PARTITION BY p.student_id, p.label_assignment, p.label_page
                   ORDER BY p.document_id DESC, p.page_no DESC) AS keeper
        FROM pages p JOIN documents d ON d.id = p.document_id
        WHERE p.batch_id = :batch_id AND p.label_page IS NOT NULL AND d.superseded_at IS NULL
    )
    UPDATE pages p SET label_replaced_by = latest.keeper
    FROM latest
    WHERE p.id = latest.id AND latest.keeper <> p.id
      AND p.label_replaced_by IS DISTINCT FROM latest.keeper
    RETURNING p.id, p.state
    """
)


def mark_replaced(session: Session, batch_id: int) -> list[int]:
    """Mark every labelled page of the batch that a later scan of its label replaces.

    Those not yet sent (ready) are skipped, never sent; those on their way or done keep
    their state and results, which the views leave out. Returns the pages marked now. The
    caller holds the batch's label lock, so two documents ingested at once agree.
    """
    marked = session.execute(_MARK, {"batch_id": batch_id}).all()
    why = "a later scan of the same label replaces it: kept, not sent"
    for page_id, state in marked:
        if state == PageState.READY:
            move(
                session,
                Page,
                page_id,
                PageState.READY,
                PageState.SKIPPED,
                error=why,
                error_code=REPLACED_CODE,
            )
    return [page_id for page_id, _ in marked]


def lock_labels(session: Session, batch_id: int) -> None:
    """Serialise the batch's label bookkeeping until the transaction ends."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('scangrade:labels', :batch_id))"),
        {"batch_id": batch_id},
    )


@dataclass(frozen=True)
class GapRow:
    """A line of ``v_label_gaps``, with the replacing page's place for a duplicate."""

    kind: str
    class_name: str | None
    student: str | None
    student_code: str | None
    assignment: str | None
    label_page: int | None
    rel_path: str | None
    page_no: int | None
    replaced_rel_path: str | None
    replaced_page_no: int | None

    def subject(self) -> str:
        """Whose assignment, and which page of it: ``7A/S012 (Li Lei) hw-7 page 2``."""
        who = f"{self.class_name or '—'}/{self.student_code or '?'}"
        if self.student and self.student != self.student_code:
            who += f" ({self.student})"
        work = f" {self.assignment}" if self.assignment else ""
        page = f" page {self.label_page}" if self.label_page is not None else ""
        return f"{who}{work}{page}"

    def reason(self) -> str:
        """What is wrong, for a person."""
        if self.kind == "missing":
            return "no scan carries this page's label"
        if self.kind == "duplicate":
            return (
                f"{self.rel_path} page {self.page_no} is replaced by the later scan "
                f"{self.replaced_rel_path} page {self.replaced_page_no}"
            )
        return f"{self.rel_path} page {self.page_no} has no label among labelled pages"


_GAPS = text(
    """
    SELECT g.kind, g.class_name, g.student, g.student_code, g.assignment, g.label_page,
           g.rel_path, g.page_no, rd.rel_path AS replaced_rel_path,
           rp.page_no AS replaced_page_no
    FROM v_label_gaps g
    LEFT JOIN pages rp ON rp.id = g.replaced_by
    LEFT JOIN documents rd ON rd.id = rp.document_id
    WHERE g.batch_id = :batch_id
    ORDER BY g.kind = 'extra', g.class_name, g.student_code, g.assignment, g.label_page,
             g.kind, g.rel_path, g.page_no
    """
)


def batch_gaps(session: Session, batch_id: int) -> list[GapRow]:
    """The batch's missing, extra and duplicate pages, as ``v_label_gaps`` lists them."""
    return [GapRow(*row) for row in session.execute(_GAPS, {"batch_id": batch_id}).all()]
