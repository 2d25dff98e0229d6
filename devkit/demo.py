"""``scangrade demo``: a bundled sample batch, end to end, on local stand-ins.

Starts moto's S3 server, the provider simulator (documented quotas; grading times shortened
to a quarter so the demo takes about a minute) and this host's workers, enqueues a generated
night of scans, shows progress, writes the teachers' report, prints what landed where and the
commands that look at it again, then stops what it started.

What it leaves, under its directory (``var/demo/`` of the checkout by default): the S3
objects (moto's request log, replayed by the next start: see :mod:`devkit.s3_standin`),
``scangrade.env`` with the settings that reach the demo's database and S3 (read by
``scangrade --env-file``), the reports and the logs. The rows are in the configured Postgres.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dotenv import dotenv_values
from rich.console import Console
from rich.table import Table
from sqlalchemy import ColumnElement, func, select

from devkit.s3_standin import holder
from devkit.samples import write_mixed_batch, write_sample_batch
from devkit.standins import Service, start_s3, start_simulator, start_workers
from pipeline.adapters import objectstore
from pipeline.adapters.db.accounts import add_user, authenticate, find_user
from pipeline.adapters.db.models import (
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
from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider.apis import Choices
from pipeline.adapters.schema import migrate
from pipeline.adapters.services import forget_connections
from pipeline.domain.routing import routing
from pipeline.errors import UnknownUser
from pipeline.operator.batch_output import wait_for_batch
from pipeline.operator.report import write_report
from pipeline.settings import Settings, get_settings
from pipeline.stages.enqueue import EnqueueReport, enqueue_directory

DEMO_KEY, DEMO_SECRET = "demo-api-key", "demo-secret-key"
TIME_SCALE = 0.25
DEMO_TEACHER = "demo"
"""The demo's admin account in the teachers' app; its password is kept in the demo's directory."""
DEMO_DIR = Path("var/demo")
APP_URL = "http://127.0.0.1:8080"  # scangrade serve's default address
DEMO_BUCKET = "scangrade-demo"
EXIT_BUSY = 4


@dataclass(frozen=True)
class DemoPlace:
    """Where a demo keeps what it leaves: objects, settings, reports and logs."""

    root: Path

    @property
    def objects(self) -> Path:
        """The demo's S3 objects: moto's request log, replayed at each start."""
        return self.root / "s3" / "requests.jsonl"

    @property
    def env_file(self) -> Path:
        """The settings that reach the demo's database and S3 (``scangrade --env-file``)."""
        return self.root / "scangrade.env"

    @property
    def logs(self) -> Path:
        """The logs of the services the demo starts."""
        return self.root / "logs"

    @property
    def password_file(self) -> Path:
        """The password of the demo's own account in the teachers' app (mode 600)."""
        return self.root / "teacher-password"

    def report(self, batch_name: str) -> Path:
        """Where the teachers' report of a demo batch is written."""
        return self.root / "reports" / f"report-{_safe(batch_name)}.html"


def run_demo(console: Console, *, keep: bool = False, root: Path = DEMO_DIR) -> int:
    """Run the demo; the exit code is that of ``enqueue --wait``."""
    place = DemoPlace(root.resolve())
    place.logs.mkdir(parents=True, exist_ok=True)
    if _s3_still_running(console, place):
        return EXIT_BUSY
    services: list[Service] = []
    try:
        console.print(
            "starting the S3 stand-in (moto, with the objects of earlier demos) and the "
            "provider simulator…"
        )
        s3 = _started(services, start_s3(place.logs / "s3.log", objects=place.objects))
        sim = _started(
            services,
            start_simulator(
                ["--key", f"{DEMO_KEY}:{DEMO_SECRET}", "--time-scale", str(TIME_SCALE)],
                place.logs / "simulator.log",
            ),
        )
        values = _point_settings_at(s3.url, sim.url)
        settings = get_settings()
        migrate(settings)
        objectstore.get_store().ensure_bucket()
        write_env_file(place.env_file, values)
        name = f"demo-{datetime.now():%Y%m%d-%H%M%S}"
        code, batch_id = _run_batch(console, place, services, name)
        _summary(console, batch_id, s3.url, place)
        _write_demo_report(console, place, batch_id, name)
        _print_teachers_app(console, place)
        _print_next_steps(console, place, name, s3_left=keep)
        if keep:
            _print_kept(console, values, services)
            services.clear()
        return code
    finally:
        for service in reversed(services):
            service.stop()


