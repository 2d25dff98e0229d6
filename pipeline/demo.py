"""``scangrade demo``: a bundled sample batch, end to end, on local stand-ins.

Starts moto's S3 server, the provider simulator (documented quotas; grading times shortened
to a quarter so the demo takes about a minute) and this host's workers, enqueues a generated
night of scans, shows progress, prints what landed where, then stops what it started.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import ColumnElement, func, select

from pipeline import storage
from pipeline.db.models import (
    Artifact,
    Base,
    Batch,
    Document,
    Essay,
    EssayLine,
    OcrWord,
    Page,
    PaperAnswer,
    PaperQuestion,
    Question,
    Slot,
)
from pipeline.db.session import session_scope
from pipeline.manifest import routing
from pipeline.provider.apis import Choices
from pipeline.samples import write_mixed_batch, write_sample_batch
from pipeline.services import forget_connections, migrate
from pipeline.settings import Settings, get_settings
from pipeline.stages.enqueue import EnqueueReport, enqueue_directory
from pipeline.standins import Service, start_s3, start_simulator, start_workers

DEMO_KEY, DEMO_SECRET = "demo-api-key", "demo-secret-key"
TIME_SCALE = 0.25


def run_demo(console: Console, *, keep: bool = False) -> int:
    """Run the demo; the exit code is that of ``enqueue --wait``."""
    from pipeline.cli import wait_for_batch

    work = Path("var/demo").resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    services: list[Service] = []
    try:
        console.print("starting the S3 stand-in (moto) and the provider simulator…")
        s3 = _started(services, start_s3(work / "logs/s3.log"))
        sim = _started(
            services,
            start_simulator(
                ["--key", f"{DEMO_KEY}:{DEMO_SECRET}", "--time-scale", str(TIME_SCALE)],
                work / "logs/simulator.log",
            ),
        )
        _point_settings_at(s3.url, sim.url)
        settings = get_settings()
        migrate(settings)
        storage.get_store().ensure_bucket()
        scans = work / "scans" / datetime.now().strftime("%Y-%m-%d")
        pages, documents = write_demo_scans(scans)
        console.print(
            f"sample batch: {pages} pages in {documents} documents under "
            f"{scans}, routed to all five APIs by {scans / 'scangrade.toml'}"
        )
        _started(services, start_workers({}, work / "logs/workers.log"))
        name = f"demo-{datetime.now():%Y%m%d-%H%M%S}"
        report = enqueue_demo_scans(scans, name)
        console.print(f"enqueued batch [bold]{name}[/] at the documented quotas…")
        code = wait_for_batch(report.batch_id)
        if code and _only_deliberate_failures(report.batch_id):
            console.print(
                "[green]the failure above is deliberate:[/] a stray text file; the blank "
                "page among the essays was skipped before any call was paid for"
            )
            code = 0
        _summary(console, report.batch_id, s3.url, sim.url, work)
        if keep:
            console.print(
                "[yellow]--keep: services left running; stop them with "
                "`pkill -f 'pipeline.cli workers|moto.server|pipeline.simulator'`[/]"
            )
            services.clear()
        return code
    finally:
        for service in reversed(services):
            service.stop()


def write_demo_scans(scans: Path) -> tuple[int, int]:
    """Write the demo's night of scans for all five APIs; its pages and documents."""
    expected = write_sample_batch(scans)
    mixed = write_mixed_batch(scans)
    (scans / "notes.txt").write_text("a stray file the scanner share picked up\n")
    pages = sum(expected.values()) + sum(count for _, count in mixed.values())
    return pages, len(expected) + len(mixed)


def enqueue_demo_scans(scans: Path, name: str) -> EnqueueReport:
    """Enqueue the demo's scans as a new batch, routed by their ``scangrade.toml``."""
    routes = routing(scans, api=None, choices=Choices(), manifest=None, default_endpoint=None)
    # The demo wrote these files itself a moment ago (no scanner is still writing them),
    # and sends them again on every run: the simulator bills nobody.
    return enqueue_directory(
        scans, storage.get_store(), batch_name=name, routes=routes, settle_s=0, force=True
    )


