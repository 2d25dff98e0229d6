"""What every area of the CLI and the dev kit's commands share.

Its two consoles, the services check, naming a batch, and reading a batch's sources
(manifests, roster, --notify URL) from the options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console

from pipeline.adapters.db.session import session_scope
from pipeline.adapters.provider.apis import Choices
from pipeline.adapters.services import ensure_services
from pipeline.domain.batch_view import find_batch
from pipeline.domain.routing import Routing, routing
from pipeline.domain.students import Students, read_students
from pipeline.errors import NO_API_KEY, ConfigurationError
from pipeline.settings import Settings, get_settings

console = Console()  # results: stdout
progress_console = Console(stderr=True)  # progress bars, live views and errors: stderr


def need_services() -> None:
    """Go on only if Postgres and Redis answer; else ServiceDown says what to start (exit 3)."""
    ensure_services(get_settings())


def batch_id_of(name_or_id: str) -> int:
    """The batch a command names; a usage error (exit 2) if there is none."""
    with session_scope() as session:
        found = find_batch(session, name_or_id)
    if found is None:
        raise click.UsageError(f"no batch named {name_or_id!r}; `scangrade status` lists them")
    return found


def key_or_refuse(settings: Settings) -> None:
    """No page could be sent without an API key: record nothing (exit 4)."""
    if not settings.api_keys():
        raise ConfigurationError(
            f"{NO_API_KEY} (any pair for the simulator, which accepts the settings' keys); "
            "nothing was recorded"
        )


def notify_url_option(url: str | None) -> None:
    """A --notify or --url that is no webhook is a usage error (exit 2)."""
    if url is None:
        return
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise click.UsageError(f"--notify {url!r}: give the http:// or https:// URL of a webhook")


def batch_sources(
    directory: Path,
    api: str | None,
    manifests: tuple[Path, ...] = (),
    pages_per_student: int | None = None,
    roster: Path | None = None,
    choices: dict[str, Any] | None = None,
) -> tuple[Routing, Students]:
    """The batch's routes (TOML manifest) and students (CSV manifest, roster).

    A wrong manifest or roster is a usage error (exit 2).
    """
    try:
        return _sources(directory, api, manifests, pages_per_student, roster, choices or {})
    except ConfigurationError as e:
        raise click.UsageError(str(e)) from e


def _sources(
    directory: Path,
    api: str | None,
    manifests: tuple[Path, ...],
    pages_per_student: int | None,
    roster: Path | None,
    choices: dict[str, Any],
) -> tuple[Routing, Students]:
    by_kind: dict[str, Path] = {}
    for path in manifests:
        kind = {".toml": "toml", ".csv": "csv"}.get(path.suffix.lower())
        if kind is None:
            raise ConfigurationError(f"--manifest {path}: a manifest is a .toml or a .csv file")
        if kind in by_kind:
            raise ConfigurationError(f"--manifest: two .{kind} files given; give one of each")
        by_kind[kind] = path
    routes = routing(
        directory,
        api=api,
        choices=Choices(**choices),
        manifest=by_kind.get("toml"),
        default_endpoint=get_settings().custom_ocr_endpoint_path,
    )
    students = read_students(
        directory,
        manifest=by_kind.get("csv"),
        roster=roster,
        pages_per_student=pages_per_student,
    )
    return routes, students
