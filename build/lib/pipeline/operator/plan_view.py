"""How ``enqueue --dry-run`` prints its plan: totals per API, then every file that needs a look."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.domain.label_gaps import Gap, ScannedPage
from pipeline.stages.plan import Plan, PlannedDocument
from pipeline.telemetry.logs import one_line


def print_plan(console: Console, plan: Plan) -> None:
    """The plan as an operator reads it before paying for anything."""
    sendable = [doc for doc in plan.documents if doc.sent]
    known = sum(1 for doc in plan.documents if doc.already_known is not None)
    console.print(
        f"dry run into batch {one_line(plan.batch)}: {len(plan.documents)} documents, "
        f"{sum(doc.pages for doc in plan.documents)} pages found; "
        f"{sum(len(doc.to_send) for doc in sendable)} pages would be sent, "
        f"{sum(len(doc.blank) for doc in sendable)} blank pages skipped, "
        f"{known} documents already in the batch, "
        f"{len(plan.rejected)} files rejected, {len(plan.missing)} folders with no scans; "
        "nothing was recorded or sent",
        highlight=False,
    )
    table = Table("API", "documents", "pages sent", "provider calls", "quota", "time")
    for api in sorted(plan.apis):
        per = plan.apis[api]
        table.add_row(
            api,
            str(sum(1 for doc in sendable if doc.api == api and doc.to_send)),
            str(per.pages),
            ", ".join(f"{count} {op}" for op, count in per.calls.items()),
            f"{per.quota} ({plan.keys} key{'s' if plan.keys > 1 else ''})",
            _duration(per.seconds),
        )
    table.add_row("all", "", "", f"{plan.calls}", "", _duration(plan.seconds), style="bold")
    console.print(table)
    for note in plan.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for reject in plan.rejected:
        _line(console, "rejected", reject.rel_path, reject.reason, reject.code)
    for folder in plan.missing:
        _line(console, "missing", folder.rel_path, folder.reason, folder.code)
    for doc in plan.documents:
        _document_lines(console, doc)
    for gap in plan.label_gaps:
        _gap_line(console, plan, gap)
    for row in plan.unused_rows:
        _line(console, "unused", f"manifest line {row.line}", f"{row.path} is not here", "no_file")


def _document_lines(console: Console, doc: PlannedDocument) -> None:
    if doc.error is not None:
        _line(console, "failed", doc.rel_path, str(doc.error), doc.error.code)
        return
    if doc.already_known is not None:
        return  # counted in the first line: a rerun would list every file otherwise
    if doc.already_sent is not None:
        _line(console, "skipped", doc.rel_path, doc.already_sent, "duplicate")
        return
    if doc.replaces is not None:
        reason = f"new content: a new version replaces document {doc.replaces}"
        _line(console, "rescan", doc.rel_path, reason, "rescan")
    for number, error in doc.bad:
        _line(console, "failed", f"{doc.rel_path} page {number}", str(error), error.code)
    if doc.blank:
        pages = ", ".join(str(number) for number in doc.blank)
        _line(console, "blank", doc.rel_path, f"page(s) {pages} skipped (no ink)", "blank")
    _label_lines(console, doc)
    unlabelled = doc.pages - len(doc.labels)
    if doc.owner.reason is not None and unlabelled:
        reason = doc.owner.reason
        if doc.labels:
            reason = f"{unlabelled} page(s) without a label: {reason}"
        _line(console, "unowned", doc.rel_path, reason, "no_student")
    elif doc.no_student:
        pages = ", ".join(str(number) for number in doc.no_student)
        reason = f"page(s) {pages} are past the roster's last student"
        _line(console, "unowned", doc.rel_path, reason, "no_student")


def _label_lines(console: Console, doc: PlannedDocument) -> None:
    """Which pages their labels own (ahead of manifest, folders and roster), which turned."""
    if not doc.labels:
        return
    turned = sum(1 for read in doc.labels.values() if read.turn)
    fallback = f", ahead of the {doc.owner.source}" if doc.owner.source else ""
    reason = (
        f"{len(doc.labels)} of {doc.pages} page(s) labelled: student, assignment and page "
        f"order from their codes{fallback}; {turned} turned upright"
    )
    _line(console, "labels", doc.rel_path, reason, "label")
    for number, read in sorted(doc.labels.items()):
        other = doc.owner.student_of_page(number)
        label = read.label
        if other is not None and (other.class_name, other.code) != label.key[:2]:
            reason = f"{label} from its label, not {other.class_name}/{other.code}"
            _line(console, "label", f"{doc.rel_path} page {number}", reason, "label_owner")


def _gap_line(console: Console, plan: Plan, gap: Gap) -> None:
    """A missing, extra or duplicate page of a labelled assignment."""
    if gap.kind == "extra":
        assert gap.page is not None
        reason = "no label among labelled pages (an extra sheet, or a label torn off)"
        _line(console, "extra", _place(plan, gap.page), reason, "label_extra")
        return
    assert gap.key is not None
    what = f"{gap.key[0]}/{gap.key[1]} {gap.key[2]} page {gap.label_page}"
    if gap.kind == "missing":
        _line(console, "missing", what, "no scan carries this page's label", "label_missing")
        return
    assert gap.page is not None and gap.replaced_by is not None
    reason = (
        f"{_place(plan, gap.page)} is replaced by the later scan {_place(plan, gap.replaced_by)}"
    )
    _line(console, "replaced", what, reason, "label_duplicate")


def _place(plan: Plan, page: ScannedPage) -> str:
    return f"{plan.documents[page.document].rel_path} page {page.page_no}"


def _line(console: Console, label: str, what: str, reason: str, code: str) -> None:
    """One line per finding, never wrapped, control characters escaped (names are untrusted)."""
    shown = one_line(f"{what}: {reason}")
    console.print(
        Text.assemble((f"  {label:<8} ", "yellow"), shown, (f" [{code}]", "dim")), soft_wrap=True
    )


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