def _only_deliberate_failures(batch_id: int) -> bool:
    with session_scope() as session:
        pages = session.scalars(
            select(Page.error_code).where(Page.batch_id == batch_id, Page.state == "failed")
        ).all()
        docs = session.scalars(
            select(Document.rel_path).where(
                Document.batch_id == batch_id, Document.state == "failed"
            )
        ).all()
    return not pages and list(docs) == ["notes.txt"]


def _started(services: list[Service], service: Service) -> Service:
    services.append(service)
    return service


def _point_settings_at(s3_url: str, simulator_url: str) -> None:
    os.environ.update(
        {
            "SCANGRADE_S3_ENDPOINT_URL": s3_url,
            "SCANGRADE_S3_BUCKET": "scangrade-demo",
            "SCANGRADE_S3_ACCESS_KEY_ID": "demo",
            "SCANGRADE_S3_SECRET_ACCESS_KEY": "demo",
            "SCANGRADE_BAIDU_BASE_URL": simulator_url,
            "SCANGRADE_BAIDU_API_KEY": DEMO_KEY,
            "SCANGRADE_BAIDU_SECRET_KEY": DEMO_SECRET,
        }
    )
    # Poll times shortened as the grading times are, so a first poll of unknown times (two
    # backoff steps past the seeds' 10 s) comes at a quarter of its 26 s too.
    for name in ("poll_first_min_s", "poll_first_max_s", "poll_max_interval_s"):
        seeds = float(Settings.model_fields[name].default)
        os.environ.setdefault(f"SCANGRADE_{name.upper()}", f"{seeds * TIME_SCALE:g}")
    forget_connections()


def _summary(console: Console, batch_id: int, s3_url: str, sim_url: str, work: Path) -> None:
    settings = get_settings()
    with session_scope() as session:

        def count(model: type[Base], *where: ColumnElement[bool]) -> int:
            query = select(func.count()).select_from(model)
            if model is EssayLine:
                query = query.join(Essay).join(Page, Page.id == Essay.page_id)
            elif model not in (Document, Page, Artifact):
                query = query.join(Page)
            return int(session.scalar(query.where(*where)) or 0)

        batch = session.get_one(Batch, batch_id)
        in_batch = Page.batch_id == batch_id
        rows = [
            ("documents", count(Document, Document.batch_id == batch_id)),
            ("pages done", count(Page, in_batch, Page.state == "done")),
            ("pages failed", count(Page, in_batch, Page.state == "failed")),
            (
                "files rejected",
                count(Document, Document.batch_id == batch_id, Document.state == "failed"),
            ),
            ("graded questions (correct_edu)", count(Question, in_batch)),
            ("answer slots (correct_edu)", count(Slot, in_batch)),
            ("cut-out questions (paper_cut)", count(PaperQuestion, in_batch)),
            ("handwritten answers (paper_cut)", count(PaperAnswer, in_batch)),
            ("essays (composition)", count(Essay, in_batch)),
            ("essay lines (composition)", count(EssayLine, in_batch)),
            ("words and formulas (formula, custom_ocr)", count(OcrWord, in_batch)),
            (
                "objects archived in S3",
                count(Artifact, Artifact.batch_id == batch_id, Artifact.state == "archived"),
            ),
        ]
    table = Table(title=f"batch {batch.name}: {batch.state}")
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    db = settings.database_url.replace("+psycopg", "")
    console.print(f"""[bold]Where it landed[/]
  Postgres  {db}
            tables batches, documents, pages, provider_tasks, artifacts; results in questions,
            slots, paper_questions, paper_answers, essays, essay_*, ocr_words (docs/schema.md)
  S3        {s3_url}  bucket {settings.s3_bucket}, prefix batches/{batch_id}/  (moto: in memory)
  logs      {work}/logs/
[bold]Query it[/]
  psql {db} -c "SELECT d.rel_path, p.page_no, q.sequence, r.meaning
      FROM questions q JOIN pages p ON p.id = q.page_id JOIN documents d ON d.id = p.document_id
      JOIN correct_results r ON r.code = q.correct_result WHERE p.batch_id = {batch_id}
      ORDER BY 1, 2, 3"
  scangrade status {batch.name}""")
