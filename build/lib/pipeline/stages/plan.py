"""What ``enqueue --dry-run`` shows: what would be sent, what not and why, calls and time.

Runs the enqueue's own discovery, routing, student matching and page splitting (with the
blank-page check) on the operator's host, and records, uploads and sends nothing. The
provider calls and the time they take are estimated at the configured quotas of the key pool.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from pipeline.adapters.db.models import Batch
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.documents.blank import ink, is_blank
from pipeline.adapters.documents.discovery import (
    DiscoveredDocument,
    Rejected,
    discover,
    sha256_files,
)
from pipeline.adapters.documents.document import document_pages
from pipeline.adapters.provider.apis import spec
from pipeline.domain.label_gaps import Gap, ScannedPage, gaps
from pipeline.domain.label_pages import PageLabel, label_page
from pipeline.domain.polling import unknown_first_s
from pipeline.domain.routing import Routing
from pipeline.domain.students import ManifestRow, Owner, Students
from pipeline.errors import BadInput
from pipeline.settings import Settings
from pipeline.stages.enqueue import own_files
from pipeline.stages.record import Step, current_version, earlier_copy, next_step

log = logging.getLogger(__name__)

#: get_result calls per task the adaptive poller spends (make bench measures 1.1).
POLLS_PER_TASK = 1.1


@dataclass
class PlannedDocument:
    """One document as enqueue would record it, with its pages sorted out."""

    rel_path: str
    api: str
    sync: bool  # one call answers (sync APIs, only_split)
    owner: Owner
    pages: int = 0
    to_send: list[int] = field(default_factory=list)
    blank: list[int] = field(default_factory=list)
    bad: list[tuple[int, BadInput]] = field(default_factory=list)
    no_student: list[int] = field(default_factory=list)
    #: The pages whose label was read: their student, assignment and page come from it.
    labels: dict[int, PageLabel] = field(default_factory=dict)
    error: BadInput | None = None
    already_sent: str | None = None
    #: Recorded in the batch already with this content and uploaded: not sent again.
    already_known: str | None = None
    #: A rescan: the document (documents.id) whose current version this one replaces.
    replaces: int | None = None

    @property
    def sent(self) -> bool:
        """Whether enqueue would send its pages (those in ``to_send``)."""
        return self.error is None and self.already_sent is None and self.already_known is None


@dataclass
class ApiPlan:
    """Calls and time for one API, whose quotas are independent of the others'."""

    api: str
    sync: bool
    pages: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    quota: str = ""