def _run_batch(
    console: Console, place: DemoPlace, services: list[Service], name: str
) -> tuple[int, int]:
    """Write the scans, start the workers, enqueue, wait: the exit code and the batch id."""
    scans = place.root / "scans" / datetime.now().strftime("%Y-%m-%d")
    pages, documents = write_demo_scans(scans)
    console.print(
        f"sample batch: {pages} pages in {documents} documents under "
        f"{scans}, routed to all five APIs by {scans / 'scangrade.toml'}"
    )
    _started(services, start_workers({}, place.logs / "workers.log"))
    report = enqueue_demo_scans(scans, name)
    console.print(f"enqueued batch [bold]{name}[/] at the documented quotas…")
    code = wait_for_batch(report.batch_id)
    if code and _only_deliberate_failures(report.batch_id):
        console.print(
            "[green]the failure above is deliberate:[/] a stray text file; the blank "
            "page among the essays was skipped before any call was paid for"
        )
        code = 0
    return code, report.batch_id


def serve_demo_s3(console: Console, root: Path = DEMO_DIR) -> int:
    """Start the demo's S3 again from its objects on disk, leave it running, say how to stop."""
    place = DemoPlace(root.resolve())
    if _s3_still_running(console, place):
        return EXIT_BUSY
    place.logs.mkdir(parents=True, exist_ok=True)
    s3 = start_s3(place.logs / "s3.log", objects=place.objects)
    values = dict(read_env_file(place.env_file))
    values.update(_s3_values(s3.url))
    write_env_file(place.env_file, values)
    console.print(
        f"the demo's S3 runs at {s3.url} (pid {s3.process.pid}) with the objects of every "
        f"demo so far; {_shown(place.env_file)} reaches it. Stop it with:"
    )
    _print_command(console, f"  kill {s3.process.pid}")
    return 0


def _s3_still_running(console: Console, place: DemoPlace) -> bool:
    """An S3 left by ``--keep`` or ``--s3-only`` still serves this directory's objects."""
    pid = holder(place.objects)
    if pid is None:
        return False
    console.print(
        f"[red]the demo's S3 still runs (pid {pid}), left by an earlier --keep or "
        f"--s3-only;[/] {_shown(place.env_file)} reaches it. Stop it first with:"
    )
    _print_command(console, f"  kill {pid}")
    return True


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
        scans, objectstore.get_store(), batch_name=name, routes=routes, settle_s=0, force=True
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


def _s3_values(s3_url: str) -> dict[str, str]:
    return {
        "SCANGRADE_S3_ENDPOINT_URL": s3_url,
        "SCANGRADE_S3_BUCKET": DEMO_BUCKET,
        "SCANGRADE_S3_ACCESS_KEY_ID": "demo",
        "SCANGRADE_S3_SECRET_ACCESS_KEY": "demo",
    }


