"""Which API each document goes to: the batch's default, or a manifest's rule for its folder.

One night's directory may hold homework, essays and exam papers side by side. A manifest,
``scangrade.toml`` at the top of the directory (or any file given with ``--manifest``), names
the API and its options per sub-directory; the deepest matching folder wins::

    api = "correct_edu"            # default for the directory (the CLI's --api wins over it)

    [[folders]]
    path = "essays"                # relative to the directory
    api = "composition"
    granularity = "line"

    [[folders]]
    path = "exams/answer-sheets"
    api = "paper_cut"
    scene = "answer_sheet"
    enhance = true

Keys are the CLI's option names (``scene``, ``enhance``, ``only_split``, ``granularity``,
``endpoint_path``, ``language``). Every mistake is reported with the file and the folder
it concerns, before anything is recorded or sent.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any, Final

from pipeline.adapters.provider.apis import Choices, build_options
from pipeline.errors import ConfigurationError

MANIFEST_NAME: Final = "scangrade.toml"
_CHOICE_KEYS: Final = frozenset(f.name for f in fields(Choices))
_TYPES: Final[dict[str, type]] = {"enhance": bool, "only_split": bool}


@dataclass(frozen=True)
class Route:
    """The API a document goes to, and the provider options it is sent with."""

    api: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Routing:
    """The batch's default route and the manifest's folder rules, deepest first."""

    default: Route
    rules: tuple[tuple[PurePosixPath, Route], ...] = ()
    manifest: Path | None = None

    def route(self, rel_path: str) -> Route:
        """The route of a document, by its path relative to the batch directory."""
        path = PurePosixPath(rel_path)
        for folder, route in self.rules:
            if folder == path or folder in path.parents:
                return route
        return self.default


def routing(
    root: Path,
    *,
    api: str | None,
    choices: Choices,
    manifest: Path | None,
    default_endpoint: str | None,
) -> Routing:
    """The routes of a batch: CLI choices, then the manifest (given, or found in ``root``)."""
    path = manifest or (root / MANIFEST_NAME if (root / MANIFEST_NAME).is_file() else None)
    data = _read(path) if path is not None else {}
    top = {k: v for k, v in data.items() if k != "folders"}
    default_api = api or _string(top.pop("api", None), path, "the top level") or "correct_edu"
    default_choices = choices if choices.given() or api else _choices(top, path, "the top level")
    default = Route(
        default_api, build_options(default_api, default_choices, default_endpoint=default_endpoint)
    )
    rules = [_rule(entry, path, default_endpoint) for entry in _folders(data, path)]
    rules.sort(key=lambda rule: len(rule[0].parts), reverse=True)
    return Routing(default, tuple(rules), path)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigurationError(f"cannot read manifest {path}: {e.strerror}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigurationError(f"manifest {path} is not valid TOML: {e}") from e


def _folders(data: dict[str, Any], path: Path | None) -> list[dict[str, Any]]:
    folders = data.get("folders", [])
    if not isinstance(folders, list) or not all(isinstance(f, dict) for f in folders):
        raise ConfigurationError(f"manifest {path}: 'folders' must be a list of [[folders]] tables")
    return folders


def _rule(
    entry: dict[str, Any], path: Path | None, default_endpoint: str | None
) -> tuple[PurePosixPath, Route]:
    entry = dict(entry)
    raw = _string(entry.pop("path", None), path, "a [[folders]] entry")
    if raw is None:
        raise ConfigurationError(f"manifest {path}: every [[folders]] entry needs a 'path'")
    folder = PurePosixPath(raw.strip("/"))
    if folder.is_absolute() or ".." in folder.parts or str(folder) in ("", "."):
        raise ConfigurationError(
            f"manifest {path}: folder path {raw!r} must be a sub-directory of the batch"
        )
    where = f"folder {raw!r}"
    api = _string(entry.pop("api", None), path, where)
    if api is None:
        raise ConfigurationError(f"manifest {path}: {where} needs an 'api'")
    try:
        options = build_options(
            api, _choices(entry, path, where), default_endpoint=default_endpoint
        )
    except ConfigurationError as e:
        raise ConfigurationError(f"manifest {path}, {where}: {e}") from e
    return folder, Route(api, options)


def _choices(entry: dict[str, Any], path: Path | None, where: str) -> Choices:
    unknown = sorted(set(entry) - _CHOICE_KEYS)
    if unknown:
        raise ConfigurationError(
            f"manifest {path}, {where}: unknown key(s) {', '.join(unknown)}; "
            f"known: api, path, {', '.join(sorted(_CHOICE_KEYS))}"
        )
    for key, value in entry.items():
        expected = _TYPES.get(key, str)
        if not isinstance(value, expected):
            raise ConfigurationError(
                f"manifest {path}, {where}: {key} must be a {expected.__name__}, not {value!r}"
            )
    return Choices(**entry)


def _string(value: object, path: Path | None, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigurationError(f"manifest {path}, {where}: expected a string, got {value!r}")