@dataclass
class Plan:
    """Everything a dry run found."""

    documents: list[PlannedDocument]
    rejected: list[Rejected]
    unused_rows: list[ManifestRow]
    apis: dict[str, ApiPlan]
    keys: int
    batch: str = ""
    #: Folders holding no scans: enqueue records each as missing work (empty_folder).
    missing: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Missing, extra and duplicate pages of labelled assignments (``Gap.page.document`` is
    #: the index of its document in ``documents``).
    label_gaps: list[Gap] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Time the provider needs for every API, all running side by side."""
        return max((plan.seconds for plan in self.apis.values()), default=0.0)

    @property
    def problems(self) -> int:
        """Files and pages that would fail: rejected, unreadable or unusable; missing work."""
        return (
            len(self.rejected)
            + len(self.missing)
            + sum(1 for doc in self.documents if doc.error is not None)
            + sum(len(doc.bad) for doc in self.documents)
        )

    @property
    def calls(self) -> int:
        """Provider calls of every kind (get_result estimated)."""
        return sum(sum(plan.calls.values()) for plan in self.apis.values())


def plan_directory(
    root: Path,
    settings: Settings,
    *,
    routes: Routing,
    students: Students,
    skip_blank: bool = True,
    force: bool = False,
    batch_name: str | None = None,
) -> Plan:
    """What enqueueing ``root`` into ``batch_name`` would do; nothing is recorded or sent."""
    root = root.resolve()
    found = discover(root, settle_s=settings.settle_s)
    mine = own_files(routes, students)
    rejected = [r for r in found.rejected if not _is_own(root, r.rel_path, mine)]
    blank_below = settings.blank_ink_ratio if skip_blank else 0.0
    documents = [
        _document(
            doc,
            routes,
            students,
            blank_below,
            every_frame=settings.every_frame,
            read_labels=settings.read_labels,
        )
        for doc in found.documents
    ]
    plan = Plan(
        documents,
        rejected,
        students.unused_rows((doc.rel_path, doc.kind) for doc in found.documents),
        {},
        keys=max(1, len(settings.api_keys())),
        batch=batch_name or root.name,
        missing=list(found.empty_folders),
        label_gaps=gaps(_scanned(documents)),
    )
    _mark_recorded(plan, found.documents, routes, force=force)
    if not settings.api_keys():
        plan.notes.append("no API key configured: times are for one key at the default quotas")
    plan.apis = _apis(plan.documents, settings, plan.keys)
    return plan


def _scanned(documents: list[PlannedDocument]) -> Iterable[ScannedPage]:
    """Every page found, in scan order, with its label: what the gaps are reckoned on."""
    for index, doc in enumerate(documents):
        for number in range(1, doc.pages + 1):
            read = doc.labels.get(number)
            label = read.label if read is not None else None
            yield ScannedPage(index, number, label, counts=number in doc.to_send)


def _is_own(root: Path, rel_path: str, own: set[Path]) -> bool:
    return (root / rel_path).resolve() in {path.resolve() for path in own}


def _document(
    doc: DiscoveredDocument,
    routes: Routing,
    students: Students,
    blank_below: float,
    *,
    every_frame: bool,
    read_labels: bool,
) -> PlannedDocument:
    route = routes.route(doc.rel_path)
    api = spec(route.api)
    if not api.checks_blank:  # formula and custom_ocr take small crops: never blank
        blank_below = 0.0
    owner = students.owner(doc.rel_path, doc.kind)
    planned = PlannedDocument(doc.rel_path, route.api, api.is_sync(route.options), owner)
    try:
        originals = [path.read_bytes() for path in doc.files]
        for number, page in document_pages(
            doc.kind, originals, api.limits, sends_pdf=api.sends_pdf, every_frame=every_frame
        ):
            planned.pages += 1
            if isinstance(page, BadInput):
                planned.bad.append((number, page))
                continue
            if read_labels:
                labelled = label_page(page, api.limits)
                page = labelled.page
                if labelled.label is not None:
                    planned.labels[number] = labelled.label
            if blank_below > 0 and is_blank(ink(page.data, page.content_type), blank_below):
                planned.blank.append(number)
            else:
                planned.to_send.append(number)
    except OSError as e:
        planned.error = BadInput(f"cannot read it: {e.strerror}", code="unreadable")
    except BadInput as e:
        planned.error = e
    if owner.source is not None:  # a labelled page is its label's student's
        planned.no_student = [
            number
            for number in range(1, planned.pages + 1)
            if owner.student_of_page(number) is None and number not in planned.labels
        ]
    return planned


def _mark_recorded(
    plan: Plan, found: Iterable[DiscoveredDocument], routes: Routing, *, force: bool
) -> None:
    """What enqueue would find recorded: documents known in the batch, content already sent.

    The same steps as enqueue's (``pipeline.stages.record``), read without recording.
    """
    by_path = {doc.rel_path: doc for doc in found}
    try:
        with session_scope() as session:
            batch_id = session.scalar(select(Batch.id).where(Batch.name == plan.batch))
            for planned in plan.documents:
                if planned.error is None:
                    digest = sha256_files(by_path[planned.rel_path].files)
                    _mark(session, planned, batch_id, digest, routes, force=force)
    except OperationalError:
        plan.notes.append(
            "Postgres is unreachable: files already sent in earlier batches are counted as new"
        )


def _mark(
    session: Session,
    planned: PlannedDocument,
    batch_id: int | None,
    digest: str,
    routes: Routing,
    *,
    force: bool,
) -> None:
    current = None if batch_id is None else current_version(session, batch_id, planned.rel_path)
    step = next_step(current, digest)
    if step is Step.KNOWN:
        assert current is not None
        planned.already_known = f"already in batch as document {current.id} ({current.state})"
        return
    if step is Step.RESCAN:
        assert current is not None
        planned.replaces = current.id
    if not force:
        route = routes.route(planned.rel_path)
        itself = current.id if step is Step.RESUME and current is not None else None
        earlier = earlier_copy(session, digest, route.api, route.options, document_id=itself)
        planned.already_sent = earlier.reason if earlier is not None else None


def _apis(documents: list[PlannedDocument], settings: Settings, keys: int) -> dict[str, ApiPlan]:
    """Calls and time per API; one-call pages (only_split) share the create quota."""
    plans: dict[str, ApiPlan] = {}
    for doc in documents:
        if doc.sent and doc.to_send:
            plan = plans.setdefault(doc.api, ApiPlan(doc.api, doc.sync))
            plan.pages += len(doc.to_send)
            plan.sync = plan.sync and doc.sync
    for plan in plans.values():
        api = spec(plan.api)
        if api.asynchronous:
            create = settings.qps(api.name, "create_task") * keys
            get = settings.qps(api.name, "get_result") * keys
            polls = 0 if plan.sync else math.ceil(plan.pages * POLLS_PER_TASK)
            plan.calls = {"create_task": plan.pages, "get_result": polls}
            # Creates and polls run side by side; the last results are seen one first poll
            # later, at the age a task of times not yet known is first asked.
            tail = 0.0 if plan.sync else unknown_first_s(settings)
            plan.seconds = max(plan.pages / create, polls / get) + tail
            plan.quota = f"{create:g} create/s, {get:g} get/s"
        else:
            rate = settings.qps(api.name, "call") * keys
            plan.calls = {"call": plan.pages}
            plan.seconds = plan.pages / rate
            plan.quota = f"{rate:g} calls/s"
    return plans