def _point_settings_at(s3_url: str, simulator_url: str) -> dict[str, str]:
    """Point this process (and what it starts) at the stand-ins; the values that reach them."""
    os.environ.update(
        {
            **_s3_values(s3_url),
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
    settings = get_settings()
    return {
        "SCANGRADE_DATABASE_URL": settings.database_url,
        "SCANGRADE_REDIS_URL": settings.redis_url,
        **_s3_values(s3_url),
        "SCANGRADE_BAIDU_BASE_URL": simulator_url,
        "SCANGRADE_BAIDU_API_KEY": DEMO_KEY,
        "SCANGRADE_BAIDU_SECRET_KEY": DEMO_SECRET,
    }


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """The settings that reach the demo's services, as ``scangrade --env-file`` reads them."""
    lines = [
        "# Written by `scangrade demo`: the settings that reach the demo's database and S3.",
        "# Use: .venv/bin/scangrade --env-file THIS-FILE status (or report, replay, export).",
        *(f"{name}={_env_quoted(value)}" for name, value in values.items()),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)


def _env_quoted(value: str) -> str:
    """A value as an env file holds it: double quotes, backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_env_file(path: Path) -> dict[str, str]:
    """The values of an env file (none if it is missing)."""
    if not path.exists():
        return {}
    return {name: value for name, value in dotenv_values(path).items() if value is not None}


def _summary(console: Console, batch_id: int, s3_url: str, place: DemoPlace) -> None:
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
    _print_where(console, batch_id, s3_url, place)


def _print_where(console: Console, batch_id: int, s3_url: str, place: DemoPlace) -> None:
    settings = get_settings()
    db = settings.database_url.replace("+psycopg", "")
    console.print(
        f"""[bold]Where it landed[/]
  Postgres  {db}
            tables batches, documents, pages, provider_tasks, artifacts; results in questions,
            slots, paper_questions, paper_answers, essays, essay_*, ocr_words (docs/schema.md)
  S3        {s3_url}  bucket {settings.s3_bucket}, prefix batches/{batch_id}/
            kept on disk in {_shown(place.objects.parent)}/ (moto's request log, replayed at start)
  logs      {_shown(place.logs)}/
[bold]Query it[/]
  psql {db} -c "SELECT d.rel_path, p.page_no, q.sequence, r.meaning
      FROM questions q JOIN pages p ON p.id = q.page_id JOIN documents d ON d.id = p.document_id
      JOIN correct_results r ON r.code = q.correct_result WHERE p.batch_id = {batch_id}
      ORDER BY 1, 2, 3\"""",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )


def _write_demo_report(console: Console, place: DemoPlace, batch_id: int, name: str) -> None:
    written = write_report(batch_id, place.report(name), objectstore.get_store())
    console.print("[bold]The teachers' report[/] (one HTML file; open it in a browser):")
    _print_command(console, f"  {_shown(written.path)}")
    console.print(
        f"  {written.pages} pages, {written.pictures} pictures, {written.size / 1_000_000:.1f} MB",
        highlight=False,
    )


def _print_teachers_app(console: Console, place: DemoPlace) -> None:
    """The demo's admin account in the teachers' app (made once), and how to open the app."""
    if not place.password_file.exists():
        place.password_file.touch(mode=0o600)
        place.password_file.write_text(secrets.token_urlsafe(12) + "\n")
    password = place.password_file.read_text().strip()
    with session_scope() as session:
        try:
            signs_in = authenticate(session, DEMO_TEACHER, password) is not None
            find_user(session, DEMO_TEACHER)
        except UnknownUser:
            add_user(session, DEMO_TEACHER, password, "admin", [])
            signs_in = True
    cli = f"{_scangrade()} --env-file {_arg(place.env_file)}"
    console.print(
        "[bold]The teachers' app[/] (its pictures come from the demo's S3: once the demo has "
        "ended, start that first, as below):"
    )
    _print_command(console, f"  {cli} serve")
    if signs_in:
        _print_command(
            console, f"  open {APP_URL} and sign in as {DEMO_TEACHER}, password {password}"
        )
    else:  # the database outlived the directory that kept the password
        _print_command(
            console, f"  open {APP_URL}; an account {DEMO_TEACHER} exists from an earlier demo,"
        )
        _print_command(console, f"  add one of your own: {cli} users add NAME --role admin")


def _print_next_steps(console: Console, place: DemoPlace, name: str, *, s3_left: bool) -> None:
    """The commands that look at the batch again, each as it runs from here."""
    cli = f"{_scangrade()} --env-file {_arg(place.env_file)}"
    where = "" if place.root == DEMO_DIR.resolve() else f" --dir {_arg(place.root)}"
    batch = shlex.quote(name)
    commands = [
        f"{cli} status {batch}",
        f"{cli} report {batch} -o {_arg(place.report(name))}",
        f"{cli} replay {batch}",
        f"{cli} export {batch} -o {_arg(place.root / f'slots-{_safe(name)}.csv')}",
    ]
    kept = f"{_shown(place.objects.parent)}/ the objects"
    if s3_left:
        console.print(f"[bold]Look at it again[/] (Postgres keeps the rows, {kept}):")
    else:
        console.print(
            f"[bold]Look at it again[/] once the demo has ended (Postgres keeps the rows, "
            f"{kept}; report and replay read the objects, so start the demo's S3 again "
            "first: it prints how to stop it):"
        )
        commands.insert(0, f"{_scangrade()} demo --s3-only{where}")
    for command in commands:
        _print_command(console, f"  {command}")


def _print_kept(console: Console, values: Mapping[str, str], services: list[Service]) -> None:
    """What reaches the services left running, and how to stop them by pid."""
    running = ", ".join(f"{service.name} (pid {service.process.pid})" for service in services)
    console.print(f"[yellow]--keep: left running:[/] {running}. To reach them from a shell:")
    for name, value in values.items():
        _print_command(console, f"  export {name}={shlex.quote(value)}")
    console.print("Stop them with:")
    _print_command(console, "  kill " + " ".join(str(s.process.pid) for s in services))


def _print_command(console: Console, line: str) -> None:
    """A line to copy as it is: never wrapped, no markup read from it."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _scangrade() -> str:
    """How to run this installation's ``scangrade`` from here (``.venv/bin/scangrade``)."""
    script = Path(sys.executable).parent / "scangrade"
    return (
        shlex.quote(_shown(script))
        if script.exists()
        else f"{sys.executable} -m pipeline.operator.cli"
    )


def _arg(path: Path) -> str:
    return shlex.quote(_shown(path))


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies under it, else absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
